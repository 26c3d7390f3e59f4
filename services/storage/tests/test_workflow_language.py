"""Storage for the workflow language: for_each instances, run outputs, child runs, finally hand-over."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from vwmp_storage.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from vwmp_storage.runs import Run, RunParent
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import NewStep, Transition

START = Transition(event_type="run.started", run_state="running")


def test_a_transition_adds_instance_steps_after_the_existing_ones_and_starts_their_parent(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run(steps=("greet", "after"))
    storage.transitions.record(run.id, "", 0, [START])
    instances = tuple(NewStep(f"greet[{i}]", "hello/greet", "greet", i) for i in range(3))
    events = storage.transitions.record(run.id, "", 0, [
        Transition(event_type="step.started", step_id="greet", step_state="running", attempt=1,
                   data_json='{"items": 3}', add_steps=instances),
        Transition(event_type="step.started", step_id="greet[1]", step_state="running", attempt=1),
    ])
    assert [(e.type, e.step_id) for e in events] == [("step.started", "greet"), ("step.started", "greet[1]")]
    steps = storage.runs.get(run.id).steps
    assert [(s.id, s.parent, s.item_index, s.state) for s in steps] == [
        ("greet", "", None, "running"), ("after", "", None, "pending"),
        ("greet[0]", "greet", 0, "pending"), ("greet[1]", "greet", 1, "running"), ("greet[2]", "greet", 2, "pending")]


def test_adding_a_step_the_run_has_is_refused_and_nothing_of_the_batch_is_written(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run(steps=("greet",))
    storage.transitions.record(run.id, "", 0, [START])
    storage.transitions.record(run.id, "", 0, [Transition(add_steps=(NewStep("greet[0]", "hello/greet", "greet", 0),))])
    with pytest.raises(InvalidArgument, match=r"transitions\[1\]\.add_steps: .* has a step 'greet\[0\]' already"):
        storage.transitions.record(run.id, "", 0, [
            Transition(event_type="step.started", step_id="greet", step_state="running", attempt=1),
            Transition(add_steps=(NewStep("greet[0]", "hello/greet", "greet", 0),))])
    got = storage.runs.get(run.id)
    assert [s.id for s in got.steps] == ["greet", "greet[0]"] and got.steps[0].state == "pending"
    with pytest.raises(InvalidArgument, match=r"add_steps\[1\]\.id"):
        storage.transitions.record(run.id, "", 0, [Transition(add_steps=(
            NewStep("x[0]", "a/b", "x", 0), NewStep("x[0]", "a/b", "x", 1)))])


def test_run_outputs_and_the_finalizing_state_are_stored_and_a_reopen_clears_finalizing(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START, Transition(event_type="run.finalizing", finalizing="cancelled")])
    assert storage.runs.get(run.id).finalizing == "cancelled"
    storage.transitions.record(run.id, "", 0, [
        Transition(event_type="run.cancelled", run_state="cancelled", run_outputs_json='{"version": "1.2.0"}')])
    got = storage.runs.get(run.id)
    assert json.loads(got.outputs_json) == {"version": "1.2.0"} and got.state == "cancelled"
    storage.transitions.record(run.id, "", 0, [Transition(event_type="run.started", run_state="running", reopen=True)])
    assert storage.runs.get(run.id).finalizing == ""
    with pytest.raises(InvalidArgument, match=r"transitions\[0\]\.finalizing: 'running'"):
        storage.transitions.record(run.id, "", 0, [Transition(finalizing="running")])
    with pytest.raises(InvalidArgument, match=r"run_outputs_json"):
        storage.transitions.record(run.id, "", 0, [Transition(run_outputs_json="[1]")])


def test_one_child_run_per_calling_step_even_when_two_create_it_at_once(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    parent = new_run()
    new_run(name="child")  # the child's workflow exists

    def create() -> str:
        try:
            return storage.runs.create("child", 0, "{}", False, "tester", [("a", "core/noop")],
                                       parent=RunParent(parent.id, "publish[3]"), depth=1).id
        except AlreadyExists as refused:
            return f"refused: {refused}"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: create(), range(4)))
    created = [o for o in outcomes if not o.startswith("refused")]
    assert len(created) == 1, outcomes
    assert all("has a child run already" in o for o in outcomes if o.startswith("refused"))
    child = storage.runs.get(created[0])
    assert child.parent == RunParent(parent.id, "publish[3]") and child.depth == 1
    children, total = storage.runs.list(parent_run_id=parent.id)
    assert total == 1 and [c.id for c in children] == created
    assert storage.runs.list(parent_run_id=parent.id, parent_step_id="publish[2]") == ([], 0)
    assert storage.runs.get(parent.id).parent is None
    other = storage.runs.create("child", 0, "{}", False, "tester", [("a", "core/noop")],
                                parent=RunParent(parent.id, "publish[4]"), depth=1)
    assert other.parent == RunParent(parent.id, "publish[4]")
    with pytest.raises(InvalidArgument, match="parent_step_id: needs parent_run_id"):
        storage.runs.list(parent_step_id="publish[3]")
    with pytest.raises(InvalidArgument, match="parent: run_id and step_id"):
        storage.runs.create("child", 0, "{}", False, "tester", [("a", "core/noop")], parent=RunParent(parent.id, ""))


def test_a_finished_run_refuses_added_steps(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START, Transition(event_type="run.succeeded", run_state="succeeded")])
    with pytest.raises(FailedPrecondition):
        storage.transitions.record(run.id, "", 0, [Transition(add_steps=(NewStep("a[0]", "a/b", "a", 0),))])
