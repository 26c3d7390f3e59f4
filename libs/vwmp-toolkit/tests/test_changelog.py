"""Keep a Changelog release cut."""

from __future__ import annotations

import pytest
from vwmp_toolkit.changelog import ChangelogError, release, release_notes

BEFORE = """# Changelog

All notable changes to this project are documented here.

## [Unreleased]

### Added

- Board sync on release (KAN-7)

## [0.4.1] - 2024-05-01

### Fixed

- Crash on start

[unreleased]: https://example.com/o/r/compare/v0.4.1...HEAD
[0.4.1]: https://example.com/o/r/compare/v0.4.0...v0.4.1
"""

AFTER = """# Changelog

All notable changes to this project are documented here.

## [Unreleased]

## [0.5.0] - 2024-06-02

### Added

- Board sync on release (KAN-7)

## [0.4.1] - 2024-05-01

### Fixed

- Crash on start

[unreleased]: https://example.com/o/r/compare/v0.5.0...HEAD
[0.5.0]: https://example.com/o/r/compare/v0.4.1...v0.5.0
[0.4.1]: https://example.com/o/r/compare/v0.4.0...v0.4.1
"""


def test_release_moves_unreleased_entries_and_updates_links() -> None:
    text, section = release(BEFORE, "0.5.0", "2024-06-02")
    assert text == AFTER
    assert section == "## [0.5.0] - 2024-06-02\n\n### Added\n\n- Board sync on release (KAN-7)\n"


def test_release_keeps_crlf_line_endings() -> None:
    text, _ = release(BEFORE.replace("\n", "\r\n"), "0.5.0", "2024-06-02")
    assert text == AFTER.replace("\n", "\r\n")


def test_first_release_without_links_or_older_sections() -> None:
    text, _ = release("# Changelog\n\n## [Unreleased]\n\n- First\n", "0.1.0", "2024-01-01")
    assert text == "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2024-01-01\n\n- First\n"


def test_empty_unreleased_or_existing_version_is_refused() -> None:
    with pytest.raises(ChangelogError, match="empty"):
        release(AFTER, "0.6.0", "2024-07-01")
    with pytest.raises(ChangelogError, match="already"):
        release(BEFORE, "0.4.1", "2024-07-01")
    with pytest.raises(ChangelogError, match="Unreleased"):
        release("# Changelog\n\n## [0.1.0] - 2024-01-01\n", "0.2.0", "2024-07-01")


def test_release_notes_read_the_version_or_the_pending_unreleased() -> None:
    assert "KAN-7" in (release_notes(AFTER, "0.5.0") or "")
    assert "KAN-7" in (release_notes(BEFORE, "0.5.0") or "")
    assert release_notes(AFTER, "0.4.1") == "### Fixed\n\n- Crash on start\n"
