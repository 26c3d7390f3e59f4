"""Storage for triggers: how a run was started, one run per trigger key, and ticks claimed once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from vwmp_storage.errors import Aborted, InvalidArgument
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.triggers import Advance, RunTrigger

TICK = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def create(storage: Storage, trigger: RunTrigger | None = None, advance: Advance | None = None) -> Run:
    return storage.runs.create("release", 0, "{}", False, "tester", [("a", "core/noop")], trigger=trigger,
                               advance=advance)


@pytest.fixture(autouse=True)
def workflow(storage: Storage, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "tester")


def test_a_manual_run_records_its_trigger_on_the_run_and_in_run_queued(storage: Storage) -> None:
    run = create(storage)
    assert run.trigger.kind == "manual" and run.trigger.id == "" and run.trigger.at == run.created_at
    queued = json.loads(storage.runs.events(run.id)[0].data_json)
    assert queued["trigger"]["kind"] == "manual" and queued["trigger"]["id"] is None
    stored = storage.runs.get(run.id)
    assert stored.trigger.kind == "manual"


def test_a_triggered_run_keeps_kind_id_time_delivery_and_run(storage: Storage) -> None:
    run = create(storage, RunTrigger("webhook", "on-push", TICK, delivery="d-1", dedupe_key="d-1"))
    stored = storage.runs.get(run.id)
    assert (stored.trigger.kind, stored.trigger.id, stored.trigger.at, stored.trigger.delivery) == (
        "webhook", "on-push", TICK, "d-1")
    queued = json.loads(storage.runs.events(run.id)[0].data_json)
    assert queued["trigger"] == {"id": "on-push", "kind": "webhook", "at": "2026-03-29T01:30:00.000Z",
                                "delivery": "d-1"}
    chained = create(storage, RunTrigger("on_run", "after-build", TICK, run_id=run.id, dedupe_key=run.id))
    assert storage.runs.get(chained.id).trigger.run_id == run.id


def test_the_same_dedupe_key_returns_the_first_run_and_writes_nothing(storage: Storage) -> None:
    first = create(storage, RunTrigger("webhook", "on-push", TICK, delivery="d-1", dedupe_key="d-1"))
    again = create(storage, RunTrigger("webhook", "on-push", TICK, delivery="d-1", dedupe_key="d-1"))
    assert again.id == first.id and again.replayed and not first.replayed
    other = create(storage, RunTrigger("webhook", "on-push", TICK, delivery="d-2", dedupe_key="d-2"))
    assert other.id != first.id
    assert storage.runs.list("release")[1] == 2


def test_runs_filter_by_trigger_kind_or_id(storage: Storage) -> None:
    manual = create(storage)
    hook = create(storage, RunTrigger("webhook", "on-push", TICK, dedupe_key="x"))
    tick = create(storage, RunTrigger("schedule", "nightly", TICK, dedupe_key=TICK.isoformat()))
    ids = {name: {r.id for r in storage.runs.list(trigger=name)[0]}
           for name in ("manual", "webhook", "schedule", "on_run", "nightly", "on-push")}
    assert ids == {"manual": {manual.id}, "webhook": {hook.id}, "schedule": {tick.id}, "on_run": set(),
                   "nightly": {tick.id}, "on-push": {hook.id}}


def test_a_bad_trigger_is_refused(storage: Storage) -> None:
    with pytest.raises(InvalidArgument, match=r"trigger\.kind"):
        create(storage, RunTrigger("cron", "x"))
    with pytest.raises(InvalidArgument, match=r"trigger\.id"):
        create(storage, RunTrigger("schedule", ""))


def test_a_tick_is_claimed_by_compare_and_set_with_its_run(storage: Storage) -> None:
    start = Advance("release", "nightly", compare=True, expected_digest="", expected_next_fire_at=None,
                    digest="d1", next_fire_at=TICK)
    assert storage.triggers.advance(start)[0]
    assert not storage.triggers.advance(start)[0]  # already moved
    claim = Advance("release", "nightly", compare=True, expected_digest="d1", expected_next_fire_at=TICK,
                    digest="d1", next_fire_at=TICK + timedelta(days=1), fired_at=TICK)
    run = create(storage, RunTrigger("schedule", "nightly", TICK, dedupe_key=TICK.isoformat()), claim)
    with pytest.raises(Aborted):
        create(storage, RunTrigger("schedule", "nightly", TICK, dedupe_key="other"), claim)
    [state] = storage.triggers.states("release")
    assert (state.next_fire_at, state.last_fire_at, state.last_run_id, state.last_error) == (
        TICK + timedelta(days=1), TICK, run.id, "")
    assert storage.runs.list("release")[1] == 1


def test_replicas_racing_for_one_tick_create_one_run(storage: Storage) -> None:
    storage.triggers.advance(Advance("release", "every", compare=True, digest="d", next_fire_at=TICK))
    claim = Advance("release", "every", compare=True, expected_digest="d", expected_next_fire_at=TICK, digest="d",
                    next_fire_at=TICK + timedelta(seconds=2), fired_at=TICK)

    def fire(_: int) -> str:
        try:
            return create(storage, RunTrigger("schedule", "every", TICK, dedupe_key=TICK.isoformat()), claim).id
        except Aborted:
            return "lost"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(fire, range(8)))
    winners = {o for o in outcomes if o != "lost"}
    assert len(winners) == 1
    assert storage.runs.list("release", trigger="every")[1] == 1


def test_pause_keeps_the_flag_and_resume_restarts_the_schedule(storage: Storage) -> None:
    storage.triggers.advance(Advance("release", "nightly", compare=True, digest="d", next_fire_at=TICK))
    paused = storage.triggers.pause("release", "nightly", True, "ops")
    assert paused.paused and paused.paused_by == "ops" and paused.next_fire_at == TICK
    resumed = storage.triggers.pause("release", "nightly", False, "ops")
    assert not resumed.paused and resumed.digest == "" and resumed.next_fire_at is not None
    assert resumed.next_fire_at > TICK  # now: the schedule restarts (no digest) and nothing before is caught up
    error = storage.triggers.advance(Advance("release", "nightly", error="parameters: part is required"))[1]
    assert error.last_error == "parameters: part is required" and error.last_fire_at is None
