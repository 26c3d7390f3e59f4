"""Checks on names that reach git's command line: refs, remotes and remote URLs (ARCHITECTURE §6).

These run before git is called, so a hostile name never becomes an option (`-d`, `--delete`) or a
transport (`ext::sh -c ...`). The ref rules are those of `git check-ref-format`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from vwmp_sdk import DeniedError

__all__ = [
    "ALLOWED_PROTOCOLS",
    "check_ref_name",
    "check_remote_name",
    "check_remote_url",
    "check_revision",
    "redact_url",
    "ref_format_problem",
]

ALLOWED_PROTOCOLS = ("https", "ssh", "git", "file")
"""Transports git may use for remotes; exported as `GIT_ALLOW_PROTOCOL`."""

_FORBIDDEN_CHARS = set(" ~^:?*[\\")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MAX_REF_LENGTH = 255


def ref_format_problem(name: str) -> str | None:
    """Why `name` is not a valid ref name for git (`git check-ref-format` rules), or None if it is."""
    if not name:
        return "is empty"
    if len(name) > _MAX_REF_LENGTH:
        return f"is longer than {_MAX_REF_LENGTH} characters"
    if name.startswith("-"):
        return "starts with '-' (it would be read as an option)"
    if name == "@":
        return "is '@'"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "contains a control character"
    bad = sorted(set(name) & _FORBIDDEN_CHARS)
    if bad:
        return f"contains forbidden character(s) {''.join(bad)!r}"
    if ".." in name:
        return "contains '..'"
    if "@{" in name:
        return "contains '@{'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty path component ('/' at the start or end, or '//')"
    if name.endswith("."):
        return "ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"has a component starting with '.' ({part!r})"
        if part.endswith(".lock"):
            return f"has a component ending with '.lock' ({part!r})"
    return None


def check_ref_name(name: str, *, what: str = "ref name") -> str:
    """Return `name` if git would accept it as a branch/tag name; raise DeniedError otherwise."""
    problem = ref_format_problem(name)
    if problem:
        raise DeniedError(f"{what} {name!r} {problem}")
    return name


def check_revision(rev: str, *, what: str = "ref") -> str:
    """Accept a commit-ish given by a user (a ref name, a sha, `HEAD~1`) that cannot become an option."""
    if not rev or rev.startswith("-"):
        raise DeniedError(f"{what} {rev!r} is empty or starts with '-'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rev) or " " in rev or ":" in rev:
        raise DeniedError(f"{what} {rev!r} contains a space, ':' or a control character")
    if "@{" in rev or ".." in rev:
        raise DeniedError(f"{what} {rev!r} must name one commit (no ranges, no reflog syntax)")
    return rev


def check_remote_name(name: str) -> str:
    """A configured remote's name: letters, digits, `._-`, not starting with `-`."""
    if not _REMOTE_NAME.match(name):
        raise DeniedError(f"remote name {name!r} is not a plain name ([A-Za-z0-9._-], not starting with '-')")
    return name


def check_remote_url(url: str) -> str:
    """Accept https, ssh, git, file URLs, scp-like `user@host:path` and local paths; refuse the rest.

    `<transport>::<address>` (e.g. `ext::sh -c ...`, `fd::`) is always refused: it runs programs.
    """
    if not url or url.startswith("-") or any(ord(c) < 0x20 for c in url):
        raise DeniedError(f"remote URL {url!r} is empty, starts with '-' or contains a control character")
    if "::" in url.split("/", 1)[0] or url.lower().startswith("ext::"):
        raise DeniedError(f"remote URL {redact_url(url)!r} uses a '<transport>::' helper; not allowed")
    if "://" in url:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ALLOWED_PROTOCOLS:
            raise DeniedError(
                f"remote URL {redact_url(url)!r} uses protocol {scheme!r}; allowed: {', '.join(ALLOWED_PROTOCOLS)}"
            )
        return url
    # scp-like syntax (ssh) or a local path: both are fine.
    return url


def is_local_url(url: str) -> bool:
    """Whether git reaches `url` on this machine (a path or `file://`), as git itself decides it."""
    if "://" in url:
        return urlsplit(url).scheme.lower() == "file"
    colon, slash = url.find(":"), url.find("/")
    return colon < 0 or 0 <= slash < colon


def redact_url(url: str) -> str:
    """Hide credentials (`https://user:token@host`) before a URL reaches a log or an error."""
    return re.sub(r"(://)[^/@]+@", r"\1***@", url)
