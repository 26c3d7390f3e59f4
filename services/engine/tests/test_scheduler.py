"""The DAG scheduler on its own: readiness as steps settle, and which ready steps run or are skipped."""

from __future__ import annotations

from vwmp_common.states import StepState
from vwmp_engine.definition import StepSpec
from vwmp_engine.scheduler import Scheduler, skip_reason

DIAMOND = (StepSpec("start", "core/noop"), StepSpec("left", "core/noop", needs=("start",)),
           StepSpec("right", "core/noop", needs=("start",)), StepSpec("join", "core/noop", needs=("left", "right")))


def drain(scheduler: Scheduler) -> list[str]:
    ready = []
    while (step_id := scheduler.next_ready()) is not None:
        ready.append(step_id)
    return ready


def test_a_step_is_ready_only_when_every_need_has_settled() -> None:
    states = dict.fromkeys(("start", "left", "right", "join"), StepState.PENDING)
    scheduler = Scheduler(DIAMOND, states.__getitem__)
    assert drain(scheduler) == ["start"]
    states["start"] = StepState.SUCCEEDED
    scheduler.settled("start")
    assert drain(scheduler) == ["left", "right"]
    states["left"] = StepState.FAILED
    scheduler.settled("left")
    assert drain(scheduler) == []
    states["right"] = StepState.SKIPPED
    scheduler.settled("right")
    assert drain(scheduler) == ["join"]
    assert not scheduler.finished
    states["join"] = StepState.SKIPPED
    scheduler.settled("join")
    assert scheduler.finished


def test_recount_picks_up_a_taken_over_or_reopened_run_where_storage_left_it() -> None:
    states = {"start": StepState.SUCCEEDED, "left": StepState.SUCCEEDED, "right": StepState.PENDING,
              "join": StepState.PENDING}
    scheduler = Scheduler(DIAMOND, states.__getitem__)
    assert (drain(scheduler), scheduler.unsettled) == (["right"], 2)
    states.update(right=StepState.SUCCEEDED, join=StepState.SUCCEEDED)
    scheduler.recount()
    assert (drain(scheduler), scheduler.finished) == ([], True)
    states.update(right=StepState.PENDING, join=StepState.PENDING)  # re-run from `right`
    scheduler.recount()
    assert (drain(scheduler), scheduler.unsettled, scheduler.waiting) == (["right"], 2, 0)


def test_independent_steps_are_all_ready_at_once_in_definition_order() -> None:
    steps = [StepSpec(f"s{i}", "core/noop") for i in range(5)]
    scheduler = Scheduler(steps, lambda _step_id: StepState.PENDING)
    assert scheduler.waiting == 5
    assert drain(scheduler) == ["s0", "s1", "s2", "s3", "s4"]


def test_without_a_state_condition_every_need_must_have_succeeded() -> None:
    step = StepSpec("after", "core/noop", needs=("a", "b", "c"))
    needs = {"a": StepState.SUCCEEDED, "b": StepState.FAILED, "c": StepState.SKIPPED}
    assert skip_reason(step, needs, {}) == "needs did not succeed: b, c"
    assert skip_reason(step, dict.fromkeys(needs, StepState.SUCCEEDED), {}) is None


def test_a_condition_on_a_needs_state_opts_the_step_in_after_a_failure() -> None:
    cleanup = StepSpec("cleanup", "core/noop", needs=("deploy",), condition="steps.deploy.state == 'failed'")
    scope = {"steps": {"deploy": {"state": "failed", "outputs": {}}}}
    assert skip_reason(cleanup, {"deploy": StepState.FAILED}, scope) is None
    scope["steps"]["deploy"]["state"] = "succeeded"
    assert skip_reason(cleanup, {"deploy": StepState.SUCCEEDED}, scope) == (
        "condition is false: steps.deploy.state == 'failed'")


def test_a_false_or_unevaluable_condition_skips_with_the_reason() -> None:
    maybe = StepSpec("maybe", "core/noop", condition="${{ params.part != 'patch' }}")
    assert skip_reason(maybe, {}, {"params": {"part": "patch"}}) == "condition is false: ${{ params.part != 'patch' }}"
    assert skip_reason(maybe, {}, {"params": {"part": "minor"}}) is None
    broken = StepSpec("broken", "core/noop", condition="params.count > 'x'")
    reason = skip_reason(broken, {}, {"params": {"count": 1}})
    assert reason is not None and reason.startswith("condition could not be evaluated: ")
