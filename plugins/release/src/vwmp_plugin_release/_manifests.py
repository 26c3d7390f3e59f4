"""The packages of a monorepo: their manifests (pyproject.toml, package.json), in-repo dependencies and order.

Manifests are read with `tomllib` / `json` and edited with small scanners, so a dependency range
update changes only the bytes of that range (comments, quotes, key order and spacing stay).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from vwmp_sdk import ConfigError, DeniedError
from vwmp_toolkit.paths import GIT_DIR, in_repo, rel
from vwmp_toolkit.refs import ref_format_problem
from vwmp_toolkit.version_files import kind_of, locate

DEFAULT_GLOBS = ("**/pyproject.toml", "**/package.json")
NPM_SECTIONS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
SKIP_DIRS = {GIT_DIR, "node_modules", ".venv", "venv", "build", "dist", "__pycache__", ".tox"}
_PEP508_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_NPM_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_PY_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def normalized(name: str, kind: str) -> str:
    """The name packages are compared by: PEP 503 for Python (case, `-_.` alike), as written for npm."""
    return re.sub(r"[-_.]+", "-", name).lower() if kind == "pyproject" else name


@dataclass
class Manifest:
    """One package of the repository."""

    name: str
    path: str  # folder relative to the repo, "." for the root
    file: str  # manifest relative to the repo
    kind: str  # "pyproject" or "package.json"
    version: str
    requires: list[str] = field(default_factory=list)  # every dependency name the manifest lists
    depends_on: list[str] = field(default_factory=list)  # the in-repo ones, by package name


def check_glob(pattern: str, index: int) -> str:
    """A glob must stay inside the repository: relative, no `..`, never into `.git`."""
    where = f"globs/{index}"
    if not pattern or "\x00" in pattern:
        raise DeniedError(f"{where}: empty or NUL in {pattern!r}")
    posix = PurePosixPath(pattern.replace("\\", "/"))
    if posix.is_absolute() or pattern.startswith("~"):
        raise DeniedError(f"{where}: {pattern!r} is absolute; globs are relative to the repository")
    if ".." in posix.parts:
        raise DeniedError(f"{where}: {pattern!r} contains '..' and could leave the repository")
    if GIT_DIR in posix.parts:
        raise DeniedError(f"{where}: {pattern!r} points into {GIT_DIR}")
    if posix.name not in ("pyproject.toml", "package.json"):
        raise ConfigError(f"{where}: {pattern!r} must end in pyproject.toml or package.json")
    return pattern


def _is_workspace_root(kind: str, data: dict[str, object]) -> bool:
    if kind == "package.json":
        return "workspaces" in data
    tool = data.get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("uv"), dict) and "workspace" in tool["uv"]


def _load(path: Path, name: str, kind: str) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if kind == "package.json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{name}: not valid {'JSON' if kind == 'package.json' else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: not a JSON object")
    return data


def _requires(kind: str, data: dict[str, object]) -> list[str]:
    if kind == "package.json":
        names: list[str] = []
        for section in NPM_SECTIONS:
            entries = data.get(section)
            if isinstance(entries, dict):
                names += [str(key) for key in entries]
        return names
    project = data.get("project")
    found: list[str] = []
    entries = project.get("dependencies") if isinstance(project, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        match = _PEP508_NAME.match(str(entry))
        if match:
            found.append(match.group(1))
    return found


def _manifest(root: Path, path: Path, tag_pattern: str) -> Manifest | None:
    file = rel(root, path)
    kind = kind_of(file)
    data = _load(path, file, kind)
    folder = PurePosixPath(file).parent.as_posix()
    if folder == "." and _is_workspace_root(kind, data):
        return None
    table = data.get("project") if kind == "pyproject" else data
    name = table.get("name") if isinstance(table, dict) else None
    if not isinstance(name, str) or not name:
        return None  # no package: a tool-only pyproject.toml, a fixture's package.json
    if name.startswith("-"):
        raise DeniedError(f"{file}: package name {name!r} starts with '-' (it would be read as an option)")
    if not (_NPM_NAME if kind == "package.json" else _PY_NAME).match(name):
        raise ConfigError(f"{file}: {name!r} is not a valid {'npm' if kind == 'package.json' else 'Python'} "
                          "package name")
    problem = ref_format_problem(tag_of(tag_pattern, name, "0.0.0"))
    if problem:
        raise ConfigError(f"{file}: the tag of {name!r} ({tag_pattern}) {problem}")
    text = path.read_text(encoding="utf-8")
    span = locate(kind, text)
    if span is None:
        return None  # nothing to release: no static version (dynamic, or an unversioned private package)
    return Manifest(name, folder, file, kind, span.value(text), _requires(kind, data))


def tag_of(pattern: str, name: str, version: str) -> str:
    """The tag `pattern` gives a package's version: `{name}@{version}` → `core@1.2.0`."""
    return pattern.replace("{name}", name).replace("{version}", version)


