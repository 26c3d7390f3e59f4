"""Workflow definitions and their immutable versions, behind one interface.

Two implementations are chosen by configuration: SQL (default) and a folder of
YAML files (`VWMP_DEFINITIONS_DIR`) that a team can keep in git. Both enforce
the same rules, checked by one shared test suite.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vwmp_storage.errors import FailedPrecondition, InvalidArgument
from vwmp_storage.jsontext import normalise_object

# Names become folder names in the file store, so they must be safe as one path segment.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class NotLatest(FailedPrecondition):
    """A run asked for a version only while it is the workflow's latest, and it is not any more."""

    def __init__(self, name: str, version: int, latest: int) -> None:
        super().__init__(f"workflow {name!r}: version {version} is not the latest (version {latest} is)")
        self.latest = latest


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """One saved version of a workflow definition (definition as JSON text)."""

    name: str
    version: int
    definition_json: str
    created_at: datetime
    created_by: str
    archived: bool = False


class DefinitionStore(Protocol):
    """Where workflow definitions live; every save creates a new immutable version."""

    def create(self, name: str, definition_json: str, created_by: str) -> WorkflowVersion:
        """Create the workflow at version 1; ALREADY_EXISTS when the name is taken."""
        ...

    def put(self, name: str, definition_json: str, created_by: str, expected_version: int) -> WorkflowVersion:
        """Save version latest+1 (un-archives); FAILED_PRECONDITION when expected_version is stale."""
        ...

    def get(self, name: str, version: int = 0) -> WorkflowVersion:
        """One version, the latest when `version` is 0; NOT_FOUND when missing."""
        ...

    def list(self, include_archived: bool = False) -> list[WorkflowVersion]:
        """The latest version of every workflow, by name."""
        ...

    def versions(self, name: str) -> builtins.list[WorkflowVersion]:
        """Every version of one workflow, oldest first."""
        ...

    def archive(self, name: str, actor: str) -> WorkflowVersion:
        """Hide the workflow from lists; versions and runs are kept."""
        ...


def check_name(name: str, field: str = "name") -> str:
    """Return `name` if it is a valid workflow name, else INVALID_ARGUMENT naming the field."""
    if not NAME_PATTERN.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise InvalidArgument(
            f"{field}: {shown!r} is not a valid workflow name (1-63 characters: lowercase letters, "
            "digits, '.', '_', '-', starting with a letter or digit)"
        )
    return name


def check_definition(definition_json: str) -> str:
    """Return the definition as compact JSON text; it must be a non-empty JSON object."""
    if not definition_json.strip():
        raise InvalidArgument("definition_json: required")
    return normalise_object(definition_json, "definition_json")


def check_version(version: int, field: str = "version") -> int:
    """Versions are positive; 0 means latest where the API allows it."""
    if version < 0:
        raise InvalidArgument(f"{field}: must be 0 (latest) or a positive version, got {version}")
    return version


def check_expected(name: str, latest: int, expected_version: int) -> None:
    """The If-Match check of PutWorkflow."""
    if expected_version and expected_version != latest:
        raise FailedPrecondition(
            f"workflow {name!r} is at version {latest}, not {expected_version} (reload and save again)"
        )
