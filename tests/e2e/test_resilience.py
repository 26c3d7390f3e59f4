"""Resilience over real processes: NATS down for a while, SQLite under concurrent load, controls audited.

Everything is driven the way a user drives it: REST and the WebSocket stream of the gateway.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from vwmp_cli.up import Platform
from vwmp_common.nats import connect
from vwmp_common.ports import wait_for_port
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_RUN_STATES
from vwmp_common.subjects import EVENTS_STREAM, run_events_subject
from vwmp_proto.events.v1.events_pb2 import Event

from .conftest import platform_env, running

pytestmark = pytest.mark.e2e


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """Every service (gateway included) as a real process, SQLite storage, the test kit plugin loaded."""
    with running(Platform(env=platform_env(tmp_path))) as platform:
        yield platform



async def apply(api: httpx.AsyncClient, name: str, steps: list[dict[str, Any]], **spec: Any) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                  "spec": {"steps": steps, **spec}}
    response = await api.post("/workflows", json=definition)
    assert response.status_code == 201, response.text


async def start(api: httpx.AsyncClient, name: str) -> str:
    response = await api.post(f"/workflows/{name}/runs", json={"parameters": {}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def wait_run(api: httpx.AsyncClient, run_id: str, states: Collection[str] = TERMINAL_RUN_STATES,
                   timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            run: dict[str, Any] = (await api.get(f"/runs/{run_id}")).json()
            if run["state"] in states:
                return run
            await asyncio.sleep(0.1)


async def wait_step(api: httpx.AsyncClient, run_id: str, step_id: str, state: str,
                    timeout: float = 20.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            run: dict[str, Any] = (await api.get(f"/runs/{run_id}")).json()
            if next(s for s in run["steps"] if s["id"] == step_id)["state"] == state:
                return run
            await asyncio.sleep(0.05)


async def events_of(api: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/runs/{run_id}/events", params={"after": 0})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def chain(n: int, uses: str, **step: Any) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "uses": uses, **step, **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(n)]


class StreamClient:
    """A WebSocket client of one run's stream that collects events until told to stop."""

    def __init__(self, platform: Platform, token: str, run_id: str, after: int = 0) -> None:
        self.url = platform.url.replace("http", "ws") + f"/api/v1/runs/{run_id}/stream?after={after}"
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def _read(self, until: int | None) -> None:
        async with websockets.connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"}) as ws:
            while until is None or len(self.events) < until:
                self.events.append(json.loads(await ws.recv()))

    def open(self, until: int | None = None) -> StreamClient:
        """Read in the background (until `until` events arrived, or until closed)."""
        self.task = asyncio.create_task(self._read(until))
        return self

    async def wait_for(self, condition: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition(self.events):
                if self.task is not None and self.task.done():
                    self.task.result()  # raise what ended the reader
                    if not condition(self.events):
                        raise AssertionError(f"stream ended early after {len(self.events)} events")
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(event["seq"]) for event in events]


async def stream_messages(platform: Platform, run_id: str) -> tuple[int, list[int]]:
    """Total messages in the events stream and the seqs stored there for one run (after NATS restarts).

    Read as the engine's NATS user: the embedded NATS admits only the platform's users.
    """
    engine = platform.nats_users["engine"]
    with pytest.MonkeyPatch.context() as patch:  # `connect` waits for a NATS that is starting again
        patch.setenv("VWMP_NATS_USER", engine.name)
        patch.setenv("VWMP_NATS_PASSWORD", engine.password)
        nc = await connect(platform.env["VWMP_NATS_URL"], "resilience-test", attempts=20)
    try:
        js = nc.jetstream()
        info = await js.stream_info(EVENTS_STREAM)
        subject = run_events_subject(run_id)
        count = (await js.stream_info(EVENTS_STREAM, subjects_filter=subject)).state.subjects or {}
        found: list[int] = []
        sub = await js.subscribe(subject, ordered_consumer=True)
        for _ in range(count.get(subject, 0)):
            msg = await sub.next_msg(timeout=5.0)
            found.append(Event.FromString(msg.data).seq)
        await sub.unsubscribe()
        return int(info.state.messages), found
    finally:
        await nc.close()


# ----- NATS down for a while ---------------------------------------------------------------------------------


