"""project/run-validator: only operator scripts, argument lists, timeout, output in the log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from vwmp_sdk.testing import StepTester


@pytest.fixture
def validators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "validators"
    folder.mkdir()
    scripts = {
        "check-readme": '#!/bin/sh\necho "checking in $(basename "$PWD") with args: $*"\ntest -f CHANGELOG.md\n',
        "always-fails": "#!/bin/sh\necho 'broken thing' >&2\nexit 3\n",
        "slow": "#!/bin/sh\nsleep 30\n",
        "writer": "#!/bin/sh\ntouch written-by-validator\n",
    }
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    (folder / "not-executable").write_text("#!/bin/sh\n")
    monkeypatch.setenv("VWMP_VALIDATORS_DIR", str(folder))
    return folder


def test_passing_validator_reports_output(tester: StepTester, repo: Path, validators: Path) -> None:
    out = tester.run("project/run-validator", {"repo": "app", "validator": "check-readme", "args": ["--strict", "a b"]})
    assert out.ok, out.failure
    assert out.outputs["passed"] is True
    assert out.outputs["report"] == "checking in app with args: --strict a b\n"
    assert "checking in app with args: --strict a b" in out.logs


def test_failing_validator_fails_the_step_or_reports(tester: StepTester, repo: Path, validators: Path) -> None:
    out = tester.run("project/run-validator", {"repo": "app", "validator": "always-fails"})
    assert out.failure is not None and out.failure.kind == "error" and "broken thing" in out.failure.message
    soft = tester.run("project/run-validator", {"repo": "app", "validator": "always-fails", "fail_on_failure": False})
    assert soft.ok and soft.outputs["passed"] is False and "broken thing" in soft.outputs["report"]


def test_timeout_kills_the_validator(tester: StepTester, repo: Path, validators: Path) -> None:
    out = tester.run("project/run-validator", {"repo": "app", "validator": "slow", "timeout": 0.5})
    assert out.failure is not None and "timed out" in out.failure.message


def test_dry_run_does_not_execute_unless_asked(tester: StepTester, repo: Path, validators: Path) -> None:
    out = tester.run("project/run-validator", {"repo": "app", "validator": "writer"}, dry_run=True)
    assert out.ok and out.plan[0]["action"] == "run validator"
    assert not (repo / "written-by-validator").exists()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("../../bin/sh", "denied"),
        ("/bin/sh", "denied"),
        ("..", "denied"),
        ("sub/x", "denied"),
        ("-rf", "denied"),
        ("escape", "denied"),
        ("missing", "config"),
        ("not-executable", "config"),
    ],
)
def test_only_registered_scripts_run(tester: StepTester, repo: Path, validators: Path, name: str, kind: str) -> None:
    (validators / "escape").symlink_to("/bin/sh")
    out = tester.run("project/run-validator", {"repo": "app", "validator": name, "args": ["-c", "touch pwned"]})
    assert out.failure is not None and out.failure.kind == kind, out.failure
    assert not (repo / "pwned").exists()


def test_no_validators_folder_is_a_config_error(tester: StepTester, repo: Path, monkeypatch) -> None:
    monkeypatch.delenv("VWMP_VALIDATORS_DIR", raising=False)
    out = tester.run("project/run-validator", {"repo": "app", "validator": "x"})
    assert out.failure is not None and out.failure.kind == "config"
    assert "VWMP_VALIDATORS_DIR" in out.failure.message
    assert os.environ.get("VWMP_VALIDATORS_DIR") is None
