"""Sub-workflows end to end: applied, validated, run, listed and cancelled through the gateway's REST API.

A parent workflow calls `workflow/<child>` for a greeting; every service is a real OS process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from vwmp_cli.up import Platform

from .conftest import platform_env, running

pytestmark = pytest.mark.e2e

CHILD_YAML = """\
apiVersion: vwmp/v1
kind: Workflow
metadata: {name: greet-one, description: "greets one person"}
spec:
  parameters:
    type: object
    required: [who]
    properties:
      who: {type: string}
  steps:
    - id: greet
      uses: hello/greet
      with: {name: "${{ params.who }}"}
"""


def definition(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": list(steps)}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running(Platform(env=platform_env(tmp_path_factory.mktemp("subwf"), VWMP_PLUGINS="hello"))) as platform:
        yield platform


async def finished(api: httpx.AsyncClient, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while (run := (await api.get(f"/runs/{run_id}")).json())["finished_at"] is None:
            await asyncio.sleep(0.1)
    return run


async def child_runs(api: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    listed = await api.get("/runs", params={"parent_run_id": run_id})
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def test_a_parent_run_starts_its_child_and_the_child_is_listed_under_it(api) -> None:
    created = await api.post("/workflows", content=CHILD_YAML, headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    parent = definition("greet-team", {"id": "first", "uses": "workflow/greet-one",
                                       "with": {"parameters": {"who": "Ada"}}},
                        {"id": "second", "uses": "workflow/greet-one", "needs": ["first"],
                         "with": {"version": 1, "parameters": {"who": "Grace"}}})
    created = await api.post("/workflows", json=parent)
    assert created.status_code == 201, created.text
    started = await api.post("/workflows/greet-team/runs", json={})
    assert started.status_code == 201, started.text
    run = await finished(api, started.json()["id"])
    assert run["state"] == "succeeded", run
    kids = {kid["parent"]["step_id"]: kid for kid in await child_runs(api, run["id"])}
    assert sorted(kids) == ["first", "second"]
    assert all(kid["parent"]["run_id"] == run["id"] and kid["state"] == "succeeded" for kid in kids.values())
    assert [kids[step]["parameters"] for step in ("first", "second")] == [{"who": "Ada"}, {"who": "Grace"}]
    steps = {step["id"]: step for step in run["steps"]}
    assert steps["first"]["outputs"]["child_run_id"] == kids["first"]["id"]
    greeted = (await api.get(f"/runs/{kids['second']['id']}")).json()
    assert greeted["steps"][0]["outputs"] == {"greeting": "Hello, Grace!"}
    assert run["parent"] is None


async def test_the_palette_offers_stored_workflows_as_steps(api) -> None:
    offered = {item["type"]: item for item in (await api.get("/step-types")).json()["items"]}
    child = offered["workflow/greet-one"]
    assert child["config_schema"]["properties"]["parameters"]["required"] == ["who"]
    assert "child_run_id" in child["outputs_schema"]["properties"]


async def test_a_call_cycle_and_an_unknown_workflow_are_refused_with_pointers(api) -> None:
    updated = await api.put("/workflows/greet-one", json=definition(
        "greet-one", {"id": "loop", "uses": "workflow/greet-team"}))
    assert updated.status_code == 422, updated.text
    assert updated.json()["errors"] == [
        {"pointer": "/spec/steps/0/uses", "message": "call cycle: greet-one → greet-team → greet-one"}]
    unknown = await api.post("/workflows/validate", json=definition("x", {"id": "a", "uses": "workflow/nowhere"}))
    assert unknown.json() == {"valid": False, "errors": [
        {"pointer": "/spec/steps/0/uses", "message": "unknown workflow 'nowhere'"}]}


async def test_cancelling_a_parent_over_rest_cancels_its_running_child(api) -> None:
    napping = definition("nap-long", {"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    assert (await api.post("/workflows", json=napping)).status_code == 201
    caller = definition("call-nap", {"id": "call", "uses": "workflow/nap-long"})
    assert (await api.post("/workflows", json=caller)).status_code == 201
    run_id = (await api.post("/workflows/call-nap/runs", json={})).json()["id"]
    async with asyncio.timeout(20):
        while not (kids := await child_runs(api, run_id)) or kids[0]["state"] != "running":
            await asyncio.sleep(0.1)
    cancelled = await api.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    parent, child = await finished(api, run_id, timeout=10), await finished(api, kids[0]["id"], timeout=10)
    assert (parent["state"], child["state"]) == ("cancelled", "cancelled")
    assert child["steps"][0]["state"] == "cancelled"


async def test_a_for_each_of_sub_workflows_over_rest_lists_one_child_per_item(api) -> None:
    fan = definition("greet-each", {"id": "greet", "uses": "workflow/greet-one", "for_each": ["Ada", "Grace"],
                                    "with": {"parameters": {"who": "${{ item }}"}}})
    created = await api.post("/workflows", json=fan)
    assert created.status_code == 201, created.text
    run = await finished(api, (await api.post("/workflows/greet-each/runs", json={})).json()["id"])
    assert run["state"] == "succeeded", run
    kids = {kid["parent"]["step_id"]: kid for kid in await child_runs(api, run["id"])}
    assert sorted(kids) == ["greet[0]", "greet[1]"]
    assert [kids[f"greet[{i}]"]["parameters"]["who"] for i in range(2)] == ["Ada", "Grace"]
    steps = {step["id"]: step for step in run["steps"]}
    assert [steps[f"greet[{i}]"]["outputs"]["child_run_id"] for i in range(2)] == [
        kids["greet[0]"]["id"], kids["greet[1]"]["id"]]
