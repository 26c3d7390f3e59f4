"""A sample Python project at 0.4.1, ready to be released to 0.5.0: for tests of release workflows.

Used by this plugin's tests and by the end-to-end tests, so every test releases the same project:
`pyproject.toml` and `__version__` at 0.4.1 (a comment on the version line that a bump must keep),
a Keep a Changelog file whose `[Unreleased]` entry names KAN-7, a Kanban board with KAN-7 in Done,
and a small knowledge base.
"""

from __future__ import annotations

CHANGELOG = """# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

### Added

- Release cards move on the board automatically (KAN-7)

## [0.4.1] - 2024-05-01

### Fixed

- Crash when the config file is empty (KAN-3)

[unreleased]: https://git.example.com/acme/shop/compare/v0.4.1...HEAD
[0.4.1]: https://git.example.com/acme/shop/compare/v0.4.0...v0.4.1
"""

BOARD = """# Team board
columns:
  - name: In progress
    cards:
      - id: KAN-9
        title: Dark mode
  - name: Done
    cards:
      - id: KAN-7
        title: Move release cards automatically   # shipped in the next release
      - id: KAN-8
        title: Not in this release
  - name: Released
    cards: []
"""

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\nversion = "0.4.1"  # bumped by VWMP\nrequires-python = ">=3.11"\n',
    "src/shop/__init__.py": '"""Shop."""\n\n__version__ = "0.4.1"\n',
    "CHANGELOG.md": CHANGELOG,
    "kanban.yaml": BOARD,
    "kb/index.md": "# Knowledge base\n\nHow the shop works.\n\n## Releases\n\n"
                   "- [0.4.1](releases/0.4.1.md) - 2024-05-01\n",
    "kb/releases/0.4.1.md": "# Release 0.4.1\n\nReleased: 2024-05-01\n",
}
