"""The built-in step types: declared with their schemas, implemented next to the declaration."""

from __future__ import annotations

import time

import pytest
from vwmp_engine.core_steps import CORE_STEP_TYPES, CORE_STEPS, CoreCall
from vwmp_engine.definition import StepSpec
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.run_state import StepRun
from vwmp_engine.validation import validate_definition


def call(uses: str, config: dict[str, object], dry_run: bool = False) -> CoreCall:
    return CoreCall(StepRun(StepSpec("s", uses, config=dict(config))), dict(config), dry_run, gate=None)  # type: ignore[arg-type]  # noop and sleep never use the gate


def test_the_palette_offers_every_core_step_type_without_any_plugin_host() -> None:
    registry = StepTypeRegistry()
    assert {info.type for info in registry.all()} == {"core/approval", "core/noop", "core/sleep"}
    assert registry.get("core/sleep") is CORE_STEP_TYPES["core/sleep"]
    assert CORE_STEP_TYPES["core/approval"].outputs_schema["properties"].keys() == {
        "approved_by", "comment", "plan", "plan_digest", "approvals", "inputs"}


def test_core_step_configs_are_validated_against_their_declared_schemas() -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "core"}, "spec": {"steps": [
        {"id": "nap", "uses": "core/sleep", "with": {}},
        {"id": "gate", "uses": "core/approval", "with": {"message": "ok?", "extra": 1}},
    ]}}
    problems = {(p.pointer, p.message) for p in validate_definition(definition, StepTypeRegistry().get)}
    assert ("/spec/steps/0/with/seconds", "seconds is required") in problems
    assert ("/spec/steps/1/with/extra", "unknown field 'extra'") in problems


def _gate_problems(config: dict[str, object]) -> list[tuple[str, str]]:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "core"}, "spec": {"steps": [
        {"id": "gate", "uses": "core/approval", "with": config}]}}
    return [(p.pointer, p.message) for p in validate_definition(definition, StepTypeRegistry().get)]


def test_the_approval_policy_is_validated_with_pointers() -> None:
    good = {"message": "Push?", "approvers": {"roles": ["admin"], "names": ["release-lead"]}, "required": 2,
            "allow_self_approval": False, "pin_plan": True, "timeout": "24h", "on_timeout": "approve",
            "inputs": {"type": "object", "properties": {"notes_override": {"type": "string"}}}}
    assert _gate_problems(good) == []
    pointers = {pointer for pointer, _ in _gate_problems({
        "approvers": {"roles": ["editor"], "groups": []}, "required": 0, "timeout": "a day",
        "on_timeout": "shrug", "allow_self_approval": "yes"})}
    assert pointers == {"/spec/steps/0/with/approvers/roles/0", "/spec/steps/0/with/approvers/groups",
                        "/spec/steps/0/with/required", "/spec/steps/0/with/timeout",
                        "/spec/steps/0/with/on_timeout", "/spec/steps/0/with/allow_self_approval"}


def test_the_approval_inputs_must_themselves_be_a_valid_json_schema() -> None:
    problems = _gate_problems({"inputs": {"type": "object", "properties": {"notes": {"type": "text"}}}})
    assert [pointer for pointer, _ in problems] == ["/spec/steps/0/with/inputs/properties/notes/type"]
    assert "not a valid JSON Schema" in problems[0][1]


async def test_noop_returns_no_outputs() -> None:
    assert await CORE_STEPS["core/noop"].run(call("core/noop", {})) == {}


async def test_sleep_waits_its_seconds_except_in_a_dry_run() -> None:
    began = time.monotonic()
    await CORE_STEPS["core/sleep"].run(call("core/sleep", {"seconds": 0.1}))
    assert time.monotonic() - began >= 0.1
    began = time.monotonic()
    await CORE_STEPS["core/sleep"].run(call("core/sleep", {"seconds": 60}, dry_run=True))
    assert time.monotonic() - began < 1


@pytest.mark.parametrize(("uses", "waits"), [("core/noop", False), ("core/sleep", False), ("core/approval", True)])
def test_only_the_approval_gate_waits_for_a_person(uses: str, waits: bool) -> None:
    assert CORE_STEPS[uses].waits_for_person is waits
