"""The published JSON Schemas (served by the gateway at /api/v1/schemas/...)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def workflow_schema() -> dict[str, Any]:
    """The JSON Schema every workflow definition must match (Draft 2020-12)."""
    return _load("workflow.schema.json")


@cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema of the platform configuration document (GET/PUT /config)."""
    return _load("config.schema.json")


def _load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(files(__package__).joinpath(name).read_text())
    return schema
