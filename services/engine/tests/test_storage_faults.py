"""Commit-then-timeout between the engine and storage: storage commits a batch of transitions and the
engine never gets the answer (a lost reply; storage SIGKILLed after the commit). A real TCP proxy sits
between the engine and a real storage process and loses that one answer; the run must end with every
event exactly once and a dense sequence.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from vwmp_common.clients import storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType
from vwmp_common.subjects import EVENTS_WILDCARD
from vwmp_engine import Engine
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.events.v1 import events_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_testkit.grpc_proxy import GrpcProxy

from .conftest import EventView, Replica, Services, engine_settings, start_process, wait_serving

WORKFLOW = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "lost-answers"}, "spec": {"steps": [
    {"id": "first", "uses": "core/noop"},
    {"id": "greet", "uses": "hello/greet", "needs": ["first"], "with": {"name": "Ada"}},
    {"id": "pause", "uses": "core/sleep", "needs": ["greet"], "with": {"seconds": 0.1}},
    {"id": "echo", "uses": "testkit/echo", "needs": ["pause"], "with": {"value": "done"}},
]}}
STEPS = ["first", "greet", "pause", "echo"]


def holds(event: int, step_id: str = "") -> Callable[[bytes], bool]:
    """A request matcher: a RecordTransitions batch with that event (of that step)."""

    def matches(body: bytes) -> bool:
        request = storage_pb2.RecordTransitionsRequest.FromString(body)
        return any(t.event_type == event and t.step_id == step_id for t in request.transitions)

    return matches


def assert_each_event_once(events: list[EventView], steps: list[str] = STEPS) -> None:
    """What a user reading the run's history must see after any lost answer: each of `steps` once."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "the sequence has a gap or a repeat"
    succeeded = collections.Counter(e.step_id for e in events if e.type == EventType.STEP_SUCCEEDED)
    assert succeeded == dict.fromkeys(steps, 1), succeeded
    started = collections.Counter(e.step_id for e in events if e.type == EventType.STEP_STARTED)
    assert started == dict.fromkeys(steps, 1), started
    ends = [e.type for e in events if e.type in (EventType.RUN_SUCCEEDED, EventType.RUN_FAILED)]
    assert ends == [EventType.RUN_SUCCEEDED]
    assert [e.type for e in events].count(EventType.RUN_STARTED) == 1


@contextlib.asynccontextmanager
async def replica_through(services: Services, nats_url: str, storage_target: str,
                          reads: str = "") -> AsyncIterator[Replica]:
    """An engine whose storage calls go to `storage_target` (the proxy); the test reads `reads` directly."""
    settings = engine_settings(services, nats_url, owner=f"engine-{free_port()}").model_copy(
        update={"storage_address": storage_target})
    async with Engine(settings) as engine:
        async with asyncio.timeout(20):
            while engine.registry.get("hello/greet") is None or engine.registry.get("testkit/echo") is None:
                await asyncio.sleep(0.05)
        yield Replica(engine, storage_client(reads or services.storage_target))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("lost", "mode"), [
    ("greet succeeded", "close"),
    ("greet succeeded", "swallow"),
    ("run succeeded", "close"),
], ids=["step-end-connection-dropped", "step-end-deadline-exceeded", "run-end-connection-dropped"])
async def test_a_lost_answer_to_a_committed_batch_leaves_every_event_once(
    services: Services, nats_server: str, lost: str, mode: str
) -> None:
    match = (holds(states_pb2.EVENT_TYPE_STEP_SUCCEEDED, "greet") if lost == "greet succeeded"
             else holds(states_pb2.EVENT_TYPE_RUN_SUCCEEDED))
    live = await nats.connect(nats_server)
    published: list[events_pb2.Event] = []

    async def on_event(msg: nats.aio.msg.Msg) -> None:
        published.append(events_pb2.Event.FromString(msg.data))

    await live.subscribe(EVENTS_WILDCARD, cb=on_event)
    try:
        async with GrpcProxy(services.storage_target) as proxy:
            fault = proxy.lose_answer("RecordTransitions", request=match, mode=mode)  # type: ignore[arg-type]
            async with replica_through(services, nats_server, proxy.target) as engine:
                await engine.apply(WORKFLOW)
                run_id = await engine.start("lost-answers")
                run = await engine.wait(run_id, timeout=90)
                assert fault.lost.is_set(), "the proxy never saw the batch whose answer it was to lose"
                assert run.state == "succeeded", run
                events = await engine.events(run_id)
                assert_each_event_once(events)
                assert {step.id: step.attempt for step in run.steps} == dict.fromkeys(STEPS, 1)
                # The repeated write was answered with the first commit's events, so the live stream (and
                # what listens to run ends: completion triggers) got every event too, once.
                async with asyncio.timeout(10):
                    while len({e.seq for e in published if e.run_id == run_id}) < len(events):
                        await asyncio.sleep(0.05)
                seqs = collections.Counter(e.seq for e in published if e.run_id == run_id)
                assert set(seqs) == {e.seq for e in events} and max(seqs.values()) == 1, seqs
    finally:
        await live.close()


@pytest.mark.timeout(120)
async def test_storage_sigkilled_right_after_a_commit_is_restarted_and_the_run_ends_without_duplicates(
    services: Services, nats_server: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**services.env, "VWMP_DATA_DIR": str(tmp_path / "data"), "VWMP_STORAGE_PORT": str(port)}
    env.pop("VWMP_METRICS_PORT", None)
    target = f"127.0.0.1:{port}"
    storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
    try:
        wait_serving(target, timeout=60)

        def kill_storage() -> None:  # storage has committed and sent its answer; it never reaches the engine
            storage.kill()

        async with GrpcProxy(target) as proxy:
            fault = proxy.lose_answer("RecordTransitions", request=holds(states_pb2.EVENT_TYPE_STEP_SUCCEEDED,
                                                                         "greet"), on_answer=kill_storage)
            async with replica_through(services, nats_server, proxy.target, reads=target) as engine:
                await engine.apply(WORKFLOW)
                run_id = await engine.start("lost-answers")
                async with asyncio.timeout(60):
                    await fault.lost.wait()
                assert await asyncio.to_thread(storage.wait, 10) == -9
                storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
                await asyncio.to_thread(wait_serving, target, 60)
                run = await engine.wait(run_id, timeout=90)
                assert run.state == "succeeded", run
                events = await engine.events(run_id)
                assert_each_event_once(events)
                assert proxy.connections >= 2  # the engine came back through a new connection
    finally:
        storage.terminate()
        storage.wait(timeout=10)