def discover(root: Path, globs: list[str] | None, tag_pattern: str, skipped: list[str] | None = None) -> list[Manifest]:
    """Every package the globs find (default: all pyproject.toml and package.json below the root).

    A manifest without a name or a static version is no package: it is left out (and added to
    `skipped`), as is the root's when it is a workspace manifest.

    Raises:
        DeniedError: a glob or a match leaving the repository, a name that looks like an option.
        ConfigError: an invalid name, a manifest that does not parse, two packages of the same name.
    """
    patterns = [check_glob(g, i) for i, g in enumerate(globs)] if globs else list(DEFAULT_GLOBS)
    if "{version}" not in tag_pattern:
        raise ConfigError("tag_pattern must contain '{version}'")
    files: dict[str, Path] = {}
    for index, pattern in enumerate(patterns):
        for match in sorted(root.glob(pattern)):
            if not match.is_file():
                continue
            relative = match.relative_to(root)
            if any(part in SKIP_DIRS for part in relative.parts[:-1]):
                continue
            resolved = in_repo(root, relative.as_posix(), field=f"globs/{index}")  # a symlink leaving: denied
            files.setdefault(rel(root, resolved), resolved)
    found: list[Manifest] = []
    for file in sorted(files):
        manifest = _manifest(root, files[file], tag_pattern)
        if manifest is not None:
            found.append(manifest)
        elif skipped is not None:
            skipped.append(file)
    seen: dict[str, Manifest] = {}
    for manifest in found:
        key = normalized(manifest.name, manifest.kind)
        if key in seen:
            raise ConfigError(f"two packages named {manifest.name!r}: {seen[key].file} and {manifest.file}")
        seen[key] = manifest
    for manifest in found:
        wanted = {normalized(n, manifest.kind) for n in manifest.requires}
        manifest.depends_on = [
            other.name for other in found
            if other is not manifest and other.kind == manifest.kind and normalized(other.name, other.kind) in wanted
        ]
    return found


def dependency_order(packages: list[Manifest]) -> list[Manifest]:
    """Dependencies before their dependents (ties by path); a cycle is a ConfigError naming it."""
    by_name = {p.name: p for p in packages}
    done: dict[str, Manifest] = {}
    visiting: list[str] = []

    def visit(package: Manifest) -> None:
        if package.name in done:
            return
        if package.name in visiting:
            cycle = [*visiting[visiting.index(package.name):], package.name]
            raise ConfigError(f"dependency cycle: {' → '.join(cycle)}")
        visiting.append(package.name)
        for dependency in sorted(package.depends_on, key=lambda n: by_name[n].path):
            visit(by_name[dependency])
        visiting.pop()
        done[package.name] = package

    for package in sorted(packages, key=lambda p: p.path):
        visit(package)
    return list(done.values())


def dependents_closure(packages: list[Manifest], changed: set[str]) -> set[str]:
    """The changed packages and every package depending on one of them, directly or not."""
    released = set(changed)
    grew = True
    while grew:
        grew = False
        for package in packages:
            if package.name not in released and released.intersection(package.depends_on):
                released.add(package.name)
                grew = True
    return released


# ----- dependency range edits ------------------------------------------------------------------------------


def new_range(old: str, version: str, kind: str) -> str | None:
    """The range `old` becomes for `version`, keeping its operator; None when it is not a version range.

    npm: `^1.2.0` → `^1.3.0`, `~`, `>=`, `=` and exact versions alike; `workspace:`, `file:`, `*`, tags
    and URLs are left alone. Python: `>=1.2`, `==1.2.0`, `~=1.2` → the same operator with the new version;
    other clauses (an upper bound `<2`) stay.
    """
    if kind == "package.json":
        match = re.fullmatch(r"(?P<op>\^|~|>=|=)?(?P<v>\d+\.\d+\.\d+\S*)", old.strip())
        return None if match is None else f"{match.group('op') or ''}{version}"
    clauses = old.split(",")
    for index, clause in enumerate(clauses):
        match = re.fullmatch(r"(?P<pad>\s*)(?P<op>>=|==|~=)(?P<sp>\s*)(?P<v>[0-9][^\s;]*)(?P<end>\s*)", clause)
        if match:
            clauses[index] = f"{match['pad']}{match['op']}{match['sp']}{version}{match['end']}"
            for other in clauses[index + 1:]:
                bound = re.fullmatch(r"\s*(?P<op><=|<)\s*(?P<v>[0-9][0-9.]*)\s*", other)
                if bound and not _below(version, bound["v"], inclusive=bound["op"] == "<="):
                    raise UpperBoundError(f"{other.strip()} excludes {version}")
            return ",".join(clauses)
    return None


