"""Run the Alembic migrations shipped in the package (`upgrade head` at start-up)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from vwmp_storage import dialect
from vwmp_storage.database import Database


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations inside the package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", "vwmp_storage:migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe when several replicas start at once."""
    config = alembic_config(database.url)
    with database.write() as conn:
        dialect.lock_for_migration(conn)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
