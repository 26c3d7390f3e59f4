"""Semantic Versioning 2.0.0: parsing, ordering and bumping (pre-releases included)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from vwmp_sdk import ConfigError

__all__ = ["PARTS", "Version", "VersionError", "checked_version"]

_PATTERN = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_LABEL = re.compile(r"^[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*$")
PARTS = ("major", "minor", "patch", "prerelease")


class VersionError(ValueError):
    """Text that is not a SemVer 2.0 version, or a bump that cannot be made."""


@total_ordering
@dataclass(frozen=True)
class Version:
    """A SemVer 2.0 version; ordering follows the spec's precedence rules (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `X.Y.Z[-pre][+build]` (no leading `v`)."""
        match = _PATTERN.match(text.strip())
        if not match:
            raise VersionError(f"{text!r} is not a SemVer 2.0 version (X.Y.Z[-pre.release][+build])")
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major),
            int(minor),
            int(patch),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def _key(self) -> tuple[object, ...]:
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        # A release ranks above all of its pre-releases.
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def bump(self, part: str, label: str = "rc") -> Version:
        """The next version.

        `major`/`minor`/`patch` of a pre-release finish it when it already targets that release
        (1.0.0-rc.2 --minor--> 1.0.0, 1.1.0-rc.1 --minor--> 1.1.0); `prerelease` counts up the
        label's number (1.2.0-rc.1 -> 1.2.0-rc.2), starts a new label at 1 (rc.3 --beta--> would go
        backwards, so it is refused), or opens the next patch (1.2.3 -> 1.2.4-rc.1).
        """
        pre = self.prerelease
        if part == "major":
            if pre and self.minor == 0 and self.patch == 0:
                return Version(self.major, 0, 0)
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            if pre and self.patch == 0:
                return Version(self.major, self.minor, 0)
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            if pre:
                return Version(self.major, self.minor, self.patch)
            return Version(self.major, self.minor, self.patch + 1)
        if part == "prerelease":
            if not _LABEL.match(label) or label[0].isdigit():
                raise VersionError(
                    f"prerelease_label {label!r} must be dot-separated [0-9A-Za-z-] starting with a letter"
                )
            wanted = tuple(label.split("."))
            if not pre:
                return Version(self.major, self.minor, self.patch + 1, (*wanted, "1"))
            if pre[: len(wanted)] == wanted and len(pre) == len(wanted) + 1 and pre[-1].isdigit():
                return Version(self.major, self.minor, self.patch, (*wanted, str(int(pre[-1]) + 1)))
            candidate = Version(self.major, self.minor, self.patch, (*wanted, "1"))
            if candidate <= self:
                raise VersionError(f"{candidate} would not be newer than {self}; choose a later label")
            return candidate
        raise VersionError(f"part {part!r} is not one of {', '.join(PARTS)}")


def checked_version(value: str, *, field: str = "version") -> str:
    """A SemVer version from a step's config, normalised; a leading 'v' is refused so tags and headings agree.

    Raises:
        ConfigError: `value` is not a SemVer 2.0 version (the message names `field`).
    """
    try:
        return str(Version.parse(value))
    except VersionError as exc:
        raise ConfigError(f"{field}: {exc}") from None
