"""Runs: list, inspect, history, logs and execution control."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

import grpc
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BeforeValidator
from vwmp_common.states import ControlAction, RunState, StepState
from vwmp_common.timeutil import to_timestamp
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert
from vwmp_gateway.auth import Principal
from vwmp_gateway.deps import CurrentUser, EngineClient, StorageClient
from vwmp_gateway.hardening import check_values
from vwmp_gateway.models import CancelRequest, Decision, EventPublic, LogLinePublic, Page, RunPublic, StepPage
from vwmp_gateway.problems import Problem, plan_digest_of
from vwmp_gateway.routers.workflows import NAME_PATTERN

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
# A definition's step id, or a for_each instance of one (`greet[3]`).
StepId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+(\[[0-9]{1,5}\])?$")]
StateFilter = Annotated[RunState | None, Query(description="Only runs in this state")]
# What the document calls a date-time (RFC 3339, the offset may be left out): pydantic alone would also take
# a number of seconds ("0.5") or a bare date, which the document does not allow.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


def _date_time(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-12-03T10:00:00Z")
    return value


Moment = Annotated[dt.datetime, BeforeValidator(_date_time)]
PARAMETER_PREFIX = "param."
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
MAX_PARAMETER_FILTERS = 10


def parameter_filters(request: Request) -> dict[str, str]:
    """The `param.<name>=<value>` query parameters of a run search (names as declared in a workflow's
    parameters schema; each at most once)."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if not key.startswith(PARAMETER_PREFIX):
            continue
        name = key[len(PARAMETER_PREFIX):]
        where = f"/query/{key}"
        if not PARAMETER_NAME.match(name):
            raise Problem(422, f"{key}: a parameter name is letters, digits, '_' and '-' (at most 64)",
                          errors=[{"pointer": where, "message": "not a parameter name"}])
        if name in found:
            raise Problem(422, f"{key}: given twice", errors=[{"pointer": where, "message": "given twice"}])
        if len(value) > 500:
            raise Problem(422, f"{key}: at most 500 characters", errors=[{"pointer": where, "message": "too long"}])
        found[name] = value
    if len(found) > MAX_PARAMETER_FILTERS:
        raise Problem(422, f"at most {MAX_PARAMETER_FILTERS} param.<name> filters",
                      errors=[{"pointer": "/query", "message": "too many parameter filters"}])
    return found



@router.get("")
async def list_runs(
    storage: StorageClient,
    parameters: Annotated[dict[str, str], Depends(parameter_filters)],
    workflow: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only runs of this workflow")] = None,
    state: StateFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    parent_run_id: Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                                               description="Only the child runs of this run")] = None,
    trigger: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$",
                                         description="Only runs started that way: manual, schedule, webhook, "
                                                     "on_run, or a trigger id")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200,
                                       description="Only runs started by this actor (a token's name)")] = None,
    since: Annotated[Moment | None, Query(description="Only runs created at or after this moment (ISO 8601)")]
    = None,
    until: Annotated[Moment | None, Query(description="Only runs created before this moment (ISO 8601)")] = None,
) -> Page[RunPublic]:
    """Runs newest first, filtered by workflow, state, parent run, trigger, actor, creation time and parameter
    values (`param.<name>=<value>`, compared as text: `param.repo=shop`, `param.count=3`), paginated."""
    search = storage_pb2.ListRunsRequest(
        workflow=workflow or "",
        state=state.number if state else states_pb2.RUN_STATE_UNSPECIFIED,
        limit=limit,
        offset=offset,
        parent_run_id=parent_run_id or "",
        trigger=trigger or "",
        created_by=actor or "",
        parameters=parameters,
    )
    for moment, field in ((since, search.created_after), (until, search.created_before)):
        if moment is not None:
            field.CopyFrom(to_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)))
    response = await storage.ListRuns(search)
    return Page(items=[convert.run(item) for item in response.runs], total=response.total)


# What `?steps=summary` keeps: the steps someone looking at a run wants to see (not the pending, succeeded
# and skipped ones, which a 10,000-step run has by the thousand); step_counts says how many of those there are.
SUMMARY_STATES = (StepState.RUNNING, StepState.RETRYING, StepState.AWAITING_APPROVAL, StepState.FAILED,
                  StepState.CANCELLED)
StepStateFilter = Annotated[list[StepState] | None, Query(description="Only steps in these states (repeatable: "
                                                                      "state=failed&state=running)")]


@router.get("/{run_id}")
async def get_run(
    run_id: RunId,
    storage: StorageClient,
    steps: Annotated[Literal["all", "summary"], Query(
        description="all: every step (the default); summary: only the running, retrying, awaiting_approval, "
                    "failed and cancelled steps, with step_counts for the rest (page through all of them with "
                    "GET /runs/{run_id}/steps)")] = "all",
) -> RunPublic:
    """A run with its steps (or, with `?steps=summary`, the steps that need a look and the count per state)."""
    if steps == "all":
        return convert.run(await storage.GetRun(storage_pb2.GetRunRequest(id=run_id)))
    return convert.run(await storage.GetRun(storage_pb2.GetRunRequest(
        id=run_id, select_steps=True, step_states=[state.number for state in SUMMARY_STATES],
        with_step_counts=True)))


@router.get("/{run_id}/steps")
async def list_run_steps(
    run_id: RunId,
    storage: StorageClient,
    state: StepStateFilter = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,10}$", description="next_cursor of the previous page")]
    = None,
) -> StepPage:
    """The run's steps in creation order, a page at a time, optionally only those in some states."""
    response = await storage.ListRunSteps(storage_pb2.ListRunStepsRequest(
        run_id=run_id, states=[s.number for s in state or ()], limit=limit, start_position=int(cursor or 0)))
    return StepPage(items=[convert.step_run(step) for step in response.steps], total=response.total,
                    next_cursor=str(response.next_position) if response.next_position >= 0 else None)


