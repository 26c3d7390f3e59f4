"""The approval gate's pure parts: the policy, the plan digest, the futures decisions complete, refusals on the wire."""

from __future__ import annotations

import asyncio

import pytest
from vwmp_common.schema_errors import SchemaProblem
from vwmp_engine.approval import Decisions, Policy, plan_digest
from vwmp_engine.controls import refusal_from_wire, refusal_to_wire
from vwmp_engine.run_state import ControlRefused, DecisionDenied, InputsInvalid, PlanChanged


def test_the_plan_digest_is_the_sha256_of_canonical_json_and_changes_with_the_plan() -> None:
    plan = [{"action": "push", "target": "origin refs/heads/main", "diff": "a", "step": "push"}]
    reordered = [{"step": "push", "diff": "a", "target": "origin refs/heads/main", "action": "push"}]
    assert plan_digest(plan) == plan_digest(reordered) and len(plan_digest(plan)) == 64
    assert plan_digest(plan) != plan_digest([{**plan[0], "diff": "b"}])
    assert plan_digest([]) == "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"


def test_the_default_policy_admits_operators_and_admins_only() -> None:
    policy = Policy.from_config({})
    assert [policy.admits("x", role) for role in ("viewer", "editor", "operator", "admin", "", "root")] == [
        False, False, True, True, False, False]
    assert (policy.required, policy.allow_self_approval, policy.pin_plan, policy.on_timeout) == (1, False, True,
                                                                                                "reject")


def test_a_role_admits_higher_roles_and_names_admit_only_those_names() -> None:
    policy = Policy.from_config({"approvers": {"roles": ["admin"], "names": ["release-lead"]}})
    assert not policy.admits("olga", "operator") and policy.admits("ada", "admin")
    assert policy.admits("release-lead", "operator") and not policy.admits("release-leader", "operator")
    names_only = Policy.from_config({"approvers": {"names": ["lead"]}})
    assert not names_only.admits("ada", "admin") and names_only.admits("lead", "operator")
    assert Policy.from_config({"approvers": {}}) == Policy()  # an empty approvers block is the default


def test_the_policy_survives_its_round_trip_through_the_gates_outputs() -> None:
    policy = Policy.from_config({"approvers": {"roles": ["admin"], "names": ["a"]}, "required": 2,
                                 "timeout": "24h", "on_timeout": "approve", "pin_plan": False,
                                 "inputs": {"type": "object"}})
    assert Policy.from_document(policy.document()) == policy
    assert policy.timeout_seconds == 86400
    assert Policy.from_document(None) == Policy()  # a gate opened before policies existed


def test_inputs_are_checked_with_pointers_under_inputs() -> None:
    policy = Policy.from_config({"inputs": {"type": "object", "required": ["n"], "properties": {
        "n": {"type": "integer"}}}})
    assert [p.pointer for p in policy.check_inputs({"n": "x"})] == ["/inputs/n"]
    assert [p.pointer for p in policy.check_inputs(None)] == ["/inputs/n"]
    assert policy.check_inputs({"n": 1}) == []
    assert [p.pointer for p in Policy().check_inputs({"a": 1})] == ["/inputs"]
    assert Policy().check_inputs({}) == []


async def test_a_gate_waiting_for_a_decision_is_found_and_a_decided_one_is_not() -> None:
    decisions = Decisions()
    future = decisions.expect("gate")
    assert decisions.waiting("gate") is future
    future.set_result({"approved_by": "alice"})
    with pytest.raises(ControlRefused, match="not awaiting approval"):
        decisions.waiting("gate")
    assert await asyncio.wait_for(future, 1) == {"approved_by": "alice"}


async def test_no_decision_is_accepted_for_a_gate_that_is_not_waiting() -> None:
    with pytest.raises(ControlRefused, match="'other' is not awaiting approval"):
        Decisions().waiting("other")


def test_every_refusal_kind_survives_the_nats_forward() -> None:
    cases: list[ControlRefused] = [
        ControlRefused("not awaiting approval"), DecisionDenied("'x' may not decide"),
        InputsInvalid("bad inputs", [SchemaProblem("/inputs/n", "not an integer")]),
        PlanChanged("the plan changed", "ab" * 32),
    ]
    for refusal in cases:
        back = refusal_from_wire(refusal_to_wire(refusal))
        assert type(back) is type(refusal) and str(back) == str(refusal)
    inputs = refusal_from_wire(refusal_to_wire(cases[2]))
    assert isinstance(inputs, InputsInvalid) and inputs.problems == [SchemaProblem("/inputs/n", "not an integer")]
    changed = refusal_from_wire(refusal_to_wire(cases[3]))
    assert isinstance(changed, PlanChanged) and changed.plan_digest == "ab" * 32
