"""Approval decisions: who decided what reaches the waiting gate once, and a rejection is final."""

from __future__ import annotations

import asyncio

import pytest
from vwmp_engine.approval import Decision, Decisions
from vwmp_engine.plugin_calls import StepFailed
from vwmp_engine.run_state import ControlRefused


def test_an_approval_gives_the_gate_its_outputs_with_the_plan() -> None:
    plan = [{"action": "push", "target": "origin", "step": "push"}]
    assert Decision(True, "alice", "go").outputs(plan) == {"approved_by": "alice", "comment": "go", "plan": plan}


def test_a_rejection_fails_the_gate_as_denied_and_is_never_retried() -> None:
    with pytest.raises(StepFailed) as failure:
        Decision(False, "bob", "not today").outputs([])
    assert (failure.value.kind, failure.value.by, str(failure.value)) == ("denied", "bob", "rejected by bob: not today")
    assert not failure.value.retryable
    with pytest.raises(StepFailed, match=r"^rejected by carol$"):
        Decision(False, "carol").outputs([])


async def test_a_decision_reaches_the_waiting_gate_and_a_second_one_is_refused() -> None:
    decisions = Decisions()
    waiting = asyncio.create_task(decisions.wait("gate"))
    await asyncio.sleep(0)
    decisions.decide("gate", Decision(True, "alice"))
    with pytest.raises(ControlRefused, match="not awaiting approval"):
        decisions.decide("gate", Decision(False, "bob"))
    assert await waiting == Decision(True, "alice")
    with pytest.raises(ControlRefused):
        decisions.decide("gate", Decision(True, "alice"))


async def test_a_decision_made_while_the_gate_is_being_announced_is_not_lost() -> None:
    decisions = Decisions()
    decisions.expect("gate")
    decisions.decide("gate", Decision(True, "quick"))
    assert await decisions.wait("gate") == Decision(True, "quick")


async def test_no_decision_is_accepted_for_a_gate_that_is_not_waiting() -> None:
    with pytest.raises(ControlRefused, match="'other' is not awaiting approval"):
        Decisions().decide("other", Decision(True, "alice"))
