"""The audit trail: who did what to which object, and how it ended. Append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from vwmp_common.timeutil import utcnow

from vwmp_storage.database import Database
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.jsontext import normalise_object
from vwmp_storage.models import audit

OUTCOMES = ("ok", "denied", "error")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail_json: str


class AuditTrail:
    """Appends and lists audit entries; there is deliberately no update or delete."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def append(
        self,
        actor: str,
        action: str,
        target: str = "",
        outcome: str = "ok",
        detail_json: str = "",
        at: datetime | None = None,
    ) -> AuditEntry:
        """Record one entry (`at` defaults to now)."""
        if not action:
            raise InvalidArgument("action: required")
        outcome = outcome or "ok"
        if outcome not in OUTCOMES:
            raise InvalidArgument(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
        detail = normalise_object(detail_json, "detail_json")
        moment = at or utcnow()
        values = {
            "at": moment,
            "actor": actor,
            "action": action,
            "target": target,
            "outcome": outcome,
            "detail": detail,
        }
        with self.database.write() as conn:
            entry_id = conn.execute(insert(audit).values(values).returning(audit.c.id)).scalar_one()
        return AuditEntry(int(entry_id), moment, actor, action, target, outcome, detail)

    def list(self, limit: int = 0, offset: int = 0) -> list[AuditEntry]:
        """Entries newest first."""
        if limit < 0 or offset < 0:
            raise InvalidArgument("limit/offset: must not be negative")
        stmt = (
            select(audit)
            .order_by(audit.c.at.desc(), audit.c.id.desc())
            .limit(min(limit or DEFAULT_LIMIT, MAX_LIMIT))
            .offset(offset)
        )
        with self.database.read() as conn:
            return [
                AuditEntry(row.id, row.at, row.actor, row.action, row.target, row.outcome, row.detail)
                for row in conn.execute(stmt)
            ]
