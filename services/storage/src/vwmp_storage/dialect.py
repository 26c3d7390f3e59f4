"""Every difference between SQLite and PostgreSQL lives here, and only here.

SQLite (the embedded default) needs: WAL + synchronous=NORMAL for fast commits,
a busy timeout, `BEGIN IMMEDIATE` for write transactions (a deferred
transaction that later writes can fail with "database is locked" instead of
waiting), one writer at a time inside the process, and timezone handling
(it stores datetimes without an offset). PostgreSQL gets row locks instead:
`FOR UPDATE` on the run row and `FOR UPDATE SKIP LOCKED` when claiming runs.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, Select, String, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

WRITE_OPTION = "vwmp_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK_KEY = 0x76776D70  # "vwmp": one migrator at a time on a shared PostgreSQL
_ADMISSION_LOCK_KEY = 0x766B6579  # "vkey": one concurrency-key admitter at a time on PostgreSQL

S = TypeVar("S", bound=Select[Any])


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both dialects (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class json_text(FunctionElement[str]):
    """`json_text(column, key)`: the value at `key` of a JSON object stored as text, as text: a string
    without its quotes, a number as written, true/false; NULL when absent. What a search by parameter
    value compares with (`param.repo=shop`, `param.count=3`), the same on both dialects."""

    type = String()
    inherit_cache = True
    name = "json_text"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    path = f"'$.' || json_quote({key})"  # a quoted member name: any character of a key is literal
    return (f"CASE json_type({column}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract({column}, {path}) AS TEXT) END")


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST({column} AS JSONB) ->> CAST({key} AS TEXT))"


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    """Whether the database is SQLite."""
    return engine_or_conn.dialect.name == "sqlite"


def build_engine(url: str, pool_size: int = 16) -> Engine:
    """An engine configured for the dialect of `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own implicit BEGIN is disabled so that _on_begin decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """In-process writer serialisation: a lock for SQLite, nothing for PostgreSQL (row locks)."""
    return threading.Lock() if is_sqlite(engine) else contextlib.nullcontext()


def lock_for_update(stmt: S, conn: Connection, skip_locked: bool = False) -> S:
    """Row-lock the selected rows on PostgreSQL; SQLite writers are already serialised."""
    if is_sqlite(conn):
        return stmt
    return stmt.with_for_update(skip_locked=skip_locked)


def lock_for_migration(conn: Connection) -> None:
    """Make concurrent start-ups against one PostgreSQL migrate one after the other."""
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


def lock_for_admission(conn: Connection) -> None:
    """Serialise concurrency-key admissions (claims, creations) until the transaction ends.

    Row locks cannot do it: the slots of a key are the absence of rows, so two PostgreSQL
    transactions could each count a free slot and both take it. SQLite writers are serialised
    already (BEGIN IMMEDIATE and the process lock).
    """
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADMISSION_LOCK_KEY})
