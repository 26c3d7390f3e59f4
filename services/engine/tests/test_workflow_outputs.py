"""`spec.outputs` over real processes: evaluated when the run ends, stored on the run and in its final
event; an output that cannot be evaluated fails a run that would have succeeded and is null otherwise;
secrets are masked; and what validation says about outputs, with pointers."""

from __future__ import annotations

import json
from typing import Any

from vwmp_common.states import RunState
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.validation import validate_definition
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import CANARY, Replica
from .test_runs import workflow
from .test_semantics import control


async def finished(engine: Replica, definition: dict[str, Any], parameters: dict[str, Any] | None = None,
                   cancel: bool = False) -> tuple[storage_pb2.Run, dict[str, Any]]:
    """The stored run once it ended, and its final event's data."""
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], parameters)
    if cancel:
        await engine.wait_step(run_id, "slow", "running")
        await control(engine, run_id, "cancel")
    await engine.wait(run_id)
    run = await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))
    return run, (await engine.events(run_id))[-1].data


def outputs_of(run: storage_pb2.Run) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run.outputs_json or "{}")
    return found


def state_of(run: storage_pb2.Run) -> str:
    return str(RunState.from_number(run.state))


async def test_outputs_are_evaluated_at_the_end_and_kept_on_the_run_and_its_final_event(engine) -> None:
    definition = workflow(
        {"id": "bump", "uses": "testkit/echo", "with": {"value": "1.2.${{ params.patch }}"}},
        {"id": "tag", "uses": "testkit/echo", "needs": ["bump"], "with": {"value": "v${{ steps.bump.outputs.value }}"}},
        parameters={"type": "object", "properties": {"patch": {"type": "integer"}}},
        outputs={"version": "${{ steps.bump.outputs.value }}", "tag": "${{ steps.tag.outputs.value }}",
                 "patch": "${{ params.patch }}", "summary": "${{ run.workflow }} ended ${{ run.state }}",
                 "nested": {"list": ["${{ upper(steps.tag.outputs.value) }}", 7]}, "literal": True})
    run, final = await finished(engine, definition, {"patch": 3})
    assert state_of(run) == "succeeded"
    expected = {"version": "1.2.3", "tag": "v1.2.3", "patch": 3,
                "summary": f"{definition['metadata']['name']} ended succeeded",
                "nested": {"list": ["V1.2.3", 7]}, "literal": True}
    assert outputs_of(run) == expected
    assert final["outputs"] == expected


async def test_a_run_without_outputs_has_none_and_its_final_event_says_nothing_of_them(engine) -> None:
    run, final = await finished(engine, workflow({"id": "a", "uses": "core/noop"}))
    assert outputs_of(run) == {} and "outputs" not in final


async def test_an_output_that_cannot_be_evaluated_fails_a_succeeding_run_and_names_the_output(engine) -> None:
    definition = workflow({"id": "bump", "uses": "testkit/echo", "with": {"value": "1"}},
                          outputs={"version": "${{ steps.bump.outputs.value }}",
                                   "missing": "${{ steps.bump.outputs.nothing }}",
                                   "parsed": "${{ fromJSON('not json') }}"})
    run, final = await finished(engine, definition)
    assert state_of(run) == "failed"
    assert outputs_of(run) == {"version": "1", "missing": None, "parsed": None}
    assert final["error"].startswith("outputs.missing: steps.bump.outputs.nothing cannot be resolved")
    assert "; outputs.parsed: fromJSON(): not JSON" in final["error"]


async def test_on_a_failed_run_an_output_that_cannot_be_evaluated_is_null(engine) -> None:
    definition = workflow({"id": "ok", "uses": "testkit/echo", "with": {"value": "kept"}},
                          {"id": "broken", "uses": "testkit/fail", "with": {"message": "no"}},
                          outputs={"kept": "${{ steps.ok.outputs.value }}", "lost": "${{ steps.broken.outputs.x }}",
                                   "failed": "${{ run.failed_steps }}"})
    run, final = await finished(engine, definition)
    assert state_of(run) == "failed"
    assert outputs_of(run) == {"kept": "kept", "lost": None, "failed": ["broken"]}
    assert "error" not in final and final["outputs"] == outputs_of(run)


async def test_a_cancelled_run_keeps_the_outputs_it_can_evaluate(engine) -> None:
    definition = workflow({"id": "early", "uses": "testkit/echo", "with": {"value": "e"}},
                          {"id": "slow", "uses": "core/sleep", "needs": ["early"], "with": {"seconds": 30}},
                          outputs={"early": "${{ steps.early.outputs.value }}", "slow": "${{ steps.slow.outputs }}",
                                   "state": "${{ run.state }}"})
    run, final = await finished(engine, definition, cancel=True)
    assert state_of(run) == "cancelled"
    assert outputs_of(run) == {"early": "e", "slow": {}, "state": "cancelled"}
    assert final["by"] == "op" and final["outputs"] == outputs_of(run)


