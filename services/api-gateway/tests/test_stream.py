"""WebSockets on a real uvicorn with REAL NATS and the real engine: backfill, live, duplicates, gaps,
NATS silence, auth, Origin.

Gaps and silence are produced the way they happen in production: the gateway listens on a second
NATS server and a relay carries (or drops) what the engine publishes on the first.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import nats
import pytest
from vwmp_common.subjects import event_msg_id, run_events_subject
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub
from vwmp_testkit.nats import NatsServer
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

UP_TO_THE_GATE = ["run.queued", "run.started", "step.started", "step.succeeded", "step.started",
                  "step.awaiting_approval"]
AFTER_APPROVAL = ["step.succeeded", "run.succeeded"]


def ws_url(gateway: Any, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + path


def bearer(secret: str) -> list[str]:
    return ["vwmp.v1", f"bearer.{secret}"]


def admin(backend: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.tokens['admin']}"}


async def start_run(gateway: Any, backend: Any, definition: Any) -> str:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        created = await client.post("/api/v1/workflows", json=definition(name), headers=admin(backend))
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "patch"}},
                                headers=admin(backend))
        assert run.status_code == 201, run.text
        return str(run.json()["id"])


async def at_the_gate(gateway: Any, backend: Any, run_id: str) -> None:
    """Wait until the engine parked the run at its approval gate (it then publishes nothing)."""
    async with httpx.AsyncClient(base_url=gateway.url) as client, asyncio.timeout(15):
        while True:
            run = (await client.get(f"/api/v1/runs/{run_id}", headers=admin(backend))).json()
            if any(s["id"] == "approve" and s["state"] == "awaiting_approval" for s in run["steps"]):
                return
            await asyncio.sleep(0.05)


async def approve(gateway: Any, backend: Any, run_id: str) -> None:
    """Approve as a second person (the starter may not), pinned to the plan the gate shows."""
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        run = (await client.get(f"/api/v1/runs/{run_id}", headers=admin(backend))).json()
        digest = next(s for s in run["steps"] if s["id"] == "approve")["outputs"]["plan_digest"]
        response = await client.post(f"/api/v1/runs/{run_id}/steps/approve/approve", json={"plan_digest": digest},
                                     headers={"Authorization": f"Bearer {backend.tokens['approver']}"})
        assert response.status_code == 200, response.text


async def receive(ws: Any, count: int, timeout: float) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), timeout)) for _ in range(count)]


@asynccontextmanager
async def relay(source_url: str, target_url: str, subject: str,
                drop: Callable[[int], bool]) -> AsyncIterator[list[int]]:
    """Carry what the engine publishes on `subject` to another NATS server, losing the seqs `drop` picks.

    Yields the seqs it dropped.
    """
    source, target = await nats.connect(source_url), await nats.connect(target_url)
    dropped: list[int] = []

    async def forward(msg: Any) -> None:
        seq = int(msg.headers["Nats-Msg-Id"].rsplit(":", 1)[1])
        if drop(seq):
            dropped.append(seq)
        else:
            await target.publish(msg.subject, msg.data, headers=msg.headers)

    try:
        await source.subscribe(subject, cb=forward)
        await source.flush()
        yield dropped
    finally:
        await source.close()
        await target.close()


@pytest.fixture
def partitioned_nats(tmp_path: Path) -> Any:
    """A NATS server the engine does not publish to: what the gateway hears only through `relay`."""
    with NatsServer(tmp_path / "nats-b") as server:
        yield server


async def test_backfill_then_live_then_duplicate_then_reconnect(make_live_gateway, backend, nats_server,
                                                                definition) -> None:
    with make_live_gateway(ws_idle_backfill_seconds=30.0) as gateway:
        run_id = await start_run(gateway, backend, definition)
        async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?after=0"),
                           subprotocols=bearer(backend.tokens["viewer"])) as ws:
            assert ws.subprotocol == "vwmp.v1"
            first = await receive(ws, len(UP_TO_THE_GATE), 5)
            assert [(e["seq"], e["type"]) for e in first] == list(enumerate(UP_TO_THE_GATE, start=1))
            assert first[0]["step_id"] is None and first[0]["run_id"] == run_id
            assert set(first[0]) == {"seq", "run_id", "type", "step_id", "attempt", "at", "data"}

            await approve(gateway, backend, run_id)
            live = await receive(ws, 2, 3)  # far below the 30 s idle backfill: NATS delivered them
            assert [(e["seq"], e["type"]) for e in live] == [(7, "step.succeeded"), (8, "run.succeeded")]

            async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.storage_port}") as channel:
                stored = await StorageServiceStub(channel).ListEvents(storage_pb2.ListEventsRequest(run_id=run_id))
            nc = await nats.connect(nats_server)
            try:  # NATS delivers at least once: a redelivered event is never sent twice
                event = stored.events[6]
                await nc.publish(run_events_subject(run_id), event.SerializeToString(),
                                 headers={"Nats-Msg-Id": event_msg_id(run_id, event.seq)})
                await nc.flush()
            finally:
                await nc.close()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)

        async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?after=3"),
                           subprotocols=bearer(backend.tokens["viewer"])) as ws:
            assert [e["seq"] for e in await receive(ws, 5, 5)] == [4, 5, 6, 7, 8]


async def test_a_lost_nats_message_is_backfilled_from_storage(make_live_gateway, backend, nats_server,
                                                              partitioned_nats, definition) -> None:
    with make_live_gateway(nats_url=partitioned_nats.url, ws_idle_backfill_seconds=30.0) as gateway:
        run_id = await start_run(gateway, backend, definition)
        await at_the_gate(gateway, backend, run_id)
        async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream"),
                           subprotocols=bearer(backend.tokens["viewer"])) as ws:
            assert [e["seq"] for e in await receive(ws, len(UP_TO_THE_GATE), 5)] == [1, 2, 3, 4, 5, 6]
            lossy = relay(nats_server, partitioned_nats.url, run_events_subject(run_id), lambda seq: seq == 7)
            async with lossy as dropped:
                await asyncio.sleep(0.3)  # the gateway's subscription on the second server is in place
                await approve(gateway, backend, run_id)
                got = await receive(ws, 2, 3)  # seq 8 arrived alone: the jump made the gateway ask storage
            assert dropped == [7]
            assert [(e["seq"], e["type"]) for e in got] == [(7, "step.succeeded"), (8, "run.succeeded")]


async def test_events_arrive_from_storage_when_nats_is_silent(make_live_gateway, backend, partitioned_nats,
                                                              definition) -> None:
    with make_live_gateway(nats_url=partitioned_nats.url, ws_idle_backfill_seconds=0.5) as gateway:
        run_id = await start_run(gateway, backend, definition)
        await at_the_gate(gateway, backend, run_id)
        async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?token={backend.tokens['viewer']}")) as ws:
            assert [e["seq"] for e in await receive(ws, len(UP_TO_THE_GATE), 5)] == [1, 2, 3, 4, 5, 6]
            await approve(gateway, backend, run_id)  # published where this gateway does not listen
            got = await receive(ws, 2, 5)
            assert [e["type"] for e in got] == AFTER_APPROVAL


async def test_all_runs_stream_forwards_live_events(live_gateway, backend, definition) -> None:
    async with connect(ws_url(live_gateway, "/api/v1/stream"),
                       additional_headers={"Authorization": f"Bearer {backend.tokens['viewer']}"}) as ws:
        await asyncio.sleep(0.3)  # subscribed before the run appears
        run_id = await start_run(live_gateway, backend, definition)
        seen: list[tuple[int, str]] = []
        async with asyncio.timeout(10):
            while len(seen) < len(UP_TO_THE_GATE):
                event = json.loads(await ws.recv())
                if event["run_id"] == run_id:
                    seen.append((event["seq"], event["type"]))
        assert seen == list(enumerate(UP_TO_THE_GATE, start=1))


async def test_revoked_token_closes_an_open_stream(live_gateway, backend, definition) -> None:
    run_id = await start_run(live_gateway, backend, definition)
    token, secret = backend.storage.tokens.create("short-lived", "viewer", 0, "tests")
    async with connect(ws_url(live_gateway, f"/api/v1/runs/{run_id}/stream"), subprotocols=bearer(secret)) as ws:
        await receive(ws, 1, 5)
        backend.storage.tokens.revoke(token.id)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.parametrize(("kind", "status"), [("none", 401), ("bad", 401), ("origin", 403)])
async def test_handshake_refusals(live_gateway, backend, definition, kind, status) -> None:
    run_id = await start_run(live_gateway, backend, definition)
    url = ws_url(live_gateway, f"/api/v1/runs/{run_id}/stream")
    options: dict[str, Any] = {}
    if kind == "bad":
        options["subprotocols"] = bearer("vwmp_not-a-token")
    if kind == "origin":
        options["subprotocols"] = bearer(backend.tokens["viewer"])
        options["origin"] = "http://evil.example"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **options):
            pass
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["status"] == status
    entries = [e for e in backend.audit("run.stream") if e.target == f"runs/{run_id}"]
    assert [e.outcome for e in entries] == ["denied"]


async def test_same_host_and_allowed_origins_pass(make_live_gateway, backend, definition) -> None:
    with make_live_gateway(allowed_origins=["http://designer.example"]) as gateway:
        run_id = await start_run(gateway, backend, definition)
        url = ws_url(gateway, f"/api/v1/runs/{run_id}/stream")
        for origin in (gateway.url, "http://designer.example"):
            async with connect(url, subprotocols=bearer(backend.tokens["viewer"]), origin=origin) as ws:
                assert (await receive(ws, 1, 5))[0]["seq"] == 1


async def test_unknown_run_stream_is_404(live_gateway, backend) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live_gateway, "/api/v1/runs/nope/stream"),
                           subprotocols=bearer(backend.tokens["viewer"])):
            pass
    assert refused.value.response.status_code == 404


@pytest.mark.parametrize("stream", ["run", "all"])
async def test_a_10_mb_client_frame_closes_the_stream_with_1009(live_gateway, backend, definition, stream) -> None:
    path = f"/api/v1/runs/{await start_run(live_gateway, backend, definition)}/stream" if stream == "run" \
        else "/api/v1/stream"
    async with connect(ws_url(live_gateway, path), subprotocols=bearer(backend.tokens["viewer"]),
                       max_size=None) as ws:
        await ws.send(b"x" * (10 * 1024 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_frame_at_the_limit_is_read_and_one_byte_over_is_refused(make_live_gateway, backend) -> None:
    with make_live_gateway(ws_max_frame_bytes=2048) as gateway:
        async with connect(ws_url(gateway, "/api/v1/stream"), subprotocols=bearer(backend.tokens["viewer"])) as ws:
            await ws.send("x" * 2048)
            await asyncio.wait_for(await ws.ping(), 5)  # answered: the socket is still open
            await ws.send("x" * 2049)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