async def test_runs_go_on_while_nats_is_down_and_websocket_clients_miss_no_event(
    platform: Platform, api: httpx.AsyncClient, token: str
) -> None:
    nats = platform.services["nats"]
    # One run before the outage: its events are in JetStream's file store and must still be there afterwards.
    await apply(api, "before", chain(2, "core/noop"))
    await apply(api, "before-plugin", chain(2, "testkit/echo", **{"with": {"value": "v"}}))
    before = await wait_run(api, await start(api, "before"))
    assert before["state"] == "succeeded"
    async with asyncio.timeout(10):  # published (asynchronously) before we take NATS away
        while (stored := await stream_messages(platform, before["id"]))[1] != \
                list(range(1, len(await events_of(api, before["id"])) + 1)):
            await asyncio.sleep(0.2)
    messages_before = stored[0]

    # Longer than the plugin hosts' KV heartbeat TTL (15 s): the engine must keep routing plugin steps.
    await apply(api, "during-outage", chain(8, "testkit/slow", **{"with": {"seconds": 2.2, "journal": "outage.txt"}}))
    nats.stop()
    assert nats.process is not None
    nats.process.wait(timeout=10)
    outage_started = time.monotonic()

    run_id = await start(api, "during-outage")
    whole = StreamClient(platform, token, run_id).open()  # connected for the whole run
    first = StreamClient(platform, token, run_id).open(until=4)  # leaves early and reconnects later
    await first.wait_for(lambda events: len(events) >= 4, timeout=15)
    await first.close()

    run = await wait_run(api, run_id, timeout=40)
    assert run["state"] == "succeeded", [(s["id"], s["state"], s["error"]) for s in run["steps"][5:]]
    assert [s["state"] for s in run["steps"]] == ["succeeded"] * 8
    assert not nats.alive(), "the run finished while NATS was down"
    assert time.monotonic() - outage_started > 16

    stored_events = await events_of(api, run_id)
    n = len(stored_events)
    assert seqs(stored_events) == list(range(1, n + 1))

    nats.start(platform.env)
    wait_for_port(platform.nats_port, timeout=10)
    await whole.wait_for(lambda events: len(events) >= n, timeout=15)
    resumed = StreamClient(platform, token, run_id, after=first.events[-1]["seq"]).open()
    await resumed.wait_for(lambda events: events and events[-1]["type"] in RUN_END_EVENTS, timeout=15)

    # The engine republishes what it queued during the outage; JetStream keeps each event once (Nats-Msg-Id),
    # and its file store came back with the earlier run's events.
    async with asyncio.timeout(20):
        while (stored := await stream_messages(platform, run_id))[1] != list(range(1, n + 1)):
            await asyncio.sleep(0.5)
    assert stored[0] >= messages_before + n
    assert (await stream_messages(platform, before["id"]))[1] == seqs(
        await events_of(api, before["id"]))

    after_outage = await wait_run(api, await start(api, "before-plugin"), timeout=15)
    assert after_outage["state"] == "succeeded", "plugin steps are still routed once NATS is back"

    await asyncio.sleep(1.0)  # anything republished after NATS returned would show up as a duplicate now
    await whole.close()
    await resumed.close()
    assert seqs(whole.events) == list(range(1, n + 1)), "every event once, in order, no gap"
    assert whole.events == stored_events
    assert seqs(first.events) + seqs(resumed.events) == list(range(1, n + 1)), "reconnect with after= misses nothing"
    assert collections.Counter(e["type"] for e in whole.events)["step.succeeded"] == 8


# ----- NATS frozen (stopped, not dead) -----------------------------------------------------------------------

FROZEN_SECONDS = 60.0  # four times the plugin hosts' heartbeat TTL (15 s)


