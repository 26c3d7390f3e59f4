"""Compensation in storage, on SQLite and PostgreSQL: the `compensated` step state (terminal) and the run's
`compensated` field, which a reopen clears; a step's compensation attempt, which a re-run clears; unknown
values are refused with the field's name."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition

START = Transition(event_type="run.started", run_state="running")


def test_the_compensated_step_state_and_the_runs_compensated_are_stored_and_a_reopen_clears_it(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run(steps=("tag", "push"))
    storage.transitions.record(run.id, "", 0, [
        START,
        Transition(event_type="step.succeeded", step_id="tag", attempt=1, step_state="succeeded"),
        Transition(event_type="step.failed", step_id="push", attempt=1, step_state="failed", error="refused"),
        Transition(event_type="run.finalizing", finalizing="cancelled", compensated="requested")])
    assert storage.runs.get(run.id).compensated == "requested"
    events = storage.transitions.record(run.id, "", 0, [
        Transition(event_type="step.compensating", step_id="tag", attempt=1, data_json='{"attempt": 1}'),
        Transition(event_type="step.compensated", step_id="tag", attempt=1, step_state="compensated")])
    assert [e.type for e in events] == ["step.compensating", "step.compensated"]
    got = storage.runs.get(run.id)
    tag = next(s for s in got.steps if s.id == "tag")
    assert tag.state == "compensated" and tag.finished_at is not None
    storage.transitions.record(run.id, "", 0, [
        Transition(event_type="run.cancelled", run_state="cancelled", compensated="partial")])
    assert storage.runs.get(run.id).compensated == "partial"
    storage.transitions.record(run.id, "", 0, [
        Transition(event_type="run.resumed", run_state="running", reopen=True),
        Transition(step_id="tag", step_state="pending", clear_step=True)])
    reopened = storage.runs.get(run.id)
    assert reopened.compensated == "" and reopened.finalizing == ""


def test_an_unknown_compensated_value_is_refused_naming_the_field(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    with pytest.raises(InvalidArgument, match=r"transitions\[1\]\.compensated: 'yes' is not one of requested"):
        storage.transitions.record(run.id, "", 0, [START, Transition(compensated="yes")])
    assert storage.runs.get(run.id).state == "queued"  # nothing of the batch was applied


def test_a_steps_compensation_attempt_is_stored_kept_by_other_changes_and_cleared_by_a_rerun(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run(steps=("tag", "push"))
    storage.transitions.record(run.id, "", 0, [
        START, Transition(event_type="step.succeeded", step_id="tag", attempt=2, step_state="succeeded")])
    assert next(s for s in storage.runs.get(run.id).steps if s.id == "tag").compensation_attempt == 0
    storage.transitions.record(run.id, "", 0, [
        Transition(event_type="step.compensating", step_id="tag", attempt=2, compensation_attempt=3)])
    tag = next(s for s in storage.runs.get(run.id).steps if s.id == "tag")
    assert (tag.attempt, tag.compensation_attempt, tag.state) == (2, 3, "succeeded")  # the step's own attempt kept
    storage.transitions.record(run.id, "", 0, [Transition(event_type="step.log", step_id="tag", attempt=2)])
    assert next(s for s in storage.runs.get(run.id).steps if s.id == "tag").compensation_attempt == 3
    storage.transitions.record(run.id, "", 0, [Transition(step_id="tag", step_state="pending", clear_step=True)])
    assert next(s for s in storage.runs.get(run.id).steps if s.id == "tag").compensation_attempt == 0


def test_a_negative_compensation_attempt_is_refused_naming_the_field(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run(steps=("tag",))
    with pytest.raises(InvalidArgument, match=r"transitions\[1\]\.compensation_attempt: must not be negative"):
        storage.transitions.record(run.id, "", 0, [START, Transition(step_id="tag", compensation_attempt=-1)])
    assert storage.runs.get(run.id).state == "queued"
