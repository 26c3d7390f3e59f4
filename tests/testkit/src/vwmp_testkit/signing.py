"""Throw-away signing keys for tests of signed tags and commits, and git's verification of them.

Example:
    ```python
    key = ssh_key(tmp_path)                      # or gpg_key(tmp_path)
    ...                                          # a step signs with key.private
    verify(repo, key, "tag", "v1.0.0")            # git tag -v against the matching public key
    ```
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SigningKey", "gpg_key", "ssh_key", "verify"]

EMAIL = "bot@vwmp.invalid"


@dataclass(frozen=True)
class SigningKey:
    """A key pair: `private` is what a step gets, the rest is what git needs to verify."""

    kind: str
    private: str
    git_config: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {done.stderr}")
    return done.stdout


def ssh_key(folder: Path, name: str = "ssh-signing") -> SigningKey:
    """An ed25519 key without passphrase and an allowed-signers file naming it for `EMAIL`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", EMAIL, "-f", str(key)], folder)
    allowed = folder / f"{name}.allowed"
    allowed.write_text(f'{EMAIL} namespaces="git" {key.with_suffix(".pub").read_text().strip()}\n')
    return SigningKey("ssh", key.read_text(), ["-c", f"gpg.ssh.allowedSignersFile={allowed}"])


def gpg_key(folder: Path, name: str = "gpg-signing") -> SigningKey:
    """An ed25519 OpenPGP key without passphrase, in a keyring of its own that git verifies against."""
    # gpg-agent's socket lives in GNUPGHOME and a socket path has at most 107 bytes: a test's folder
    # (under pytest-xdist, /tmp/pytest-of-<user>/pytest-<n>/popen-gw0/<test name>/...) can be longer.
    folder.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    atexit.register(shutil.rmtree, home, True)
    env = {"GNUPGHOME": str(home)}
    _run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"Release Bot <{EMAIL}>", "ed25519", "sign",
          "never"], folder, env)  # fmt: skip
    private = _run(["gpg", "--batch", "--armor", "--export-secret-keys", EMAIL], folder, env)
    _run(["gpgconf", "--kill", "gpg-agent"], folder, env)  # verifying needs no agent; none is left running
    return SigningKey("gpg", private, [], env)


def verify(repo: Path, key: SigningKey, what: str, name: str) -> str:
    """`git tag -v <name>` (what="tag") or `git verify-commit <name>` against `key`; fails the test if unverified."""
    command = ["tag", "-v", name] if what == "tag" else ["verify-commit", "-v", name]
    done = subprocess.run(["git", *key.git_config, *command], cwd=repo, capture_output=True, text=True,
                          check=False, env={**os.environ, **key.env})  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(command)} did not verify: {done.stderr}")
    return done.stderr
