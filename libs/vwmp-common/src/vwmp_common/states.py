"""The run vocabulary every service speaks: run and step states, event types, control actions.

The members are generated from proto/vwmp/common/v1/states.proto (`make proto`); a new state is
one line there plus regeneration. What the members mean together (which states are terminal,
which event ends a run in which state) is said here, once.
"""

from __future__ import annotations

from vwmp_proto.enums import ControlAction, EventType, RunState, StepState

__all__ = [
    "RUN_END_EVENTS",
    "TERMINAL_RUN_STATES",
    "TERMINAL_STEP_STATES",
    "ControlAction",
    "EventType",
    "RunState",
    "StepState",
    "run_end_event",
]

TERMINAL_RUN_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_WARNINGS, RunState.FAILED, RunState.CANCELLED}
)
TERMINAL_STEP_STATES = frozenset(
    {StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED, StepState.CANCELLED, StepState.COMPENSATED}
)

RUN_END_EVENTS: dict[EventType, RunState] = {EventType(f"run.{state}"): state for state in TERMINAL_RUN_STATES}
"""The event that ends a run, mapped to the state the run ends in."""


def run_end_event(state: RunState) -> EventType:
    """The event recorded when a run ends in `state` (`run.<state>`)."""
    if state not in TERMINAL_RUN_STATES:
        raise ValueError(f"{state} is not a terminal run state")
    return EventType(f"run.{state}")
