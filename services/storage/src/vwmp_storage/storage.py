"""Wires the storage domain together from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vwmp_storage import migrate
from vwmp_storage.audit import AuditTrail
from vwmp_storage.database import Database
from vwmp_storage.definitions import DefinitionStore
from vwmp_storage.definitions_files import FileDefinitionStore
from vwmp_storage.definitions_sql import SqlDefinitionStore
from vwmp_storage.leases import LeaseStore
from vwmp_storage.platform_config import PlatformConfig
from vwmp_storage.runs import RunStore
from vwmp_storage.tokens import TokenStore
from vwmp_storage.transitions import TransitionRecorder
from vwmp_storage.triggers import TriggerStore


@dataclass
class Storage:
    """Every store of the service, sharing one database."""

    database: Database
    definitions: DefinitionStore
    runs: RunStore
    transitions: TransitionRecorder
    leases: LeaseStore
    tokens: TokenStore
    audit: AuditTrail
    config: PlatformConfig
    triggers: TriggerStore

    def close(self) -> None:
        """Release the database connections."""
        self.database.dispose()


def open_storage(
    database_url: str, definitions_dir: Path | None = None, pool_size: int = 16, run_migrations: bool = True
) -> Storage:
    """Open the database (migrated to head unless told otherwise) and build every store."""
    database = Database(database_url, pool_size=pool_size)
    if run_migrations:
        migrate.upgrade(database)
    definitions: DefinitionStore = (
        FileDefinitionStore(definitions_dir) if definitions_dir else SqlDefinitionStore(database)
    )
    return Storage(
        database=database,
        definitions=definitions,
        runs=RunStore(database, definitions),
        transitions=TransitionRecorder(database),
        leases=LeaseStore(database),
        tokens=TokenStore(database),
        audit=AuditTrail(database),
        config=PlatformConfig(database),
        triggers=TriggerStore(database),
    )
