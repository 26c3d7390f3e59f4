"""WebSocket streams of run events.

Authentication (the browser cannot set headers on a WebSocket): offer the subprotocols
`vwmp.v1` and `bearer.<token>` — the server answers with `vwmp.v1`, so the secret never lands in
a URL or an access log. `?token=<token>` and an `Authorization: Bearer` header (non-browser
clients) work too. The Origin must be the gateway's own host or one of VWMP_ALLOWED_ORIGINS.
A token that is revoked or expires while the socket is open closes it with code 4401.
Clients only send small control frames: a message larger than VWMP_WS_MAX_FRAME_BYTES (64 KiB by
default) closes the socket with code 1009 (message too big), before it is read whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import grpc
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState
from vwmp_common.states import TERMINAL_RUN_STATES, RunState
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.auth import Principal, bearer_secret
from vwmp_gateway.deps import Backends
from vwmp_gateway.events import AllRunsPump, RunEventPump
from vwmp_gateway.problems import PROBLEM_JSON, Problem
from vwmp_gateway.rbac import API, allows, rule_for

log = logging.getLogger(__name__)
router = APIRouter(tags=["stream"])

SUBPROTOCOL = "vwmp.v1"
BEARER_PREFIX = "bearer."
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_UNAVAILABLE = 1013
CLOSE_TOO_BIG = 1009


class StreamRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _origin_allowed(ws: WebSocket, allowed: list[str]) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # not a browser: browsers always send Origin
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    return urlsplit(origin).netloc.lower() == (ws.headers.get("host") or "").lower()


def _secret(ws: WebSocket) -> tuple[str | None, str | None]:
    """The token secret and the subprotocol to answer with."""
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    for protocol in offered:
        if protocol.startswith(BEARER_PREFIX) and len(protocol) > len(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX):], SUBPROTOCOL if SUBPROTOCOL in offered else None
    answer = SUBPROTOCOL if SUBPROTOCOL in offered else None
    header = bearer_secret(ws.headers.get("authorization"))
    if header:
        return header, answer
    return ws.query_params.get("token") or None, answer


async def _refuse(ws: WebSocket, status: int, detail: str) -> None:
    from starlette.responses import JSONResponse

    body = Problem(status, detail).body()
    if "websocket.http.response" in (ws.scope.get("extensions") or {}):
        await ws.send_denial_response(JSONResponse(body, status_code=status, media_type=PROBLEM_JSON))
    else:
        await ws.close(code=CLOSE_UNAUTHORIZED if status == 401 else CLOSE_FORBIDDEN)


async def _admit(ws: WebSocket, backends: Backends, template: str, target: str) -> tuple[Principal, str, str | None]:
    """Check Origin, token and role before accepting; audit a refusal."""
    rule = rule_for("WS", template)
    if not _origin_allowed(ws, backends.settings.allowed_origins):
        await backends.auditor.record("anonymous", rule.action, target, "denied", {"reason": "origin"})
        raise StreamRefused(403, "This Origin may not open a stream")
    secret, subprotocol = _secret(ws)
    if not secret:
        await backends.auditor.record("anonymous", rule.action, target, "denied", {"reason": "no token"})
        raise StreamRefused(401, "Send a token: subprotocols 'vwmp.v1, bearer.<token>' or ?token=")
    try:
        principal = await backends.verifier.verify(secret)
    except Problem as problem:
        if problem.status == 401:
            await backends.auditor.record("anonymous", rule.action, target, "denied", {"reason": "token"})
        raise StreamRefused(problem.status, problem.detail) from None
    if not allows(principal.role, rule.role):
        await backends.auditor.record(principal.name, rule.action, target, "denied", {"reason": "role"})
        raise StreamRefused(403, f"Role {principal.role!r} may not open this stream")
    return principal, secret, subprotocol


async def _serve(ws: WebSocket, backends: Backends, secret: str, pump_run: Any) -> None:
    """Run the pump until the client leaves or the token stops being valid."""
    loop = asyncio.get_running_loop()
    next_check = loop.time() + backends.settings.ws_reverify_seconds

    async def tick() -> None:
        nonlocal next_check
        if loop.time() < next_check:
            return
        next_check = loop.time() + backends.settings.ws_reverify_seconds
        try:
            await backends.verifier.verify(secret, fresh=True)
        except Problem as problem:
            if problem.status == 401:
                raise _TokenGone from None

    limit = backends.settings.ws_max_frame_bytes

    async def watch_client() -> None:
        # uvicorn refuses a larger frame itself (ws_max_size); this guards any other ASGI server.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
                if size > limit:
                    await _close(ws, CLOSE_TOO_BIG, f"message over {limit} bytes")
                    return

    pump = asyncio.create_task(pump_run(tick))
    watcher = asyncio.create_task(watch_client())
    try:
        done, _ = await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if pump in done:
            exc = pump.exception()
            if isinstance(exc, _TokenGone):
                await _close(ws, CLOSE_UNAUTHORIZED, "token revoked or expired")
            elif isinstance(exc, grpc.aio.AioRpcError):
                await _close(ws, CLOSE_UNAVAILABLE, "storage unavailable")
            elif exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                log.error("stream failed", exc_info=exc)
                await _close(ws, 1011, "internal error")
    finally:
        for task in (pump, watcher):
            task.cancel()
        for task in (pump, watcher):
            with contextlib.suppress(BaseException):
                await task


class _TokenGone(Exception):
    pass


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason)


@router.websocket("/runs/{run_id}/stream")
async def run_stream(ws: WebSocket, run_id: str, after: int = Query(0, ge=0, le=2**63 - 1)) -> None:
    """Live events of one run from seq `after` on, history first (see the module docstring for auth)."""
    backends: Backends = ws.app.state.backends
    try:
        _, secret, subprotocol = await _admit(ws, backends, f"{API}/runs/{{run_id}}/stream", f"runs/{run_id}")
        try:
            # its state, not its steps (a 10,000-step run is 2 MB)
            run = await backends.storage.GetRun(storage_pb2.GetRunRequest(id=run_id, select_steps=True))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise StreamRefused(404, f"No run {run_id!r}") from None
            raise StreamRefused(503, "Storage is unavailable; try again") from None
    except StreamRefused as refused:
        await _refuse(ws, refused.status, refused.detail)
        return
    await ws.accept(subprotocol=subprotocol)

    async def send(event: dict[str, object]) -> None:
        await ws.send_json(event)

    pump = RunEventPump(
        backends.storage, backends.feed, run_id, after, send,
        backends.settings.ws_idle_backfill_seconds, RunState.from_number(run.state) in TERMINAL_RUN_STATES,
    )
    await _serve(ws, backends, secret, pump.run)


@router.websocket("/stream")
async def all_stream(ws: WebSocket) -> None:
    """Live events of every run (no history: fetch a run's events over REST first)."""
    backends: Backends = ws.app.state.backends
    try:
        _, secret, subprotocol = await _admit(ws, backends, f"{API}/stream", "stream")
    except StreamRefused as refused:
        await _refuse(ws, refused.status, refused.detail)
        return
    await ws.accept(subprotocol=subprotocol)

    async def send(event: dict[str, object]) -> None:
        await ws.send_json(event)

    pump = AllRunsPump(backends.storage, backends.feed, send, backends.settings.ws_idle_backfill_seconds)
    await _serve(ws, backends, secret, pump.run)