class UpperBoundError(ValueError):
    """A requirement's upper bound that the released version would not satisfy."""


def _release_numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text.split("-")[0].split("+")[0])[:3])


def _below(version: str, bound: str, *, inclusive: bool) -> bool:
    """Whether `version` satisfies `< bound` (or `<=`), comparing release numbers padded with zeros."""
    left, right = _release_numbers(version), _release_numbers(bound)
    width = max(len(left), len(right))
    left, right = left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
    return left <= right if inclusive else left < right


def _string_end(text: str, start: int) -> int:
    """Index after the quoted string starting at `start` (JSON or TOML basic/literal string)."""
    quote = text[start]
    pos = start + 1
    while pos < len(text) and text[pos] != quote:
        pos += 2 if text[pos] == "\\" and quote == '"' else 1
    return pos + 1


def _json_object_members(text: str, start: int) -> list[tuple[str, int, int, tuple[int, int] | None]]:
    """Members of the JSON object opening at `start`: (key, key start, value start, string value span)."""
    members: list[tuple[str, int, int, tuple[int, int] | None]] = []
    pos, depth, key = start + 1, 1, None
    key_at = 0
    while pos < len(text) and depth > 0:
        char = text[pos]
        if char == '"':
            end = _string_end(text, pos)
            if depth == 1 and key is None:
                key, key_at = json.loads(text[pos:end]), pos
            elif depth == 1 and key is not None:
                members.append((key, key_at, pos, (pos + 1, end - 1)))
                key = None
            pos = end
            continue
        if char in "{[":
            if depth == 1 and key is not None:
                members.append((key, key_at, pos, None))
                key = None
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 1 and key is not None:
            members.append((key, key_at, pos, None))  # a number, true, false, null
            key = None
        pos += 1
    return members


def update_package_json(text: str, versions: dict[str, str]) -> tuple[str, list[tuple[str, str, str]]]:
    """`text` with the ranges of the packages in `versions` updated in every dependency section."""
    top = text.index("{")
    edits: list[tuple[int, int, str]] = []
    changes: list[tuple[str, str, str]] = []
    for key, _, value_at, _ in _json_object_members(text, top):
        if key not in NPM_SECTIONS or text[value_at] != "{":
            continue
        for name, _, _, span in _json_object_members(text, value_at):
            if name not in versions or span is None:
                continue
            old = json.loads(f'"{text[span[0]:span[1]]}"')
            updated = new_range(old, versions[name], "package.json")
            if updated is not None and updated != old:
                edits.append((span[0], span[1], updated))
                changes.append((name, old, updated))
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    return text, changes


_TABLE = re.compile(r"^[ \t]*\[([^\[\]]+)\][ \t]*(?:#.*)?$", re.MULTILINE)
_DEPENDENCIES = re.compile(r"^[ \t]*dependencies[ \t]*=[ \t]*\[", re.MULTILINE)


def update_pyproject(text: str, versions: dict[str, str]) -> tuple[str, list[tuple[str, str, str]]]:
    """`text` with the requirements of the `versions` packages (PEP 503 names) updated in `[project] dependencies`."""
    tables = list(_TABLE.finditer(text))
    project = next((i for i, t in enumerate(tables) if t.group(1).strip() == "project"), None)
    if project is None:
        return text, []
    end = tables[project + 1].start() if project + 1 < len(tables) else len(text)
    array = _DEPENDENCIES.search(text, tables[project].end(), end)
    if array is None:
        return text, []
    wanted = {normalized(name, "pyproject"): version for name, version in versions.items()}
    edits: list[tuple[int, int, str]] = []
    changes: list[tuple[str, str, str]] = []
    pos, depth = array.end(), 1
    while pos < len(text) and depth > 0:
        char = text[pos]
        if char in "\"'":
            close = _string_end(text, pos)
            requirement = text[pos + 1 : close - 1]
            name = _PEP508_NAME.match(requirement)
            if name and normalized(name.group(1), "pyproject") in wanted:
                rest = requirement[name.end():]
                extras = re.match(r"\s*\[[^\]]*\]", rest)
                head = name.group(0) + (extras.group(0) if extras else "")
                spec, marker, tail = rest[len(head) - name.end():].partition(";")
                try:
                    updated = new_range(spec, wanted[normalized(name.group(1), "pyproject")], "pyproject")
                except UpperBoundError as exc:
                    raise ConfigError(f"{requirement!r}: {exc}; widen the range by hand") from None
                if updated is not None and updated != spec:
                    value = head + updated + (marker + tail if marker else "")
                    edits.append((pos + 1, close - 1, value))
                    changes.append((name.group(1), requirement, value))
            pos = close
            continue
        if char == "#":
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        pos += 1
    for start, stop, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[stop:]
    return text, changes
