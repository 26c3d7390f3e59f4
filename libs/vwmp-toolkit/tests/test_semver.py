"""SemVer 2.0 parsing, precedence and bumps."""

from __future__ import annotations

import pytest
from vwmp_toolkit.semver import Version, VersionError


@pytest.mark.parametrize(
    ("current", "part", "label", "expected"),
    [
        ("0.4.1", "minor", "rc", "0.5.0"),
        ("0.4.1", "patch", "rc", "0.4.2"),
        ("0.4.1", "major", "rc", "1.0.0"),
        ("1.2.3", "prerelease", "rc", "1.2.4-rc.1"),
        ("1.2.4-rc.1", "prerelease", "rc", "1.2.4-rc.2"),
        ("1.2.4-alpha.3", "prerelease", "beta", "1.2.4-beta.1"),
        ("1.2.4-rc.2", "patch", "rc", "1.2.4"),
        ("1.3.0-rc.1", "minor", "rc", "1.3.0"),
        ("1.3.1-rc.1", "minor", "rc", "1.4.0"),
        ("2.0.0-rc.1", "major", "rc", "2.0.0"),
        ("1.0.0+build.5", "patch", "rc", "1.0.1"),
    ],
)
def test_bump(current: str, part: str, label: str, expected: str) -> None:
    assert str(Version.parse(current).bump(part, label)) == expected


def test_precedence_follows_the_spec() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
        "2.0.0",
    ]
    versions = [Version.parse(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "a.b.c", ""])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(VersionError):
        Version.parse(text)


def test_prerelease_label_that_goes_backwards_is_refused() -> None:
    with pytest.raises(VersionError):
        Version.parse("1.0.0-rc.1").bump("prerelease", "beta")
    with pytest.raises(VersionError):
        Version.parse("1.0.0").bump("prerelease", "bad label")