@router.get("/{run_id}/events")
async def list_run_events(
    run_id: RunId,
    storage: StorageClient,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Only events with a larger seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Page[EventPublic]:
    """The run's events after seq `after`, in order."""
    await storage.GetRun(storage_pb2.GetRunRequest(id=run_id, select_steps=True))  # it exists (none of its steps)
    response = await storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run_id, after=after, limit=limit))
    items = [convert.event(item) for item in response.events]
    return Page(items=items, total=len(items))


@router.get("/{run_id}/steps/{step_id}/logs")
async def get_step_logs(
    run_id: RunId,
    step_id: StepId,
    storage: StorageClient,
    attempt: Annotated[int, Query(ge=0, le=10_000, description="0: every attempt")] = 0,
) -> Page[LogLinePublic]:
    """Log lines of one step, in order."""
    response = await storage.GetStepLogs(
        storage_pb2.GetStepLogsRequest(run_id=run_id, step_id=step_id, attempt=attempt)
    )
    items = [convert.log_line(item) for item in response.lines]
    return Page(items=items, total=len(items))


async def _control(
    engine: EngineClient, run_id: str, action: ControlAction, actor: str, step_id: str = "", compensate: bool = False
) -> RunPublic:
    run = await engine.ControlRun(
        engine_pb2.ControlRunRequest(run_id=run_id, action=action.number, actor=actor, step_id=step_id,
                                     compensate=compensate)
    )
    return convert.run(run)


@router.post("/{run_id}/cancel")
async def cancel_run(run_id: RunId, user: CurrentUser, engine: EngineClient,
                     body: Annotated[CancelRequest | None, Body()] = None) -> RunPublic:
    """Cancel a run; steps in flight are cancelled. With `compensate: true` its succeeded steps are undone first."""
    return await _control(engine, run_id, ControlAction.CANCEL, user.name, compensate=bool(body and body.compensate))


@router.post("/{run_id}/pause")
async def pause_run(run_id: RunId, user: CurrentUser, engine: EngineClient) -> RunPublic:
    """Pause a run: no new step is dispatched."""
    return await _control(engine, run_id, ControlAction.PAUSE, user.name)


@router.post("/{run_id}/resume")
async def resume_run(run_id: RunId, user: CurrentUser, engine: EngineClient) -> RunPublic:
    """Resume a paused run."""
    return await _control(engine, run_id, ControlAction.RESUME, user.name)


@router.post("/{run_id}/retry")
async def retry_run(run_id: RunId, user: CurrentUser, engine: EngineClient) -> RunPublic:
    """Retry a failed run from its failed steps, keeping earlier outputs."""
    return await _control(engine, run_id, ControlAction.RETRY, user.name)


@router.post("/{run_id}/steps/{step_id}/rerun")
async def rerun_step(run_id: RunId, step_id: StepId, user: CurrentUser, engine: EngineClient) -> RunPublic:
    """Re-run a run from one step (that step and everything downstream)."""
    return await _control(engine, run_id, ControlAction.RERUN, user.name, step_id)


async def _decide(
    engine: EngineClient, storage: StorageClient, run_id: str, step_id: str, approve: bool, user: Principal,
    decision: Decision | None,
) -> RunPublic:
    decision = decision or Decision()
    check_values(decision.comment, "/comment", "decision")
    if decision.inputs is not None:
        check_values(decision.inputs, "/inputs", "decision")
    try:
        run = await engine.DecideApproval(
            engine_pb2.DecideApprovalRequest(
                run_id=run_id, step_id=step_id, approve=approve, actor=user.name, actor_role=user.role,
                comment=decision.comment, plan_digest=decision.plan_digest or "",
                inputs_json=json.dumps(decision.inputs) if decision.inputs is not None else "",
            )
        )
    except grpc.aio.AioRpcError as error:
        digest = plan_digest_of(error)
        if digest is None:
            raise
        raise await _plan_changed(storage, run_id, step_id, digest, error.details() or "") from None
    return convert.run(run)


async def _plan_changed(storage: StorageClient, run_id: str, step_id: str, digest: str, detail: str) -> Problem:
    """409 plan-changed with the plan the gate shows now (the engine stored it before refusing)."""
    stored = await storage.GetRun(storage_pb2.GetRunRequest(id=run_id))
    outputs: dict[str, Any] = next((json.loads(s.outputs_json or "{}") for s in stored.steps if s.id == step_id), {})
    plan = outputs.get("plan", []) if outputs.get("plan_digest") == digest else []
    return Problem(409, detail, title="Plan changed", kind="plan-changed",
                   extra={"plan_digest": digest, "plan": plan})


@router.post("/{run_id}/steps/{step_id}/approve")
async def approve_step(
    run_id: RunId, step_id: StepId, user: CurrentUser, engine: EngineClient, storage: StorageClient,
    decision: Annotated[Decision | None, Body()] = None,
) -> RunPublic:
    """Approve a step awaiting approval, with the plan_digest of the plan shown (409 plan-changed if it moved)."""
    return await _decide(engine, storage, run_id, step_id, True, user, decision)


@router.post("/{run_id}/steps/{step_id}/reject")
async def reject_step(
    run_id: RunId, step_id: StepId, user: CurrentUser, engine: EngineClient, storage: StorageClient,
    decision: Annotated[Decision | None, Body()] = None,
) -> RunPublic:
    """Reject a step awaiting approval (the step fails)."""
    return await _decide(engine, storage, run_id, step_id, False, user, decision)