async def test_outputs_see_finally_steps_and_the_state_they_ended_the_run_in(engine) -> None:
    definition = workflow({"id": "a", "uses": "core/noop"},
                          outputs={"report": "${{ steps.report.outputs.value }}", "state": "${{ run.state }}"},
                          **{"finally": [{"id": "report", "uses": "testkit/echo", "with": {"value": "r"}},
                                         {"id": "broken", "uses": "testkit/fail"}]})
    run, final = await finished(engine, definition)
    assert state_of(run) == "failed"
    assert outputs_of(run) == final["outputs"] == {"report": "r", "state": "failed"}
    assert final["failed_steps"] == ["broken"]


async def test_secrets_in_outputs_are_masked(engine) -> None:
    definition = workflow({"id": "use", "uses": "testkit/echo", "with": {"value": "token=${{ secrets.CANARY }}"}},
                          outputs={"direct": "${{ secrets.CANARY }}", "via_step": "${{ steps.use.outputs.value }}",
                                   "missing": "${{ steps.use.outputs.x }} ${{ secrets.CANARY }}"})
    run, final = await finished(engine, definition)
    assert outputs_of(run) == {"direct": "***", "via_step": "token=***", "missing": None}
    text = run.outputs_json + json.dumps(final) + "".join(e.data_json for e in await engine.events(run.id))
    assert CANARY not in text


async def test_outputs_are_evaluated_again_when_a_retried_run_ends(engine) -> None:
    definition = workflow({"id": "fragile", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": "o.txt"}},
                          outputs={"attempt": "${{ steps.fragile.outputs.attempt }}", "state": "${{ run.state }}"})
    run, _final = await finished(engine, definition)
    assert state_of(run) == "failed" and outputs_of(run) == {"attempt": None, "state": "failed"}
    await control(engine, run.id, "retry")
    await engine.wait(run.id)
    again = await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run.id))
    assert state_of(again) == "succeeded" and outputs_of(again) == {"attempt": 2, "state": "succeeded"}


# ----- validation ---------------------------------------------------------------------------------------


def problems(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in validate_definition(definition, CORE_STEP_TYPES.get)]


def test_output_names_and_expressions_are_checked_with_pointers() -> None:
    found = problems(workflow(
        {"id": "a", "uses": "core/sleep", "with": {"seconds": 0}},
        parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
        outputs={"1bad": "x", "ok": "${{ steps.a.outputs.slept }} ${{ params.n }} ${{ run.failed_steps }}",
                 "unknown_step": "${{ steps.ghost.outputs.x }}", "unknown_param": "${{ params.m }}",
                 "status": "${{ success() }}", "broken": "${{ steps.a.outputs. }}",
                 "deep": {"list": ["fine", "${{ run.owner }}"]}, "fn": "${{ nope(1) }}"}))
    assert found[0][0] == "/spec/outputs/1bad"
    rest = dict(found[1:])
    assert rest["/spec/outputs/unknown_step"] == "steps.ghost.outputs.x: no step 'ghost'"
    assert "parameter 'm' is not declared" in rest["/spec/outputs/unknown_param"]
    assert rest["/spec/outputs/status"] == "success() is only available in if: conditions"
    assert rest["/spec/outputs/broken"].startswith("invalid expression")
    assert rest["/spec/outputs/deep/list/1"].startswith("run.owner: run has only id, workflow, version, dry_run")
    assert "unknown function 'nope'" in rest["/spec/outputs/fn"]
    assert "/spec/outputs/ok" not in rest


def test_outputs_may_name_finally_steps_but_main_steps_may_not() -> None:
    found = problems(workflow(
        {"id": "a", "uses": "core/noop", "with": {}, "if": "${{ steps.f.state == 'succeeded' }}"},
        outputs={"f": "${{ steps.f.state }}"}, **{"finally": [{"id": "f", "uses": "core/noop"}]}))
    assert found == [("/spec/steps/0/if", "steps.f.state: no step 'f'")]


def test_outputs_and_finally_steps_index_a_fan_outs_list_of_outputs() -> None:
    fan = {"id": "fan", "uses": "core/approval", "for_each": [1, 2]}
    found = dict(problems(workflow(
        fan, outputs={"first": "${{ steps.fan.outputs[0].approved_by }}",
                      "count": "${{ length(steps.fan.outputs) }}",
                      "unindexed": "${{ steps.fan.outputs.approved_by }}",
                      "missing": "${{ steps.fan.outputs[1].nope }}"},
        **{"finally": [{"id": "f", "uses": "core/sleep", "with": {"seconds": "${{ steps.fan.outputs[0].x }}"}}]})))
    assert set(found) == {"/spec/outputs/unindexed", "/spec/outputs/missing", "/spec/finally/0/with/seconds"}
    assert found["/spec/outputs/unindexed"] == ("steps.fan.outputs.approved_by: steps.fan.outputs is a list (one "
                                                "element per item); use steps.fan.outputs[<index>].<name>")
    assert found["/spec/outputs/missing"].startswith("steps.fan.outputs.1.nope: core/approval has no output 'nope'")
    assert found["/spec/finally/0/with/seconds"].startswith("steps.fan.outputs.0.x: core/approval has no output")
