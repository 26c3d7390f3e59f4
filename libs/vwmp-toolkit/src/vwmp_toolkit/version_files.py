"""Where a project keeps its version, and how to change only those bytes.

Each format is located with a small scanner instead of a parse/dump round trip, so the rest of the
file (comments, quotes, key order, indentation, line endings) stays byte-for-byte as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KINDS", "Span", "autodetect", "kind_of", "locate"]

KINDS = ("pyproject", "package.json", "VERSION", "module")
_TABLE = re.compile(r"^[ \t]*\[([^\[\]]+)\][ \t]*(?:#.*)?$", re.MULTILINE)
_TOML_VERSION = re.compile(r"^[ \t]*version[ \t]*=[ \t]*([\"'])([^\"'\n]*)\1", re.MULTILINE)
_MODULE_VERSION = re.compile(r"^__version__[ \t]*(?::[ \t]*str[ \t]*)?=[ \t]*([\"'])([^\"'\n]*)\1", re.MULTILINE)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "build", "dist", "__pycache__", ".tox"}


@dataclass(frozen=True)
class Span:
    """Where the version text sits in a file: `text[start:end]` is the version."""

    start: int
    end: int

    def value(self, text: str) -> str:
        return text[self.start : self.end]

    def replace(self, text: str, version: str) -> str:
        return text[: self.start] + version + text[self.end :]


def kind_of(path: str) -> str:
    """The format of a version file, from its name."""
    name = Path(path).name
    if name == "pyproject.toml":
        return "pyproject"
    if name == "package.json":
        return "package.json"
    if name == "VERSION":
        return "VERSION"
    if name.endswith(".py"):
        return "module"
    raise ValueError(f"{path!r}: unknown version file (pyproject.toml, package.json, VERSION or a .py module)")


def _pyproject(text: str) -> Span | None:
    tables = list(_TABLE.finditer(text))
    for wanted in ("project", "tool.poetry"):
        for i, table in enumerate(tables):
            if table.group(1).strip() != wanted:
                continue
            end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
            match = _TOML_VERSION.search(text, table.end(), end)
            if match:
                return Span(match.start(2), match.end(2))
    return None


def _package_json(text: str) -> Span | None:
    depth = 0
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == '"':
            string = _JSON_STRING.match(text, pos)
            if string is None:
                return None
            pos = string.end()
            if depth == 1 and string.group() == '"version"':
                value = re.compile(r'\s*:\s*"((?:[^"\\]|\\.)*)"').match(text, pos)
                if value:
                    return Span(value.start(1), value.end(1))
            continue
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        pos += 1
    return None


def _version_file(text: str) -> Span | None:
    stripped = text.strip()
    if not stripped or "\n" in stripped:
        return None
    start = text.index(stripped)
    return Span(start, start + len(stripped))


def _module(text: str) -> Span | None:
    match = _MODULE_VERSION.search(text)
    return Span(match.start(2), match.end(2)) if match else None


def locate(kind: str, text: str) -> Span | None:
    """The version's position in a file of that kind, or None when it has no static version."""
    return {
        "pyproject": _pyproject,
        "package.json": _package_json,
        "VERSION": _version_file,
        "module": _module,
    }[kind](text)


def autodetect(root: Path) -> list[str]:
    """Version files of a repository: pyproject.toml, package.json, VERSION at the top, and modules
    with `__version__` in `src/<pkg>/` or `<pkg>/` (`__init__.py`, `_version.py`, `__about__.py`, `version.py`).
    """
    found: list[str] = []
    for name in ("pyproject.toml", "package.json", "VERSION"):
        path = root / name
        if path.is_file() and locate(kind_of(name), path.read_text(encoding="utf-8")):
            found.append(name)
    candidates: list[Path] = []
    for base in (root / "src", root):
        if not base.is_dir():
            continue
        for pkg in sorted(p for p in base.iterdir() if p.is_dir() and p.name not in _SKIP_DIRS):
            for module in ("__init__.py", "_version.py", "__about__.py", "version.py"):
                candidates.append(pkg / module)
    for path in candidates:
        if path.is_file() and not path.is_symlink() and _module(path.read_text(encoding="utf-8")):
            found.append(path.relative_to(root).as_posix())
    return found
