"""A large run's summary and its steps a page at a time, on both databases."""

from __future__ import annotations

import pytest
from vwmp_storage.errors import InvalidArgument, NotFound
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition


def _run_with_states(storage: Storage, size: int = 250) -> str:
    """A run of `size` steps: s3 running, s5 failed, s7 and s8 succeeded, the rest pending."""
    storage.definitions.create("big", '{"v": 1}', "alice")
    run = storage.runs.create("big", 0, "", False, "bob", [(f"s{i}", "core/noop") for i in range(size)])
    storage.transitions.record(run.id, "", 0, [
        Transition(event_type="run.started", run_state="running"),
        *(Transition(event_type="step.started", step_id=f"s{i}", step_state="running", attempt=1)
          for i in (3, 5, 7, 8)),
        Transition(event_type="step.failed", step_id="s5", step_state="failed", attempt=1, error="boom"),
        *(Transition(event_type="step.succeeded", step_id=f"s{i}", step_state="succeeded", attempt=1)
          for i in (7, 8)),
    ])
    return run.id


def test_get_can_return_only_some_steps_and_the_count_per_state(storage: Storage) -> None:
    run_id = _run_with_states(storage)
    summary = storage.runs.get(run_id, step_states=["running", "failed"], with_step_counts=True)
    assert [(s.id, s.state, s.error) for s in summary.steps] == [("s3", "running", ""), ("s5", "failed", "boom")]
    assert summary.step_counts == {"pending": 246, "running": 1, "succeeded": 2, "failed": 1}
    assert storage.runs.get(run_id, step_states=[], with_step_counts=True).steps == []
    whole = storage.runs.get(run_id)
    assert len(whole.steps) == 250 and whole.step_counts == {}  # as before: every step, no counts


def test_steps_come_a_page_at_a_time_in_creation_order_filtered_by_state(storage: Storage) -> None:
    run_id = _run_with_states(storage)
    seen, start, pages = [], 0, 0
    while start >= 0:
        steps, total, start = storage.runs.steps_page(run_id, limit=100, start_position=start)
        seen += [step.id for step in steps]
        pages += 1
        assert total == 250
    assert seen == [f"s{i}" for i in range(250)] and pages == 3
    steps, total, following = storage.runs.steps_page(run_id, ["succeeded", "failed"], limit=2)
    assert ([s.id for s in steps], total, following) == (["s5", "s7"], 3, 8)
    steps, total, following = storage.runs.steps_page(run_id, ["succeeded", "failed"], limit=2, start_position=8)
    assert ([s.id for s in steps], total, following) == (["s8"], 3, -1)


def test_bad_pages_and_unknown_runs_are_refused(storage: Storage) -> None:
    run_id = _run_with_states(storage, 10)
    with pytest.raises(InvalidArgument, match="limit"):
        storage.runs.steps_page(run_id, limit=0)
    with pytest.raises(InvalidArgument, match="start_position"):
        storage.runs.steps_page(run_id, start_position=-1)
    with pytest.raises(NotFound):
        storage.runs.steps_page("nope")
