"""Signing tags and commits with git's own `-s`/`-S`: an OpenPGP key (gpg) or an SSH key (`gpg.format=ssh`).

The key comes from the step's config, `signing_key` (the private key text, from `${{ secrets.X }}`)
or `signing_key_file` (a file inside the workspace). It is written only into a private temporary
folder (mode 0700) that is removed when the step ends: a throw-away GNUPGHOME for gpg, a key file
for SSH. Before git writes anything the key is proven usable by signing a probe, so a missing,
malformed, passphrase-protected or unusable key is a `config` error and the repository is untouched.

Git reads the signing programs from its config, which a repository could point at anything; the
overrides here name `gpg` and `ssh-keygen` whatever the repository says, and `sign: none` switches
off `tag.gpgSign`/`commit.gpgSign` so a repository cannot make git run a signing program either.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vwmp_sdk import ConfigError, StepContext
from vwmp_toolkit.git import DEFAULT_TIMEOUT, Completed, Runner, SafeGit

Sign = Literal["none", "gpg", "ssh"]
_TIMEOUT = 30.0
_PROGRAMS = ["-c", "gpg.program=gpg", "-c", "gpg.openpgp.program=gpg", "-c", "gpg.ssh.program=ssh-keygen"]
UNSIGNED = ["-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false", *_PROGRAMS]


@dataclass
class Signer:
    """How git signs in this step: the `-c` options before the subcommand and the extra environment."""

    mode: Sign
    options: list[str] = field(default_factory=lambda: list(UNSIGNED))
    env: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""

    def describe(self) -> str:
        """For plans and logs: the kind of signature and the public key's fingerprint (never the key)."""
        return "unsigned" if self.mode == "none" else f"signed ({self.mode}, key {self.fingerprint})"


class SigningGit(SafeGit):
    """SafeGit whose commands carry a signer's `-c` options and environment (GNUPGHOME)."""

    def __init__(self, repo_dir: Path, run: Runner, identity: tuple[str, str] | None, signer: Signer) -> None:
        self.signer = signer
        super().__init__(repo_dir, run=run, identity=identity)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.signer.env}

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> Completed:
        return super().run(*self.signer.options, *args, timeout=timeout, check=check)


def _key_text(ctx: StepContext, key: str | None, key_file: str | None) -> str:
    if key and key_file:
        raise ConfigError("give signing_key or signing_key_file, not both")
    if key_file:
        path = ctx.resolve_path(key_file, field="signing_key_file")
        if not path.is_file():
            raise ConfigError(f"signing_key_file {key_file!r} does not exist")
        return path.read_text(errors="replace")
    if not key or not key.strip():
        raise ConfigError("sign needs a key: signing_key (e.g. ${{ secrets.RELEASE_KEY }}) or signing_key_file")
    return key


def _program(ctx: StepContext, folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    if shutil.which(args[0]) is None:
        raise ConfigError(f"{args[0]} is not installed on this plugin host: it cannot sign")
    done = ctx.run(list(args), cwd=folder, timeout=_TIMEOUT, env={"LC_ALL": "C", **(env or {})})
    lines = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode, lines[-1] if lines else f"exit status {done.returncode}"


def _gpg(ctx: StepContext, folder: Path, text: str) -> Signer:
    home = folder / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home)}
    (folder / "key.asc").write_text(text)
    code, detail = _program(ctx, folder, "gpg", "--batch", "--quiet", "--import", str(folder / "key.asc"), env=env)
    (folder / "key.asc").unlink()
    if code != 0:
        raise ConfigError(f"signing_key is not an OpenPGP private key gpg can import ({detail})")
    listed = ctx.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"], cwd=folder, timeout=_TIMEOUT, env=env
    ).stdout
    fingerprints = [line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:")]
    if not fingerprints:
        raise ConfigError("signing_key holds no OpenPGP secret key (a public key was given?)")
    fingerprint = fingerprints[0]
    (folder / "probe").write_text("vwmp signing probe\n")
    code, detail = _program(
        ctx, folder, "gpg", "--batch", "--pinentry-mode", "error", "--local-user", fingerprint,
        "--output", str(folder / "probe.sig"), "--detach-sign", str(folder / "probe"), env=env,
    )  # fmt: skip
    if code != 0:
        raise ConfigError(f"the OpenPGP key {fingerprint} cannot sign (passphrase-protected or expired?): {detail}")
    options = ["-c", "gpg.format=openpgp", "-c", f"user.signingKey={fingerprint}", *_PROGRAMS]
    return Signer("gpg", options, env, fingerprint)


def _ssh(ctx: StepContext, folder: Path, text: str) -> Signer:
    key = folder / "key"
    key.touch(mode=0o600)
    key.write_text(text if text.endswith("\n") else text + "\n")
    probe = folder / "probe"
    probe.write_text("vwmp signing probe\n")
    code, detail = _program(ctx, folder, "ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(key), str(probe))
    done = ctx.run(["ssh-keygen", "-l", "-f", str(key)], cwd=folder, timeout=_TIMEOUT)
    if done.returncode != 0 or code != 0 or "PRIVATE KEY" not in text:
        raise ConfigError(f"signing_key is not an SSH private key that can sign without a passphrase ({detail})")
    fingerprint = done.stdout.split()[1] if len(done.stdout.split()) > 1 else "?"
    options = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}", *_PROGRAMS]
    return Signer("ssh", options, {}, fingerprint)


@contextlib.contextmanager
def signer(ctx: StepContext, mode: Sign, key: str | None, key_file: str | None) -> Iterator[Signer]:
    """The signer for `mode`, its key checked by a probe signature; its files are gone afterwards.

    Raises:
        ConfigError: no key, or a key that cannot sign (before anything is written to the repository).
    """
    if mode == "none":
        if key or key_file:
            raise ConfigError("signing_key/signing_key_file given but sign is 'none'")
        yield Signer("none")
        return
    text = _key_text(ctx, key, key_file)
    folder = Path(tempfile.mkdtemp(prefix="vwmp-sign-"))
    try:
        yield _gpg(ctx, folder, text) if mode == "gpg" else _ssh(ctx, folder, text)
    finally:
        if (folder / "gnupg").is_dir():
            ctx.run(["gpgconf", "--kill", "gpg-agent"], cwd=folder, timeout=_TIMEOUT,
                    env={"GNUPGHOME": str(folder / "gnupg")})  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
