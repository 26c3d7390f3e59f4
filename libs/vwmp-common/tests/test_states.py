"""The run vocabulary mirrors the proto enums exactly."""

import pytest
from vwmp_common.states import (
    RUN_END_EVENTS,
    TERMINAL_RUN_STATES,
    ControlAction,
    EventType,
    RunState,
    StepState,
    run_end_event,
)
from vwmp_proto.common.v1 import states_pb2


@pytest.mark.parametrize(("enum", "proto"), [
    (RunState, states_pb2.RunState), (StepState, states_pb2.StepState),
    (EventType, states_pb2.EventType), (ControlAction, states_pb2.ControlAction),
])
def test_every_proto_value_has_a_member_with_the_same_number(enum, proto) -> None:
    numbers = {number for name, number in proto.items() if number}
    assert {member.number for member in enum} == numbers
    for member in enum:
        assert enum.from_number(member.number) is member


def test_json_spelling_is_the_api_contract() -> None:
    assert RunState.SUCCEEDED_WITH_WARNINGS == "succeeded_with_warnings"
    assert StepState.AWAITING_APPROVAL == "awaiting_approval"
    assert EventType.STEP_AWAITING_APPROVAL == "step.awaiting_approval"
    assert EventType("run.queued") is EventType.RUN_QUEUED
    assert states_pb2.RunState.Name(RunState.PAUSED.number) == "RUN_STATE_PAUSED"


def test_unspecified_is_no_member() -> None:
    with pytest.raises(ValueError, match="no RunState has the number 0"):
        RunState.from_number(0)


def test_every_terminal_state_has_its_end_event() -> None:
    assert set(RUN_END_EVENTS.values()) == TERMINAL_RUN_STATES
    assert run_end_event(RunState.CANCELLED) is EventType.RUN_CANCELLED
    with pytest.raises(ValueError, match="not a terminal"):
        run_end_event(RunState.PAUSED)
