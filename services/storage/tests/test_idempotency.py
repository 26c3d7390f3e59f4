"""Idempotency keys of run creation on both databases: one run per key, replays, expiry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.models import runs
from vwmp_storage.runs import IDEMPOTENCY_TTL, Run
from vwmp_storage.storage import Storage, open_storage


def create(storage: Storage, key: str, digest: str = "d1", actor: str = "bob", workflow: str = "release") -> Run:
    return storage.runs.create(workflow, 0, '{"part": "minor"}', False, actor, [("a", "core/noop")],
                               idempotency_key=key, request_digest=digest)


def test_the_same_key_returns_the_first_run_with_its_digest_and_writes_nothing(
        storage: Storage, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    first = create(storage, "k-1")
    again = create(storage, "k-1", digest="other")
    assert (first.replayed, again.replayed) == (False, True)
    assert (again.id, again.idempotency_key, again.request_digest) == (first.id, "k-1", "d1")
    assert [e.type for e in storage.runs.events(first.id)] == ["run.queued"]
    with storage.database.read() as conn:
        assert len(conn.execute(runs.select()).all()) == 1


def test_a_key_is_per_workflow_and_actor(storage: Storage, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    storage.definitions.create("other", sample_definition, "alice")
    ids = {create(storage, "k").id, create(storage, "k", actor="carol").id, create(storage, "k", workflow="other").id}
    assert len(ids) == 3


def test_an_expired_key_is_released_and_taken_by_a_new_run(storage: Storage, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    old = create(storage, "k")
    with storage.database.write() as conn:
        conn.execute(update(runs).where(runs.c.id == old.id).values(
            created_at=old.created_at - IDEMPOTENCY_TTL - timedelta(seconds=1)))
    new = create(storage, "k", digest="d2")
    assert not new.replayed and new.id != old.id
    assert storage.runs.get(old.id).idempotency_key == ""  # released
    assert create(storage, "k").id == new.id


@pytest.mark.parametrize("key", ["x" * 256, "has space", "tab\t", "ünï"])
def test_a_malformed_key_is_refused(storage: Storage, sample_definition: str, key: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    with pytest.raises(InvalidArgument, match="idempotency_key"):
        create(storage, key)


def test_concurrent_creates_with_one_key_on_two_storage_replicas_give_one_run(
        storage: Storage, database_url: str, sample_definition: str) -> None:
    storage.definitions.create("release", sample_definition, "alice")
    replicas = [storage, open_storage(database_url)]
    rounds, per_round = 10, 8
    try:
        for round_ in range(rounds):
            barrier = threading.Barrier(per_round)

            def start(index: int, key: str = f"race-{round_}", barrier: threading.Barrier = barrier) -> Run:
                barrier.wait()
                return create(replicas[index % 2], key)

            with ThreadPoolExecutor(per_round) as pool:
                made = list(pool.map(start, range(per_round)))
            assert len({run.id for run in made}) == 1
            assert sum(not run.replayed for run in made) == 1
    finally:
        replicas[1].close()
    with storage.database.read() as conn:
        keyed = conn.execute(runs.select().where(runs.c.idempotency_key.is_not(None))).all()
    assert len(keyed) == rounds
