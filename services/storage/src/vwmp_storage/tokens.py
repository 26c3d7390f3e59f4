"""API tokens: random secrets shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from vwmp_common.roles import ROLES
from vwmp_common.timeutil import utcnow

from vwmp_storage.database import Database
from vwmp_storage.errors import InvalidArgument, NotFound, Unauthenticated
from vwmp_storage.models import tokens

SECRET_PREFIX = "vwmp_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for, not a secret


@dataclass(frozen=True, slots=True)
class Token:
    """A token as it may be shown: never its secret nor its hash."""

    id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


def hash_secret(secret: str) -> str:
    """The stored form of a secret: lookup by hash keeps verification free of secret comparisons."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    """Creates, verifies, lists and revokes tokens."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, name: str, role: str, expires_in_seconds: float, created_by: str) -> tuple[Token, str]:
        """A new token and its secret (the only time the secret exists outside the caller)."""
        if not name.strip():
            raise InvalidArgument("name: required")
        if len(name) > 200:
            raise InvalidArgument("name: at most 200 characters")
        if role not in ROLES:
            raise InvalidArgument(f"role: {role!r} is not one of {', '.join(ROLES)}")
        if expires_in_seconds < 0:
            raise InvalidArgument("expires_in_seconds: must not be negative (0 = never expires)")
        now = utcnow()
        token = Token(
            id=uuid.uuid4().hex,
            name=name,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in_seconds) if expires_in_seconds else None,
        )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self.database.write() as conn:
            conn.execute(
                insert(tokens).values(
                    id=token.id,
                    name=name,
                    role=role,
                    secret_hash=hash_secret(secret),
                    created_by=created_by,
                    created_at=now,
                    expires_at=token.expires_at,
                    revoked_at=None,
                )
            )
        return token, secret

    def verify(self, secret: str) -> Token:
        """The token of `secret`; UNAUTHENTICATED when unknown, revoked or expired."""
        if not secret:
            raise Unauthenticated("no token given")
        with self.database.read() as conn:
            row = conn.execute(select(tokens).where(tokens.c.secret_hash == hash_secret(secret))).first()
        if row is None:
            raise Unauthenticated("unknown token")
        token = _token(row)
        if token.revoked_at is not None:
            raise Unauthenticated(f"token {token.name!r} was revoked")
        if token.expires_at is not None and token.expires_at <= utcnow():
            raise Unauthenticated(f"token {token.name!r} has expired")
        return token

    def list(self) -> list[Token]:
        """Every token, oldest first."""
        with self.database.read() as conn:
            rows = conn.execute(select(tokens).order_by(tokens.c.created_at, tokens.c.id)).all()
        return [_token(row) for row in rows]

    def revoke(self, token_id: str) -> Token:
        """Revoke at once (idempotent: revoking twice keeps the first time)."""
        with self.database.write() as conn:
            conn.execute(
                update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"token {token_id!r} not found")
        return _token(row)


def _token(row: Row[Any]) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        role=row.role,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
