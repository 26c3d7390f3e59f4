"""The platform configuration: a versioned JSON document checked by a JSON Schema."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from vwmp_common import schemas
from vwmp_common.schema_errors import SchemaProblem, schema_problems
from vwmp_common.timeutil import utcnow

from vwmp_storage.database import Database
from vwmp_storage.errors import FailedPrecondition, InvalidArgument
from vwmp_storage.jsontext import dump, parse_object
from vwmp_storage.models import config_versions

# No `git` section: without one, commits are made as the repository's own user.name/user.email.
BUILT_IN_DEFAULTS: dict[str, Any] = {
    "release": {"allowed_branches": ["main", "release/*"]},
    "step_defaults": {},
}


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """One version of the configuration (version 0: built-in defaults, never saved)."""

    version: int
    document_json: str
    updated_at: datetime | None
    updated_by: str


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration document (published by vwmp_common; the gateway serves it)."""
    return schemas.config_schema()


@cache
def _validator() -> Draft202012Validator:
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def config_problems(document: Any) -> list[SchemaProblem]:
    """Every schema violation of `document`, in document order.

    An unknown field is reported at its own pointer rather than at its parent,
    so the editor can underline the field itself.
    """
    return schema_problems(_validator(), document)


def with_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every section it leaves out taken from the built-in defaults."""
    return {**copy.deepcopy(BUILT_IN_DEFAULTS), **document}


class PlatformConfig:
    """Reads and saves versions of the configuration document."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get(self) -> ConfigDocument:
        """The latest saved version, or the built-in defaults as version 0."""
        with self.database.read() as conn:
            row = conn.execute(select(config_versions).order_by(config_versions.c.version.desc()).limit(1)).first()
        if row is None:
            return ConfigDocument(0, dump(BUILT_IN_DEFAULTS), None, "")
        return ConfigDocument(row.version, row.document, row.updated_at, row.updated_by)

    def put(self, document_json: str, actor: str, expected_version: int = 0) -> ConfigDocument:
        """Validate and save a new version; sections left out get their defaults."""
        if not document_json.strip():
            raise InvalidArgument("document_json: required")
        document = parse_object(document_json, "document_json")
        problems = config_problems(document)
        if problems:
            raise InvalidArgument("configuration is not valid:\n" + "\n".join(str(p) for p in problems))
        if expected_version < 0:
            raise InvalidArgument("expected_version: must not be negative")
        text = dump(with_defaults(document))
        now = utcnow()
        try:
            with self.database.write() as conn:
                latest = int(conn.execute(select(func.max(config_versions.c.version))).scalar() or 0)
                if expected_version and expected_version != latest:
                    raise FailedPrecondition(
                        f"configuration is at version {latest}, not {expected_version} (reload and save again)"
                    )
                conn.execute(
                    insert(config_versions).values(version=latest + 1, document=text, updated_at=now, updated_by=actor)
                )
        except IntegrityError:
            raise FailedPrecondition(
                "configuration was saved by someone else meanwhile (reload and save again)"
            ) from None
        return ConfigDocument(latest + 1, text, now, actor)
