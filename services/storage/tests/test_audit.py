"""The audit trail is append-only and listed newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.storage import Storage


def test_audit_lists_newest_first_with_limit_and_offset(storage: Storage) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for minute in (1, 3, 2):
        storage.audit.append(
            "alice", "workflow.put", f"workflows/w{minute}", "ok", "", start + timedelta(minutes=minute)
        )
    latest = storage.audit.append("bob", "token.create", "tokens/x", "denied", '{"reason": "role"}')
    entries = storage.audit.list()
    assert [e.target for e in entries] == ["tokens/x", "workflows/w3", "workflows/w2", "workflows/w1"]
    assert entries[0] == latest and latest.detail_json == '{"reason":"role"}'
    assert latest.at.tzinfo is not None and latest.id > 0
    assert [e.target for e in storage.audit.list(limit=2, offset=1)] == ["workflows/w3", "workflows/w2"]


def test_audit_defaults_and_validation(storage: Storage) -> None:
    entry = storage.audit.append("alice", "run.cancel")
    assert (entry.outcome, entry.detail_json, entry.target) == ("ok", "{}", "")
    with pytest.raises(InvalidArgument, match="outcome"):
        storage.audit.append("alice", "run.cancel", outcome="maybe")
    with pytest.raises(InvalidArgument, match="action: required"):
        storage.audit.append("alice", "")
    with pytest.raises(InvalidArgument, match="detail_json"):
        storage.audit.append("alice", "x", detail_json="[")


def test_audit_has_no_way_to_change_history() -> None:
    from vwmp_storage.audit import AuditTrail

    assert {name for name in vars(AuditTrail) if not name.startswith("_")} == {"append", "list"}
