"""Settings of the storage service (the `VWMP_*` operator contract)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from vwmp_common.settings import ServiceSettings


class StorageSettings(ServiceSettings):
    """What the storage service reads from the environment."""

    database_url: str = Field(
        "",
        description="SQLAlchemy URL (sqlite:///... or postgresql+psycopg://...); "
        "default: SQLite file vwmp.db in VWMP_DATA_DIR",
    )
    definitions_dir: Path | None = Field(
        None,
        description="When set, workflow definitions are stored as YAML files in this folder instead of SQL",
    )
    sync_workers: int = Field(16, description="Threads serving RPCs (SQL work is synchronous)")

    def resolved_database_url(self) -> str:
        """The database URL, falling back to the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vwmp.db').resolve()}"
