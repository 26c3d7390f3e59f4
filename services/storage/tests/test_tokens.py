"""Tokens: secrets shown once and stored hashed; revocation and expiry."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select
from vwmp_storage.errors import InvalidArgument, NotFound, Unauthenticated
from vwmp_storage.models import tokens
from vwmp_storage.storage import Storage


def test_secret_is_returned_once_and_only_its_hash_is_stored(storage: Storage) -> None:
    token, secret = storage.tokens.create("ci", "operator", 0, "admin")
    assert secret.startswith("vwmp_") and len(secret) > 40
    with storage.database.read() as conn:
        row = conn.execute(select(tokens)).one()
    assert secret not in [str(value) for value in row]
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert storage.tokens.verify(secret) == token
    assert token.expires_at is None and token.role == "operator"


def test_unknown_secret_is_unauthenticated(storage: Storage) -> None:
    storage.tokens.create("ci", "viewer", 0, "admin")
    with pytest.raises(Unauthenticated, match="unknown token"):
        storage.tokens.verify("vwmp_not-a-real-one")
    with pytest.raises(Unauthenticated):
        storage.tokens.verify("")


def test_revoked_token_is_refused_at_once(storage: Storage) -> None:
    token, secret = storage.tokens.create("ci", "editor", 0, "admin")
    revoked = storage.tokens.revoke(token.id)
    assert revoked.revoked_at is not None
    assert storage.tokens.revoke(token.id).revoked_at == revoked.revoked_at
    with pytest.raises(Unauthenticated, match="revoked"):
        storage.tokens.verify(secret)
    with pytest.raises(NotFound):
        storage.tokens.revoke("nope")


def test_expired_token_is_refused(storage: Storage) -> None:
    token, secret = storage.tokens.create("short", "admin", 0.05, "admin")
    assert token.expires_at is not None
    assert storage.tokens.verify(secret).id == token.id
    time.sleep(0.1)
    with pytest.raises(Unauthenticated, match="expired"):
        storage.tokens.verify(secret)


def test_list_shows_every_token_without_secrets(storage: Storage) -> None:
    first, _ = storage.tokens.create("one", "viewer", 0, "admin")
    second, _ = storage.tokens.create("two", "admin", 3600, "admin")
    listed = storage.tokens.list()
    assert [t.id for t in listed] == [first.id, second.id]
    assert not hasattr(listed[0], "secret") and not hasattr(listed[0], "secret_hash")


@pytest.mark.parametrize(
    ("name", "role", "expires", "message"),
    [
        ("ci", "root", 0, "role: 'root' is not one of"),
        ("", "viewer", 0, "name: required"),
        ("ci", "viewer", -1, "expires"),
    ],
)
def test_bad_token_requests_are_invalid_argument(
    storage: Storage, name: str, role: str, expires: float, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        storage.tokens.create(name, role, expires, "admin")
