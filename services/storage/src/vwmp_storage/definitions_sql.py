"""The SQL definition store (default): workflows + immutable workflow_versions rows."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from vwmp_common.timeutil import utcnow

from vwmp_storage import dialect
from vwmp_storage.database import Database
from vwmp_storage.definitions import (
    WorkflowVersion,
    check_definition,
    check_expected,
    check_name,
    check_version,
)
from vwmp_storage.errors import AlreadyExists, NotFound
from vwmp_storage.models import workflow_versions, workflows

_COLUMNS = (
    workflow_versions.c.name,
    workflow_versions.c.version,
    workflow_versions.c.definition,
    workflow_versions.c.created_at,
    workflow_versions.c.created_by,
    workflows.c.archived_at,
)
_JOINED = workflow_versions.join(workflows, workflows.c.name == workflow_versions.c.name)
# Built once: every created and claimed run reads its pinned version (see transitions.py).
_VERSION = select(*_COLUMNS).select_from(_JOINED).where(
    workflow_versions.c.name == bindparam("name_key"), workflow_versions.c.version == bindparam("version_key"))
_LATEST = select(*_COLUMNS).select_from(_JOINED).where(
    workflow_versions.c.name == bindparam("name_key")).order_by(workflow_versions.c.version.desc()).limit(1)


def _record(row: Row[*tuple[Any, ...]]) -> WorkflowVersion:
    return WorkflowVersion(
        name=row.name,
        version=row.version,
        definition_json=row.definition,
        created_at=row.created_at,
        created_by=row.created_by,
        archived=row.archived_at is not None,
    )


class SqlDefinitionStore:
    """Definitions in the `workflows` and `workflow_versions` tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, name: str, definition_json: str, created_by: str) -> WorkflowVersion:
        check_name(name)
        definition = check_definition(definition_json)
        now = utcnow()
        try:
            with self.database.write() as conn:
                existing = conn.execute(select(workflows.c.archived_at).where(workflows.c.name == name)).first()
                if existing is not None:
                    raise AlreadyExists(_taken(name, existing.archived_at is not None))
                conn.execute(
                    insert(workflows).values(
                        name=name, created_at=now, created_by=created_by, archived_at=None, archived_by=""
                    )
                )
                conn.execute(
                    insert(workflow_versions).values(
                        name=name, version=1, definition=definition, created_at=now, created_by=created_by
                    )
                )
        except IntegrityError:
            raise AlreadyExists(_taken(name, False)) from None
        return WorkflowVersion(name, 1, definition, now, created_by)

    def put(self, name: str, definition_json: str, created_by: str, expected_version: int) -> WorkflowVersion:
        check_name(name)
        definition = check_definition(definition_json)
        check_version(expected_version, "expected_version")
        now = utcnow()
        with self.database.write() as conn:
            self._lock_workflow(conn, name)
            latest = self._latest(conn, name)
            check_expected(name, latest, expected_version)
            conn.execute(
                insert(workflow_versions).values(
                    name=name,
                    version=latest + 1,
                    definition=definition,
                    created_at=now,
                    created_by=created_by,
                )
            )
            conn.execute(update(workflows).where(workflows.c.name == name).values(archived_at=None, archived_by=""))
        return WorkflowVersion(name, latest + 1, definition, now, created_by)

    def get(self, name: str, version: int = 0) -> WorkflowVersion:
        check_name(name)
        check_version(version)
        with self.database.read() as conn:
            row = conn.execute(_VERSION if version else _LATEST, {"name_key": name, "version_key": version}).first()
            if row is None:
                latest = self._latest(conn, name, missing_ok=True)
                raise NotFound(_missing(name, version, latest))
        return _record(row)

    def list(self, include_archived: bool = False) -> list[WorkflowVersion]:
        latest = (
            select(workflow_versions.c.name, func.max(workflow_versions.c.version).label("version"))
            .group_by(workflow_versions.c.name)
            .subquery()
        )
        stmt = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .join(
                latest,
                (latest.c.name == workflow_versions.c.name) & (latest.c.version == workflow_versions.c.version),
            )
            .order_by(workflow_versions.c.name)
        )
        if not include_archived:
            stmt = stmt.where(workflows.c.archived_at.is_(None))
        with self.database.read() as conn:
            return [_record(row) for row in conn.execute(stmt)]

    def versions(self, name: str) -> builtins.list[WorkflowVersion]:
        check_name(name)
        stmt = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(workflow_versions.c.name == name)
            .order_by(workflow_versions.c.version)
        )
        with self.database.read() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            raise NotFound(f"workflow {name!r} not found")
        return [_record(row) for row in rows]

    def archive(self, name: str, actor: str) -> WorkflowVersion:
        check_name(name)
        with self.database.write() as conn:
            self._lock_workflow(conn, name)
            conn.execute(
                update(workflows)
                .where(workflows.c.name == name, workflows.c.archived_at.is_(None))
                .values(archived_at=utcnow(), archived_by=actor)
            )
        return self.get(name)

    @staticmethod
    def _lock_workflow(conn: Connection, name: str) -> None:
        stmt = dialect.lock_for_update(select(workflows.c.name).where(workflows.c.name == name), conn)
        if conn.execute(stmt).first() is None:
            raise NotFound(f"workflow {name!r} not found")

    @staticmethod
    def _latest(conn: Connection, name: str, missing_ok: bool = False) -> int:
        stmt = select(func.max(workflow_versions.c.version)).where(workflow_versions.c.name == name)
        latest = conn.execute(stmt).scalar()
        if latest is None and not missing_ok:
            raise NotFound(f"workflow {name!r} not found")
        return int(latest or 0)


def _taken(name: str, archived: bool) -> str:
    suffix = " (archived: save a new version with PutWorkflow to restore it)" if archived else ""
    return f"workflow {name!r} already exists{suffix}"


def _missing(name: str, version: int, latest: int) -> str:
    if not latest:
        return f"workflow {name!r} not found"
    return f"workflow {name!r} has no version {version} (latest is {latest})"
