"""The audit trail entry point: every mutating call, denied call and run control, exactly once.

Recorded by one ASGI middleware just before the response starts, so a client that got its answer
can already read the entry. Only the route, the target and the outcome are stored, never a body
or a token secret.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from vwmp_common.clients import StorageStub
from vwmp_common.states import ControlAction
from vwmp_common.timeutil import to_timestamp, utcnow
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.rbac import API, rule_of_scope

log = logging.getLogger(__name__)

_VERBS = frozenset(ControlAction)


class Auditor:
    """Writes audit entries to storage; a failure is logged, never shown to the caller."""

    def __init__(self, storage: StorageStub) -> None:
        self._storage = storage

    async def record(
        self, actor: str, action: str, target: str, outcome: str, detail: dict[str, Any] | None = None
    ) -> None:
        entry = storage_pb2.AuditEntry(
            at=to_timestamp(utcnow()), actor=actor, action=action, target=target, outcome=outcome,
            detail_json=json.dumps(detail or {}),
        )
        try:
            await self._storage.AppendAudit(entry, timeout=5)
        except grpc.aio.AioRpcError as exc:
            log.error("audit entry not stored", extra={"fields": {
                "action": action, "target": target, "outcome": outcome, "grpc_code": exc.code().name}})


def outcome_of(status: int) -> str:
    """ok, denied (401/403) or error."""
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else "error"


def target_of(path: str) -> str:
    """The resource a request acts on: its path below /api/v1 without a trailing control verb."""
    relative = path[len(API):] if path.startswith(API) else path
    parts = [part for part in relative.split("/") if part]
    if parts and parts[-1] in _VERBS:
        parts = parts[:-1]
    return "/".join(parts)


class AuditMiddleware:
    """Records the audit entry of an HTTP request once, when its response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        done = False

        async def send_with_audit(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start" and not done:
                done = True
                await self._record(scope, int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_with_audit)

    async def _record(self, scope: Scope, status: int) -> None:
        rule = rule_of_scope(scope)
        if rule is None or status == 429:
            return
        outcome = outcome_of(status)
        if not rule.mutating and outcome != "denied":
            return
        state = scope.get("state") or {}
        user = state.get("user")
        actor = getattr(user, "name", None) or "anonymous"
        target = state.get("audit_target") or target_of(scope["path"])
        app = scope.get("app")
        backends = getattr(getattr(app, "state", None), "backends", None)
        if backends is None:
            return
        await backends.auditor.record(
            actor, rule.action, target, outcome, {"method": scope["method"], "status": status}
        )