async def test_a_frozen_nats_neither_fails_a_plugin_step_nor_refuses_a_start(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    """SIGSTOP keeps NATS's connections open: the engine cannot tell it is gone, no heartbeat arrives, and
    the hosts' announcements age past their TTL. The engine keeps the hosts that answer gRPC health."""
    await apply(api, "frozen", chain(3, "testkit/echo", **{"with": {"value": "v"}}))
    assert (await wait_run(api, await start(api, "frozen")))["state"] == "succeeded"
    nats = platform.services["nats"]
    platform.kill("nats", signal.SIGSTOP)
    started: list[str] = []
    try:
        frozen_until = time.monotonic() + FROZEN_SECONDS
        while time.monotonic() < frozen_until:
            response = await api.post("/workflows/frozen/runs", json={"parameters": {}})
            assert response.status_code == 201, f"a start was refused while NATS was frozen: {response.text}"
            started.append(str(response.json()["id"]))
            await asyncio.sleep(3.0)
        ended = [await wait_run(api, run_id, timeout=60) for run_id in started]
    finally:
        platform.kill("nats", signal.SIGCONT)
    assert nats.alive()
    failed = [(run["id"], [(s["id"], s["error"]) for s in run["steps"] if s["state"] != "succeeded"])
              for run in ended if run["state"] != "succeeded"]
    assert not failed, f"runs failed while NATS was frozen: {failed}"
    assert len(started) >= 15
    # Thawed: the events written meanwhile reach the stream, each once.
    last = started[-1]
    stored = seqs(await events_of(api, last))
    async with asyncio.timeout(30):
        while (await stream_messages(platform, last))[1] != stored:
            await asyncio.sleep(0.5)
    assert (await wait_run(api, await start(api, "frozen")))["state"] == "succeeded"


async def test_a_host_that_dies_while_nats_is_frozen_is_forgotten_by_its_health_check(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    await apply(api, "orphaned", chain(1, "testkit/echo", **{"with": {"value": "v"}}))
    assert (await wait_run(api, await start(api, "orphaned")))["state"] == "succeeded"
    platform.kill("nats", signal.SIGSTOP)
    try:
        platform.kill("plugin-host")  # SIGKILL: no goodbye, and NATS could not carry one anyway
        platform.services["plugin-host"].process.wait(timeout=10)
        async with asyncio.timeout(40):  # the TTL (15 s) and one health round
            while any(t["type"] == "testkit/echo" for t in (await api.get("/step-types")).json()["items"]):
                await asyncio.sleep(0.5)
        refused = await api.post("/workflows/orphaned/runs", json={"parameters": {}})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5", refused.text
        problem = refused.json()
        assert problem["title"] == "Plugin host unavailable", problem
        assert problem["errors"] == [{"pointer": "/spec/steps/0/uses",
                                      "message": "no live plugin host offers 'testkit/echo' now"}]
    finally:
        platform.kill("nats", signal.SIGCONT)


# ----- SQLite under concurrent load --------------------------------------------------------------------------


def fan_out(uses: str, **step: Any) -> list[dict[str, Any]]:
    """root → 8 parallel steps → join: 10 steps."""
    middle = [{"id": f"m{i}", "uses": uses, **step, "needs": ["root"]} for i in range(8)]
    return [{"id": "root", "uses": uses, **step}, *middle,
            {"id": "join", "uses": "core/noop", "needs": [m["id"] for m in middle]}]


async def test_sqlite_under_concurrent_load_never_says_database_is_locked(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    shapes = {
        "load-chain-core": chain(10, "core/noop"),
        "load-chain-plugin": chain(10, "testkit/echo", **{"with": {"value": "x"}}),
        "load-fan-core": fan_out("core/noop"),
        "load-fan-plugin": fan_out("testkit/flaky", **{"with": {"succeed_on": 1, "journal": "load.txt"}}),
    }
    for name, steps in shapes.items():
        await apply(api, name, steps)
    names = [name for _ in range(25) for name in shapes]
    run_ids = await asyncio.gather(*(start(api, name) for name in names))
    assert len(set(run_ids)) == 100

    async with asyncio.timeout(50):
        while True:
            listed = [(await api.get("/runs", params={"workflow": name, "limit": 500})).json()["items"]
                      for name in shapes]
            runs = [run for items in listed for run in items]
            if len(runs) == 100 and all(run["state"] in TERMINAL_RUN_STATES for run in runs):
                break
            await asyncio.sleep(0.5)
    assert collections.Counter(run["state"] for run in runs) == {"succeeded": 100}
    assert all(len(run["steps"]) == 10 and {s["state"] for s in run["steps"]} == {"succeeded"} for run in runs)
    journal = (platform.workspace / "load.txt").read_text().splitlines()
    assert len(journal) == len(set(journal)) == 25 * 9, "each plugin step ran once"
    sample = await events_of(api, run_ids[0])
    assert seqs(sample) == list(range(1, len(sample) + 1))

    logs = sorted(platform.logs.glob("*.log"))
    assert {path.name for path in logs} >= {"storage.log", "engine.log", "plugin-host.log", "gateway.log"}
    for path in logs:
        text = path.read_text(errors="replace").lower()
        assert "database is locked" not in text, path.name
        assert "locked" not in text, path.name


# ----- every control: an event on the run and one audit entry ------------------------------------------------


async def control(api: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await api.post(path, json=body or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_every_control_is_an_event_on_the_run_and_one_audit_entry(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    await apply(api, "controlled", chain(3, "testkit/slow", **{"with": {"seconds": 0.8, "journal": "c.txt"}}))
    await apply(api, "failing", [{"id": "a", "uses": "core/noop"},
                                 {"id": "boom", "uses": "testkit/fail", "needs": ["a"], "with": {"kind": "error"}}])
    # about controls and the audit trail: the admin starts and decides, so the gate allows it
    await apply(api, "gated", [{"id": "gate", "uses": "core/approval",
                                "with": {"message": "ship it?", "allow_self_approval": True, "pin_plan": False}},
                               {"id": "after", "uses": "core/noop", "needs": ["gate"]}])

    controlled = await start(api, "controlled")
    await wait_step(api, controlled, "s0", "running")
    assert (await control(api, f"/runs/{controlled}/pause"))["state"] == "paused"
    refused = await api.post(f"/runs/{controlled}/pause")
    assert refused.status_code == 409, refused.text  # paused already: refused, and audited as an error
    assert (await control(api, f"/runs/{controlled}/resume"))["state"] == "running"
    await wait_step(api, controlled, "s1", "running")
    assert (await control(api, f"/runs/{controlled}/cancel"))["state"] == "cancelled"

    failing = await start(api, "failing")
    assert (await wait_run(api, failing))["state"] == "failed"
    await control(api, f"/runs/{failing}/retry")
    assert (await wait_run(api, failing))["state"] == "failed"
    await control(api, f"/runs/{failing}/steps/a/rerun")
    assert (await wait_run(api, failing))["state"] == "failed"

    approved = await start(api, "gated")
    await wait_step(api, approved, "gate", "awaiting_approval")
    await control(api, f"/runs/{approved}/steps/gate/approve", comment="looks good")
    assert (await wait_run(api, approved))["state"] == "succeeded"
    rejected = await start(api, "gated")
    await wait_step(api, rejected, "gate", "awaiting_approval")
    await control(api, f"/runs/{rejected}/steps/gate/reject", comment="not today")
    final = await wait_run(api, rejected)
    assert final["state"] == "failed"
    assert [s["state"] for s in final["steps"]] == ["failed", "skipped"]

    actor = (await api.get("/audit", params={"limit": 1000})).json()["items"][0]["actor"]
    assert actor and actor != "anonymous"

    def data(events: list[dict[str, Any]], kind: str, step: str = "") -> list[dict[str, Any]]:
        return [e["data"] for e in events if e["type"] == kind and (e["step_id"] or "") == step]

    events = await events_of(api, controlled)
    assert data(events, "run.paused") == [{"by": actor}]
    assert data(events, "run.resumed") == [{"by": actor}]
    assert data(events, "run.cancelled") == [{"by": actor, "reason": "cancelled"}]
    events = await events_of(api, failing)
    assert [(d["by"], d["action"], d["steps"]) for d in data(events, "run.resumed")] == [
        (actor, "retry", ["boom"]), (actor, "rerun", ["a", "boom"])]
    events = await events_of(api, approved)
    assert data(events, "step.succeeded", "gate")[0]["approved_by"] == actor
    assert data(events, "step.succeeded", "gate")[0]["comment"] == "looks good"
    events = await events_of(api, rejected)
    assert data(events, "step.failed", "gate") == [
        {"error": f"rejected by {actor}: not today", "kind": "denied", "by": actor}]

    audit = (await api.get("/audit", params={"limit": 1000})).json()["items"]
    controls = collections.Counter((e["action"], e["target"], e["outcome"]) for e in audit
                                   if e["action"].startswith(("run.", "step.")) and e["action"] != "run.start")
    assert controls == {
        ("run.pause", f"runs/{controlled}", "ok"): 1,
        ("run.pause", f"runs/{controlled}", "error"): 1,
        ("run.resume", f"runs/{controlled}", "ok"): 1,
        ("run.cancel", f"runs/{controlled}", "ok"): 1,
        ("run.retry", f"runs/{failing}", "ok"): 1,
        ("run.rerun", f"runs/{failing}/steps/a", "ok"): 1,
        ("step.approve", f"runs/{approved}/steps/gate", "ok"): 1,
        ("step.reject", f"runs/{rejected}/steps/gate", "ok"): 1,
    }
    assert {e["actor"] for e in audit if e["action"] != "run.start"} >= {actor}
