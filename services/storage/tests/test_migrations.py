"""The Alembic migrations produce exactly the schema of the models, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from vwmp_storage import migrate
from vwmp_storage.database import Database
from vwmp_storage.models import Base


def test_models_and_migrations_agree(database_url: str) -> None:
    database = Database(database_url)
    try:
        migrate.upgrade(database)
        with database.read() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        database.dispose()


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    database = Database(database_url)
    try:
        migrate.upgrade(database)
        migrate.upgrade(database)  # idempotent at head
        from alembic import command

        config = migrate.alembic_config(database.url)
        with database.write() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with database.read() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(database)
        with database.read() as conn:
            assert set(inspect(conn).get_table_names()) >= set(Base.metadata.tables)
    finally:
        database.dispose()
