"""Ref and remote checks agree with git's own rules."""

from __future__ import annotations

import subprocess

import pytest
from vwmp_sdk import DeniedError
from vwmp_toolkit.refs import check_remote_url, ref_format_problem

GOOD = ["v1.2.0", "release/1.2", "feature/KAN-7-x", "v1.0.0-rc.1", "a@b", "x+y"]
BAD = [
    "-d",
    "--delete",
    "a..b",
    "x.lock",
    "a/.b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
    "/a",
    "a/",
    "a//b",
    "a.",
    "@",
    "a@{1}",
    "",
    "a\x01b",
    "dir/x.lock/y",
]


@pytest.mark.parametrize("name", GOOD)
def test_valid_names_are_accepted_like_git_does(name: str) -> None:
    assert ref_format_problem(name) is None
    assert subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], check=False).returncode == 0


@pytest.mark.parametrize("name", BAD)
def test_invalid_names_are_refused_like_git_does(name: str) -> None:
    assert ref_format_problem(name) is not None
    if name.startswith("-") or name == "@":
        return  # git accepts these below refs/tags/; we refuse them anyway (option injection, '@' = HEAD)
    assert subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"], check=False).returncode != 0


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.git",
        "ssh://git@example.com/a.git",
        "git://example.com/a",
        "file:///srv/a.git",
        "git@example.com:a/b.git",
        "/srv/a.git",
        "../a.git",
    ],
)
def test_allowed_remote_urls(url: str) -> None:
    assert check_remote_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "EXT::sh",
        "fd::3",
        "http://example.com/a",
        "ftp://x/a",
        "-uhttps://x",
        "--upload-pack=touch /tmp/x",
        "https://x/\nb",
    ],
)
def test_refused_remote_urls(url: str) -> None:
    with pytest.raises(DeniedError):
        check_remote_url(url)
