"""The roles a token carries, lowest first: each includes what the ones before it may do.

Declared once: the gateway checks routes with them, storage checks tokens against them, the
engine ranks approvers by them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do, each role including the ones before it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OPERATOR = "operator"
    ADMIN = "admin"


ROLES = tuple(Role)
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
