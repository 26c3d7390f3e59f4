"""The file definition store: one YAML file per version, readable and diffable in git.

Layout (`VWMP_DEFINITIONS_DIR`):

    <dir>/<name>/v0001.yaml     version 1 (first line: a `# vwmp: {...}` comment with
    <dir>/<name>/v0002.yaml     created_at/created_by; the rest is the definition)
    <dir>/<name>/ARCHIVED       present while the workflow is archived (who and when)

Versions are never rewritten: a new version file is published with a hard link,
which fails if the file already exists, so two writers can never both save the
same version even across processes.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from vwmp_common.timeutil import iso, parse_iso, utcnow

from vwmp_storage.definitions import (
    NAME_PATTERN,
    WorkflowVersion,
    check_definition,
    check_expected,
    check_name,
    check_version,
)
from vwmp_storage.errors import AlreadyExists, FailedPrecondition, NotFound

ARCHIVED_MARKER = "ARCHIVED"
_VERSION_FILE = re.compile(r"^v(\d+)\.yaml$")
_HEADER = "# vwmp: "


def version_file_name(version: int) -> str:
    """`v0001.yaml` for version 1 (sorts by name up to version 9999)."""
    return f"v{version:04d}.yaml"


class FileDefinitionStore:
    """Definitions as YAML files in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def create(self, name: str, definition_json: str, created_by: str) -> WorkflowVersion:
        check_name(name)
        definition = check_definition(definition_json)
        folder = self.root / name
        with self._lock:
            try:
                folder.mkdir()
            except FileExistsError:
                if self._version_numbers(folder):
                    archived = (folder / ARCHIVED_MARKER).exists()
                    suffix = " (archived: save a new version with PutWorkflow to restore it)" if archived else ""
                    raise AlreadyExists(f"workflow {name!r} already exists{suffix}") from None
            try:
                return self._publish(folder, name, 1, definition, created_by)
            except FileExistsError:
                raise AlreadyExists(f"workflow {name!r} already exists") from None

    def put(self, name: str, definition_json: str, created_by: str, expected_version: int) -> WorkflowVersion:
        check_name(name)
        definition = check_definition(definition_json)
        check_version(expected_version, "expected_version")
        folder = self.root / name
        with self._lock:
            latest = self._latest(folder, name)
            check_expected(name, latest, expected_version)
            try:
                saved = self._publish(folder, name, latest + 1, definition, created_by)
            except FileExistsError:
                raise FailedPrecondition(
                    f"workflow {name!r} was saved by someone else meanwhile (reload and save again)"
                ) from None
            (folder / ARCHIVED_MARKER).unlink(missing_ok=True)
        return saved

    def get(self, name: str, version: int = 0) -> WorkflowVersion:
        check_name(name)
        check_version(version)
        folder = self.root / name
        latest = self._latest(folder, name)
        if version > latest:
            raise NotFound(f"workflow {name!r} has no version {version} (latest is {latest})")
        wanted = version or latest
        path = folder / version_file_name(wanted)
        if not path.exists():
            raise NotFound(f"workflow {name!r} has no version {wanted} (latest is {latest})")
        return self._load(path, name, wanted, (folder / ARCHIVED_MARKER).exists())

    def list(self, include_archived: bool = False) -> list[WorkflowVersion]:
        found = []
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not NAME_PATTERN.fullmatch(folder.name):
                continue
            numbers = self._version_numbers(folder)
            archived = (folder / ARCHIVED_MARKER).exists()
            if not numbers or (archived and not include_archived):
                continue
            found.append(self._load(folder / version_file_name(numbers[-1]), folder.name, numbers[-1], archived))
        return found

    def versions(self, name: str) -> builtins.list[WorkflowVersion]:
        check_name(name)
        folder = self.root / name
        numbers = self._version_numbers(folder)
        if not numbers:
            raise NotFound(f"workflow {name!r} not found")
        archived = (folder / ARCHIVED_MARKER).exists()
        return [self._load(folder / version_file_name(n), name, n, archived) for n in numbers]

    def archive(self, name: str, actor: str) -> WorkflowVersion:
        check_name(name)
        folder = self.root / name
        with self._lock:
            self._latest(folder, name)
            marker = folder / ARCHIVED_MARKER
            if not marker.exists():
                marker.write_text(yaml.safe_dump({"archived_at": iso(utcnow()), "archived_by": actor}))
        return self.get(name)

    def _latest(self, folder: Path, name: str) -> int:
        numbers = self._version_numbers(folder)
        if not numbers:
            raise NotFound(f"workflow {name!r} not found")
        return numbers[-1]

    @staticmethod
    def _version_numbers(folder: Path) -> builtins.list[int]:
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(m.group(1)) for n in names if (m := _VERSION_FILE.match(n)))

    @staticmethod
    def _publish(folder: Path, name: str, version: int, definition: str, created_by: str) -> WorkflowVersion:
        now = utcnow()
        header = json.dumps({"version": version, "created_at": iso(now), "created_by": created_by})
        body = yaml.safe_dump(json.loads(definition), sort_keys=False, allow_unicode=True)
        temp = folder / f".tmp-{uuid.uuid4().hex}"
        with open(temp, "x", encoding="utf-8") as handle:
            handle.write(f"{_HEADER}{header}\n{body}")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, folder / version_file_name(version))
        finally:
            temp.unlink()
        return WorkflowVersion(name, version, definition, now, created_by)

    @staticmethod
    def _load(path: Path, name: str, version: int, archived: bool) -> WorkflowVersion:
        text = path.read_text(encoding="utf-8")
        meta: dict[str, Any] = {}
        first_line = text.split("\n", 1)[0]
        if first_line.startswith(_HEADER):
            try:
                meta = json.loads(first_line[len(_HEADER) :])
            except ValueError:
                meta = {}
        definition = yaml.safe_load(text) or {}
        created_at = _parse_time(meta.get("created_at")) or datetime.fromtimestamp(path.stat().st_mtime, UTC)
        return WorkflowVersion(
            name=name,
            version=version,
            # Hand-edited YAML may hold dates; JSON has none, so they become text.
            definition_json=json.dumps(definition, ensure_ascii=False, separators=(",", ":"), default=str),
            created_at=created_at,
            created_by=str(meta.get("created_by", "")),
            archived=archived,
        )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
