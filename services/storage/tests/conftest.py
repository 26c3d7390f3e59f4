"""Fixtures: every repository test runs on SQLite (temp file) and on the real PostgreSQL.

A fresh PostgreSQL database is created once per session and dropped at the end;
tables are emptied before each test. `VWMP_TEST_DATABASES=sqlite` (or
`postgresql`) narrows the run to one database.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from vwmp_storage.definitions import DefinitionStore
from vwmp_storage.definitions_files import FileDefinitionStore
from vwmp_storage.models import Base
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage, open_storage

POSTGRES_ADMIN_URL = os.environ.get("VWMP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASES = [d.strip() for d in os.environ.get("VWMP_TEST_DATABASES", "sqlite,postgresql").split(",") if d.strip()]
# The PostgreSQL runs of a test are its integration tier; the SQLite ones stay unit tests.
DATABASE_PARAMS = [pytest.param(d, marks=pytest.mark.integration) if d == "postgresql" else d for d in DATABASES]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session, migrated to head."""
    name = f"vwmp_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        open_storage(url).close()
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=DATABASE_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vwmp.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    """Storage with SQL definitions on each database."""
    opened = open_storage(database_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(params=["sql", "files"])
def definition_store(request: pytest.FixtureRequest, storage: Storage, tmp_path: Path) -> DefinitionStore:
    """Both definition stores (the SQL one on each database): one suite runs against all."""
    if request.param == "files":
        return FileDefinitionStore(tmp_path / "definitions")
    return storage.definitions


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[Storage]:
    """Storage on SQLite only, for tests about the transport rather than the database."""
    opened = open_storage(f"sqlite:///{tmp_path / 'rpc.db'}")
    try:
        yield opened
    finally:
        opened.close()


SAMPLE_DEFINITION = {
    "apiVersion": "vwmp/v1",
    "kind": "Workflow",
    "metadata": {"name": "release", "type": "release"},
    "spec": {"steps": [{"id": "a", "uses": "core/noop"}, {"id": "b", "uses": "core/noop", "needs": ["a"]}]},
}


@pytest.fixture
def sample_definition() -> str:
    """A small workflow definition as JSON text."""
    return json.dumps(SAMPLE_DEFINITION)


@pytest.fixture
def new_run(storage: Storage, sample_definition: str) -> Callable[..., Run]:
    """Builds a queued run (creating its workflow on first use)."""

    def build(name: str = "release", steps: tuple[str, ...] = ("a", "b")) -> Run:
        if name not in {w.name for w in storage.definitions.list(include_archived=True)}:
            storage.definitions.create(name, sample_definition, "tester")
        return storage.runs.create(name, 0, '{"part": "patch"}', False, "tester", [(s, "core/noop") for s in steps])

    return build
