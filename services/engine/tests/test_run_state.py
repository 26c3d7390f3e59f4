"""A run's state in memory: the final-state rule, rendered step configuration, the `steps` scope."""

from __future__ import annotations

import pytest
from vwmp_common.states import RunState, StepState
from vwmp_engine.definition import StepSpec
from vwmp_engine.plugin_calls import StepFailed
from vwmp_engine.run_state import StepRun, StepsView, final_state, render_config


def steps(*states: tuple[StepState, bool]) -> list[StepRun]:
    return [StepRun(StepSpec(f"s{i}", "core/noop", optional=optional), state)
            for i, (state, optional) in enumerate(states)]


@pytest.mark.parametrize(("states", "final"), [
    ([(StepState.SUCCEEDED, False), (StepState.SKIPPED, False)], RunState.SUCCEEDED),
    ([(StepState.SUCCEEDED, False), (StepState.FAILED, True)], RunState.SUCCEEDED_WITH_WARNINGS),
    ([(StepState.FAILED, True), (StepState.FAILED, False)], RunState.FAILED),
    ([(StepState.FAILED, False), (StepState.CANCELLED, False)], RunState.CANCELLED),
])
def test_the_final_state_follows_cancelled_then_failed_then_warnings(
    states: list[tuple[StepState, bool]], final: RunState
) -> None:
    assert final_state(steps(*states)) == final


def test_config_takes_platform_defaults_then_the_steps_own_fields_and_resolves_references() -> None:
    spec = StepSpec("tag", "git/tag", config={"name": "v${{ params.version }}"})
    platform = {"step_defaults": {"git/tag": {"name": "default", "message": "release"}}}
    rendered = render_config(spec, platform, {"params": {"version": "1.2.0"}})
    assert rendered == {"name": "v1.2.0", "message": "release"}


def test_an_unresolvable_reference_fails_the_step_as_a_config_error() -> None:
    spec = StepSpec("tag", "git/tag", config={"name": "${{ params.missing }}"})
    with pytest.raises(StepFailed) as failure:
        render_config(spec, {}, {"params": {}})
    assert failure.value.kind == "config" and not failure.value.retryable
    assert str(failure.value).startswith("with: ")


def test_the_steps_scope_reads_states_and_outputs_live() -> None:
    step = StepRun(StepSpec("bump", "release/version-bump"))
    view = StepsView({"bump": step})
    assert view["bump"] == {"outputs": {}, "state": "pending"}
    step.state, step.outputs = StepState.SUCCEEDED, {"version": "2.0.0"}
    assert view["bump"] == {"outputs": {"version": "2.0.0"}, "state": "succeeded"}
    assert list(view) == ["bump"] and len(view) == 1
