"""Signed tags and commits: git's own signing with an OpenPGP or SSH key; `git tag -v` verifies them."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot
from vwmp_testkit.signing import SigningKey, gpg_key, ssh_key, verify


@pytest.fixture(params=["gpg", "ssh"])
def key(request: pytest.FixtureRequest, tmp_path: Path) -> SigningKey:
    return gpg_key(tmp_path / "keys") if request.param == "gpg" else ssh_key(tmp_path / "keys")


def test_signed_tag_verifies_and_a_retry_keeps_it(
    tester: StepTester, repo: tuple[Path, Path], key: SigningKey
) -> None:
    work, _ = repo
    config = {"repo": "app", "name": "v1.0.0", "message": "Release 1.0.0", "sign": key.kind,
              "signing_key": key.private}  # fmt: skip
    out = tester.run("git/tag", config)
    assert out.ok, out.failure
    assert out.outputs == {"name": "v1.0.0", "sha": git(work, "rev-parse", "HEAD")}
    verify(work, key, "tag", "v1.0.0")
    assert key.private not in "\n".join(out.logs)
    before = snapshot(work)
    again = tester.run("git/tag", config)
    assert again.ok, again.failure
    assert snapshot(work) == before


def test_signed_commit_verifies(tester: StepTester, repo: tuple[Path, Path], key: SigningKey) -> None:
    work, _ = repo
    (work / "README.md").write_text("changed\n")
    config = {"repo": "app", "message": "chore(release): 1.0.0", "paths": ["README.md"], "sign": key.kind,
              "signing_key": key.private}  # fmt: skip
    out = tester.run("git/commit", config)
    assert out.ok, out.failure
    verify(work, key, "commit", "HEAD")
    assert tester.run("git/commit", config).outputs["sha"] == out.outputs["sha"]


def test_key_from_a_file_in_the_workspace(tester: StepTester, repo: tuple[Path, Path], workspace: Path,
                                          tmp_path: Path) -> None:  # fmt: skip
    work, _ = repo
    key = ssh_key(tmp_path / "keys")
    (workspace / "keys").mkdir()
    (workspace / "keys" / "release").write_text(key.private)
    out = tester.run("git/tag", {"repo": "app", "name": "v1.0.0", "sign": "ssh", "signing_key_file": "keys/release"})
    assert out.ok, out.failure
    verify(work, key, "tag", "v1.0.0")
    escape = tester.run("git/tag", {"repo": "app", "name": "v1.0.1", "sign": "ssh",
                                    "signing_key_file": "../keys/ssh-signing"})  # fmt: skip
    assert escape.failure is not None and escape.failure.kind == "denied"


@pytest.mark.parametrize("sign", ["gpg", "ssh"])
@pytest.mark.parametrize("bad", ["missing", "garbage", "public", "other-kind", "passphrase"])
def test_missing_or_wrong_key_is_a_config_error_before_anything_is_written(
    tester: StepTester, repo: tuple[Path, Path], tmp_path: Path, sign: str, bad: str
) -> None:
    work, _ = repo
    (work / "README.md").write_text("changed\n")
    keys = tmp_path / "keys"
    if bad == "missing":
        extra: dict[str, str] = {}
    elif bad == "garbage":
        extra = {"signing_key": "-----BEGIN NOT A KEY-----\nxyz\n"}
    elif bad == "public":
        public = ssh_key(keys) if sign == "ssh" else None
        extra = {"signing_key": (keys / "ssh-signing.pub").read_text() if public else _gpg_public(keys)}
    elif bad == "other-kind":
        extra = {"signing_key": (gpg_key(keys) if sign == "ssh" else ssh_key(keys)).private}
    else:
        extra = {"signing_key": _with_passphrase(keys, sign)}
    before = snapshot(work)
    for step, config in (
        ("git/tag", {"repo": "app", "name": "v1.0.0"}),
        ("git/commit", {"repo": "app", "message": "x", "paths": ["README.md"]}),
    ):
        for dry_run in (True, False):
            out = tester.run(step, {**config, "sign": sign, **extra}, dry_run=dry_run)
            assert out.failure is not None and out.failure.kind == "config", (step, out.failure)
    assert snapshot(work) == before


def test_unsigned_ignores_a_repository_that_asks_for_signing(
    tester: StepTester, repo: tuple[Path, Path], tmp_path: Path
) -> None:
    work, _ = repo
    marker = tmp_path / "ran"
    fake = tmp_path / "fake-gpg"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    for key, value in (("tag.gpgSign", "true"), ("commit.gpgSign", "true"), ("gpg.program", str(fake))):
        git(work, "config", key, value)
    assert tester.run("git/tag", {"repo": "app", "name": "v1.0.0"}).ok
    (work / "README.md").write_text("changed\n")
    assert tester.run("git/commit", {"repo": "app", "message": "x", "paths": ["README.md"]}).ok
    assert not marker.exists()


def test_dry_run_says_how_it_would_sign(tester: StepTester, repo: tuple[Path, Path], tmp_path: Path) -> None:
    work, _ = repo
    key = ssh_key(tmp_path / "keys")
    before = snapshot(work)
    out = tester.run("git/tag", {"repo": "app", "name": "v1.0.0", "sign": "ssh", "signing_key": key.private},
                     dry_run=True)  # fmt: skip
    assert out.ok and "signed (ssh, key SHA256:" in out.plan[0]["diff"]
    assert key.private not in out.plan[0]["diff"]
    assert snapshot(work) == before


def _gpg_public(folder: Path) -> str:
    key = gpg_key(folder)
    return subprocess.run(["gpg", "--batch", "--armor", "--export"], capture_output=True, text=True, check=True,
                          env={"GNUPGHOME": key.env["GNUPGHOME"]}).stdout  # fmt: skip


def _with_passphrase(folder: Path, sign: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    if sign == "ssh":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret-pass", "-f", str(folder / "locked")],
                       check=True)  # fmt: skip
        return (folder / "locked").read_text()
    home = Path(tempfile.mkdtemp(prefix="locked-gpg-"))  # short: gpg-agent's socket path is limited
    atexit.register(shutil.rmtree, home, True)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "secret-pass",
                    "--quick-gen-key", "Locked <l@vwmp.invalid>", "ed25519", "sign", "never"],
                   check=True, env=env, capture_output=True)  # fmt: skip
    private = subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "secret-pass",
                              "--armor", "--export-secret-keys"], check=True, env=env, capture_output=True,
                             text=True).stdout  # fmt: skip
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=True, env=env)
    return private
