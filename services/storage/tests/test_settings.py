"""Settings come from VWMP_* variables with the documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_storage.settings import StorageSettings


def test_defaults_put_sqlite_in_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("VWMP_DATABASE_URL", "VWMP_DEFINITIONS_DIR", "VWMP_STORAGE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VWMP_DATA_DIR", str(tmp_path))
    settings = StorageSettings()
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path.resolve() / 'vwmp.db'}"
    assert settings.definitions_dir is None
    assert settings.storage_port == 50051


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VWMP_DATABASE_URL", "postgresql+psycopg://db/vwmp")
    monkeypatch.setenv("VWMP_DEFINITIONS_DIR", str(tmp_path / "defs"))
    monkeypatch.setenv("VWMP_STORAGE_PORT", "6000")
    settings = StorageSettings()
    assert settings.resolved_database_url() == "postgresql+psycopg://db/vwmp"
    assert settings.definitions_dir == tmp_path / "defs"
    assert settings.storage_port == 6000
