"""Compensation over REST against the real engine: the run's `compensated`, each step's `compensation`,
the unwind's events, and a cancel that asks for it (`{"compensate": true}`) or not."""

from __future__ import annotations

from typing import Any

from .test_finally_outputs import start
from .test_runs import events, in_state, step, wait_run


def undone(step_id: str, **more: Any) -> dict[str, Any]:
    return {"id": step_id, "uses": "testkit/echo", "with": {"value": step_id},
            "compensate": {"uses": "testkit/echo",
                           "with": {"value": "undo ${{ steps." + step_id + ".outputs.value }}"}},
            **more}


async def test_a_failed_run_shows_what_its_unwind_undid(client, headers, definition) -> None:
    run = await start(client, headers, definition, [
        undone("a"),
        {"id": "b", "uses": "testkit/echo", "needs": ["a"], "with": {"value": "b"},
         "compensate": {"uses": "testkit/fail", "with": {"message": "cannot undo b"}}},
        {"id": "boom", "uses": "testkit/fail", "needs": ["b"]}])
    done = await wait_run(client, headers, run["id"], in_state("failed"))
    assert done["compensated"] == "partial"
    assert (step(done, "a")["state"], step(done, "a")["compensation"]) == ("compensated", "compensated")
    assert (step(done, "b")["state"], step(done, "b")["compensation"]) == ("succeeded", "failed")
    assert step(done, "b")["error"] == "compensation failed: cannot undo b"
    assert step(done, "boom")["compensation"] is None
    unwind = [(e["type"], e["step_id"]) for e in await events(client, headers, run["id"])
              if e["type"].startswith("step.compensat")]
    assert unwind == [("step.compensating", "b"), ("step.compensation_failed", "b"),
                      ("step.compensating", "a"), ("step.compensated", "a")]
    compensated = next(e for e in await events(client, headers, run["id"]) if e["type"] == "step.compensated")
    assert compensated["data"]["outputs"] == {"value": "undo a"}


async def test_a_cancel_with_compensate_undoes_and_a_plain_cancel_does_not(client, headers, definition) -> None:
    for body, compensated in (({"compensate": True}, True), (None, None)):
        run = await start(client, headers, definition, [
            undone("a"), {"id": "wait", "uses": "core/sleep", "needs": ["a"], "with": {"seconds": 30}}])
        await wait_run(client, headers, run["id"], lambda r: step(r, "wait")["state"] == "running")
        cancelled = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"),
                                      **({"json": body} if body is not None else {}))
        assert cancelled.status_code == 200, cancelled.text
        done = await wait_run(client, headers, run["id"], in_state("cancelled"))
        assert done["compensated"] is compensated
        assert step(done, "a")["state"] == ("compensated" if compensated else "succeeded")


async def test_a_cancel_body_with_an_unknown_field_is_a_422_naming_it(client, headers, definition) -> None:
    run = await start(client, headers, definition, [{"id": "wait", "uses": "core/sleep", "with": {"seconds": 30}}])
    answer = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"),
                               json={"compensat": True})
    assert answer.status_code == 422, answer.text
    assert "compensat" in answer.text
    assert (await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))).status_code == 200


async def test_retry_of_a_compensated_run_is_a_409_naming_why_and_rerun_still_reopens_it(
        client, headers, definition) -> None:
    control = "/api/v1/runs/{}"
    for compensate, shown in (({"uses": "testkit/echo", "with": {"value": "undo"}}, "its succeeded steps were undone"),
                              ({"uses": "testkit/fail"}, "some of its succeeded steps were undone")):
        run = await start(client, headers, definition, [
            {"id": "a", "uses": "testkit/echo", "with": {"value": "a"}, "compensate": compensate},
            {"id": "boom", "uses": "testkit/fail", "needs": ["a"]}])
        done = await wait_run(client, headers, run["id"], in_state("failed"))
        assert done["compensated"] in (True, "partial")
        retry = await client.post(control.format(run["id"]) + "/retry", headers=headers("operator"))
        assert retry.status_code == 409, retry.text
        assert retry.headers["content-type"].startswith("application/problem+json")
        assert retry.json()["detail"] == (
            f"run was compensated ({shown}): retrying from the failure would run its later steps on undone work; "
            "start a new run, or rerun from a step")
        assert (await client.get(control.format(run["id"]), headers=headers("viewer"))).json()["state"] == "failed"
    rerun = await client.post(control.format(run["id"]) + "/steps/a/rerun", headers=headers("operator"))
    assert rerun.status_code == 200, rerun.text  # a rerun from a step starts that work over: allowed
    # a failed run whose unwind undid nothing is retried as ever
    plain = await start(client, headers, definition, [{"id": "boom", "uses": "testkit/fail"}])
    await wait_run(client, headers, plain["id"], in_state("failed"))
    again = await client.post(control.format(plain["id"]) + "/retry", headers=headers("operator"))
    assert again.status_code == 200, again.text
