"""How run and step states look in the terminal; the states themselves come from vwmp_common."""

from __future__ import annotations

from vwmp_common.states import RunState, StepState

COLOURS: dict[str, str] = {
    RunState.QUEUED: "white",
    RunState.RUNNING: "cyan",
    RunState.PAUSED: "yellow",
    RunState.SUCCEEDED: "green",
    RunState.SUCCEEDED_WITH_WARNINGS: "yellow",
    RunState.FAILED: "red",
    RunState.CANCELLED: "dim",
    StepState.PENDING: "white",
    StepState.RETRYING: "yellow",
    StepState.AWAITING_APPROVAL: "magenta",
    StepState.SKIPPED: "dim",
}
"""Run and step states share their spelling where they share a meaning, so one table colours both."""

SUCCESSFUL_RUN_STATES = frozenset({RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_WARNINGS})
"""`vwmp run --watch` exits 0 only when the run ends in one of these."""


def state_style(state: str) -> str:
    """The rich style of a run or step state (white for one this CLI does not know yet)."""
    return COLOURS.get(state, "white")
