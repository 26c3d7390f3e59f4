"""validators/branch-context, changelog-format and custom-rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_validators.changelog_lint import lint
from vwmp_plugin_validators.rules import RuleError, compile_rule
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot

from .conftest import GOOD_CHANGELOG


def test_branch_context_uses_platform_default_and_globs(tester: StepTester, repo: Path) -> None:
    out = tester.run("validators/branch-context", {"repo": "app"})
    assert out.ok and out.outputs["branch"] == "main"
    git(repo, "switch", "-q", "-c", "release/1.2")
    assert tester.run("validators/branch-context", {"repo": "app", "allowed": ["release/*"]}).ok
    git(repo, "switch", "-q", "-c", "release/2/x")
    deep = tester.run("validators/branch-context", {"repo": "app", "allowed": ["release/*"]})
    assert deep.failure is not None and "not allowed" in deep.failure.message
    assert tester.run("validators/branch-context", {"repo": "app", "allowed": ["release/**"]}).ok
    wrong = tester.run("validators/branch-context", {"repo": "app"})
    assert wrong.failure is not None and "'release/2/x' is not allowed" in wrong.failure.message


def test_branch_context_require_clean_and_detached(tester: StepTester, repo: Path) -> None:
    (repo / "stray.txt").write_text("x")
    dirty = tester.run("validators/branch-context", {"repo": "app", "require_clean": True})
    assert dirty.failure is not None and "stray.txt" in dirty.failure.message
    assert tester.run("validators/branch-context", {"repo": "app"}).ok
    (repo / "stray.txt").unlink()
    git(repo, "switch", "-q", "--detach")
    detached = tester.run("validators/branch-context", {"repo": "app"})
    assert detached.failure is not None and "detached" in detached.failure.message


def test_branch_context_without_any_allowed_list_is_config_error(workspace: Path, repo: Path) -> None:
    from vwmp_plugin_validators import plugin

    out = StepTester(plugin, workspace_root=workspace).run("validators/branch-context", {"repo": "app"})
    assert out.failure is not None and out.failure.kind == "config"


def test_good_changelog_has_no_problems(tester: StepTester, repo: Path) -> None:
    assert lint(GOOD_CHANGELOG) == []
    out = tester.run("validators/changelog-format", {"repo": "app"})
    assert out.ok and out.outputs["problems"] == []
    dry = tester.run("validators/changelog-format", {"repo": "app"}, dry_run=True)
    assert dry.plan == [{"action": "check", "target": "CHANGELOG.md"}]


BAD = """# Changelog

## [0.3.0] - 2024-02-30

### Added
### Improved

- x

## [0.4.0] - 2024-01-01

### Fixed
### Fixed

## [v0.2] - someday

## Notes

[0.3.0]: https://example.com/compare/v0.2.0...v0.3.0
[0.9.9]: https://example.com/compare/v0.2.0...v0.9.9
"""


def test_bad_changelog_lists_every_problem() -> None:
    messages = [f"{line}: {msg}" for line, msg in lint(BAD)]
    expected = [
        "missing '## [Unreleased]'",
        "2024-02-30 is not a calendar date",
        "unknown subsection '### Improved'",
        "[0.4.0] must be older than [0.3.0]",
        "'### Fixed' appears twice",
        "[v0.2] is not a SemVer version",
        "[v0.2] needs a date",
        "'Notes' is not '[X.Y.Z] - YYYY-MM-DD'",
        "link [0.9.9] has no matching",
        "no link definition '[0.4.0]: ...'",
    ]
    for text in expected:
        assert any(text in m for m in messages), (text, messages)


def test_changelog_format_fails_with_problems_in_error(tester: StepTester, repo: Path) -> None:
    (repo / "CHANGELOG.md").write_text(BAD)
    out = tester.run("validators/changelog-format", {"repo": "app"})
    assert out.failure is not None and out.failure.kind == "error"
    assert "problem(s) in CHANGELOG.md" in out.failure.message and "### Improved" in out.failure.message
    assert any("CHANGELOG.md:6:" in line for line in out.logs)
    soft = tester.run("validators/changelog-format", {"repo": "app", "fail_on_problems": False})
    assert soft.ok and len(soft.outputs["problems"]) >= 10
    assert soft.outputs["problems"][0]["file"] == "CHANGELOG.md"
    missing = tester.run("validators/changelog-format", {"repo": "app", "file": "NOPE.md"})
    assert missing.failure is not None and "does not exist" in missing.failure.message


def test_stale_unreleased_link_is_reported() -> None:
    text = GOOD_CHANGELOG.replace("compare/v0.4.1...HEAD", "compare/v0.4.0...HEAD")
    assert any("not from the latest [0.4.1]" in m for _, m in lint(text))


def test_custom_rules(tester: StepTester, repo: Path) -> None:
    rules = [
        {"files": "src/**/*.py", "must_not_match": r"^DEBUG = True", "message": "no debug flag"},
        {"files": "LICENSE", "must_match": "MIT", "message": "MIT licence"},
        {"files": "src/*.py", "must_match": "^__all__", "message": "modules declare __all__"},
        {"files": "docs/*.md", "must_match": "x", "message": "docs exist"},
    ]
    out = tester.run("validators/custom-rules", {"repo": "app", "rules": rules, "fail_on_problems": False})
    assert out.ok, out.failure
    assert out.outputs["problems"] == [
        {"file": "src/app.py", "line": None, "message": "modules declare __all__ (does not match '^__all__')"},
        {"file": "docs/*.md", "line": None, "message": "no file matches: docs exist"},
    ]
    (repo / "src" / "app.py").write_text("import os\n\nDEBUG = True\n__all__ = []\n")
    strict = tester.run("validators/custom-rules", {"repo": "app", "rules": rules[:3]})
    assert strict.failure is not None and "src/app.py:3: no debug flag" in strict.failure.message


def test_custom_rules_never_read_outside_the_repo(tester: StepTester, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("SECRET = 1\n")
    (repo / "link").symlink_to(outside)
    before = snapshot(repo)
    rule = {"files": "**/*.py", "must_not_match": "SECRET", "message": "no secrets"}
    assert tester.run("validators/custom-rules", {"repo": "app", "rules": [rule]}).ok
    git_rule = {"files": ".git/*", "must_not_match": ".", "message": "x"}
    assert tester.run("validators/custom-rules", {"repo": "app", "rules": [git_rule]}).ok
    for bad in ("../outside/*.py", "/etc/*", "src/../../outside/*"):
        out = tester.run("validators/custom-rules", {"repo": "app", "rules": [{**rule, "files": bad}]})
        assert out.failure is not None and out.failure.kind == "config", bad
    assert snapshot(repo) == before


def test_bad_regex_points_at_the_field() -> None:
    with pytest.raises(RuleError) as error:
        compile_rule(2, "*.py", "(", None)
    assert error.value.field == "rules/2/must_match"


@pytest.mark.parametrize("step", ["validators/branch-context", "validators/changelog-format"])
@pytest.mark.parametrize("repo_value", ["../outside", "/etc", "link"])
def test_repo_outside_the_workspace_is_denied(
    tester: StepTester, workspace: Path, tmp_path: Path, step, repo_value
) -> None:
    (tmp_path / "outside").mkdir(exist_ok=True)
    (workspace / "link").symlink_to(tmp_path / "outside")
    out = tester.run(step, {"repo": repo_value, "allowed": ["main"]} if "branch" in step else {"repo": repo_value})
    assert out.failure is not None and out.failure.kind == "denied", out.failure
