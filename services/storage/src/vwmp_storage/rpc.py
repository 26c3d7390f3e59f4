"""The StorageService servicer: decode the request, call the domain, encode the answer.

Domain errors become gRPC status codes with their human message; anything
unexpected is logged with its traceback and answered INTERNAL without one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vwmp_common import rpc_metadata
from vwmp_common.logging import log_context
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp, to_timestamp
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.events.v1 import events_pb2
from vwmp_proto.storage.v1 import storage_pb2 as pb
from vwmp_proto.storage.v1 import storage_pb2_grpc

from vwmp_storage import errors
from vwmp_storage.audit import AuditEntry
from vwmp_storage.concurrency import Concurrency, ConcurrencyConflict
from vwmp_storage.definitions import NotLatest, WorkflowVersion
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.jsontext import dump
from vwmp_storage.leases import Lease
from vwmp_storage.outage import UNAVAILABLE_DETAIL, DatabaseAway, database_away
from vwmp_storage.platform_config import ConfigDocument
from vwmp_storage.runs import EndedFilter, Event, LogLine, Run, RunParent, RunSearch, StepRun
from vwmp_storage.storage import Storage
from vwmp_storage.tokens import Token
from vwmp_storage.transitions import NewStep, Transition
from vwmp_storage.triggers import Advance, RunTrigger, TriggerState

log = logging.getLogger(__name__)

STATUS_OF: dict[type[errors.StorageError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
}

CLAIMED_RUNS_BYTES = 4 * 1024 * 1024  # the claimed runs a ClaimRuns answer carries, far below the message limit
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[["StorageServicer", Request, grpc.ServicerContext], Response]


def _rpc(method: Handler[Request, Response]) -> Handler[Request, Response]:
    """Map domain errors to status codes; tag log records with the run id when there is one."""

    @functools.wraps(method)
    def handler(self: StorageServicer, request: Request, context: grpc.ServicerContext) -> Response:
        run_id = getattr(request, "run_id", "") or (getattr(request, "id", "") if method.__name__ == "GetRun" else "")
        with log_context(**({"run_id": run_id} if run_id else {})):
            try:
                answer = method(self, request, context)
            except errors.StorageError as exc:
                code = next(status for kind, status in STATUS_OF.items() if isinstance(exc, kind))
                log.info("refused %s", method.__name__, extra={"fields": {"code": code.name, "reason": str(exc)}})
                if isinstance(exc, ConcurrencyConflict):
                    conflict = dump({"key": exc.key, "blocked_by": exc.blocked_by})
                    context.set_trailing_metadata(((rpc_metadata.CONCURRENCY, conflict),))
                elif isinstance(exc, NotLatest):
                    context.set_trailing_metadata(((rpc_metadata.LATEST_VERSION, str(exc.latest)),))
                context.abort(code, str(exc))
            except Exception as exc:
                if database_away(exc):
                    self.database_away.seen(method.__name__, exc)
                    context.abort(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_DETAIL)
                log.exception("unexpected error in %s", method.__name__)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__} (see storage logs)")
            self.database_away.answered()
            return answer

    return handler


E = TypeVar("E", RunState, StepState, EventType)


def _member(kind: type[E], number: int, field: str) -> str:
    """The value (as the domain stores it) of a member a peer sent as a proto enum number; "" for UNSPECIFIED.

    Raises:
        InvalidArgument: a number the enum does not have (a newer or broken peer), naming the field.
    """
    if not number:
        return ""
    try:
        return kind.from_number(number).value
    except ValueError:
        raise InvalidArgument(f"{field}: unknown {kind.__name__} {number}") from None


def _moment(stamp: Timestamp, field: str) -> datetime | None:
    """The moment a peer sent; None when unset. Timestamp's range is checked by protobuf itself."""
    try:
        return from_timestamp(stamp)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{field}: {exc}") from None


def _ended(request: pb.ListRunsRequest) -> EndedFilter | None:
    """The ended-run window of a ListRuns request; None when it asks for none."""
    followed = request.not_followed_by if request.HasField("not_followed_by") else None
    if not (request.HasField("finished_after") or request.HasField("finished_before") or request.states
            or followed is not None):
        return None
    if followed is not None and not (followed.workflow and followed.trigger_id):
        raise InvalidArgument("not_followed_by: workflow and trigger_id are both required")
    for index, number in enumerate(request.states):
        if not number:
            raise InvalidArgument(f"states[{index}]: a run state is required (not UNSPECIFIED)")
    return EndedFilter(
        after=_moment(request.finished_after, "finished_after"),
        before=_moment(request.finished_before, "finished_before"),
        states=tuple(_member(RunState, number, f"states[{index}]") for index, number in enumerate(request.states)),
        not_followed_by=(followed.workflow, followed.trigger_id) if followed is not None else None,
    )


def _search(request: pb.ListRunsRequest) -> RunSearch | None:
    """The run search of a ListRuns request; None when it asks for none."""
    if not (request.created_by or request.HasField("created_after") or request.HasField("created_before")
            or request.parameters):
        return None
    return RunSearch(created_by=request.created_by, created_after=_moment(request.created_after, "created_after"),
                     created_before=_moment(request.created_before, "created_before"),
                     parameters=tuple(sorted(request.parameters.items())))


def workflow_message(w: WorkflowVersion) -> pb.Workflow:
    return pb.Workflow(
        name=w.name,
        version=w.version,
        definition_json=w.definition_json,
        created_at=to_timestamp(w.created_at),
        created_by=w.created_by,
        archived=w.archived,
    )


def run_message(run: Run) -> pb.Run:
    return pb.Run(
        id=run.id,
        workflow=run.workflow,
        version=run.version,
        state=RunState(run.state).number,
        parameters_json=run.parameters_json,
        dry_run=run.dry_run,
        created_at=to_timestamp(run.created_at),
        started_at=to_timestamp(run.started_at),
        finished_at=to_timestamp(run.finished_at),
        reopened_at=to_timestamp(run.reopened_at),
        created_by=run.created_by,
        last_seq=run.last_seq,
        definition_json=run.definition_json,
        concurrency=concurrency_message(run.concurrency) if run.concurrency else None,
        created_events=[event_message(e) for e in run.created_events],
        outputs_json=run.outputs_json,
        parent=pb.RunParent(run_id=run.parent.run_id, step_id=run.parent.step_id) if run.parent else None,
        depth=run.depth,
        finalizing=RunState(run.finalizing).number if run.finalizing else states_pb2.RUN_STATE_UNSPECIFIED,
        compensated=run.compensated,
        trigger=trigger_message(run.trigger),
        replayed=run.replayed,
        idempotency_key=run.idempotency_key,
        request_digest=run.request_digest,
        steps=[step_message(s) for s in run.steps],
        step_counts=run.step_counts,
    )


def step_message(s: StepRun) -> pb.StepRun:
    return pb.StepRun(
        id=s.id,
        uses=s.uses,
        state=StepState(s.state).number,
        attempt=s.attempt,
        outputs_json=s.outputs_json,
        error=s.error,
        started_at=to_timestamp(s.started_at),
        finished_at=to_timestamp(s.finished_at),
        parent=s.parent,
        item_index=s.item_index or 0,
        compensation_attempt=s.compensation_attempt,
    )


def concurrency_message(c: Concurrency) -> pb.RunConcurrency:
    return pb.RunConcurrency(
        key=c.key, limit=c.limit, on_conflict=c.on_conflict, position=c.position, blocked_by=list(c.blocked_by)
    )


def event_message(e: Event) -> events_pb2.Event:
    return events_pb2.Event(
        seq=e.seq,
        run_id=e.run_id,
        type=EventType(e.type).number,
        step_id=e.step_id,
        attempt=e.attempt,
        at=to_timestamp(e.at),
        data_json=e.data_json,
    )


def token_message(t: Token) -> pb.Token:
    return pb.Token(
        id=t.id,
        name=t.name,
        role=t.role,
        created_at=to_timestamp(t.created_at),
        expires_at=to_timestamp(t.expires_at),
        revoked_at=to_timestamp(t.revoked_at),
        created_by=t.created_by,
    )


def audit_message(a: AuditEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        id=a.id,
        at=to_timestamp(a.at),
        actor=a.actor,
        action=a.action,
        target=a.target,
        outcome=a.outcome,
        detail_json=a.detail_json,
    )


def config_message(c: ConfigDocument) -> pb.ConfigDocument:
    return pb.ConfigDocument(
        version=c.version,
        document_json=c.document_json,
        updated_at=to_timestamp(c.updated_at),
        updated_by=c.updated_by,
    )


class _Aborted(Exception):
    """A handler run on the lease threads aborted; its status is replayed on the real context."""


class _ThreadContext:
    """The part of a servicer context the `_rpc` handlers use, for one run on the lease threads."""

    def __init__(self) -> None:
        self.trailing: tuple[tuple[str, str], ...] = ()
        self.status: tuple[grpc.StatusCode, str] = (grpc.StatusCode.UNKNOWN, "")

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing = tuple(metadata)

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status = (code, details)
        raise _Aborted(details)


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    """vwmp.storage.v1.StorageService on top of `Storage` (plain methods: run in the server's threads).

    Lease renewals and releases run on threads of their own (`LEASE_THREADS`): a replica that cannot
    renew stops executing its runs, so a renewal must never wait for a worker behind a queue of
    transition writes (it still waits for the database like any write).
    """

    LEASE_THREADS = 2

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.database_away = DatabaseAway()  # one log line per outage, not one per refused call
        self._lease_threads = ThreadPoolExecutor(self.LEASE_THREADS, thread_name_prefix="storage-leases")

    async def _on_lease_threads(self, handler: Callable[[Any, Any], Response], request: Any,
                                context: grpc.aio.ServicerContext[Any, Any]) -> Response:
        shim = _ThreadContext()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._lease_threads, handler, request, shim)
        except _Aborted:
            if shim.trailing:
                context.set_trailing_metadata(shim.trailing)
            await context.abort(*shim.status)
            raise  # abort raises; this line is never reached

    @_rpc
    def CreateWorkflow(self, request: pb.CreateWorkflowRequest, context: Any) -> pb.Workflow:
        saved = self.storage.definitions.create(request.name, request.definition_json, request.created_by)
        return workflow_message(saved)

    @_rpc
    def PutWorkflow(self, request: pb.PutWorkflowRequest, context: Any) -> pb.Workflow:
        archived = self.storage.definitions.get(request.name).archived
        saved = self.storage.definitions.put(
            request.name, request.definition_json, request.created_by, request.expected_version
        )
        if archived:  # restored: what ended while it was archived starts nothing
            self.storage.triggers.restart(request.name)
        return workflow_message(saved)

    @_rpc
    def GetWorkflow(self, request: pb.GetWorkflowRequest, context: Any) -> pb.Workflow:
        return workflow_message(self.storage.definitions.get(request.name, request.version))

    @_rpc
    def ListWorkflows(self, request: pb.ListWorkflowsRequest, context: Any) -> pb.ListWorkflowsResponse:
        found = self.storage.definitions.list(request.include_archived)
        return pb.ListWorkflowsResponse(workflows=[workflow_message(w) for w in found])

    @_rpc
    def ListWorkflowVersions(self, request: pb.ListWorkflowVersionsRequest, context: Any) -> pb.ListWorkflowsResponse:
        found = self.storage.definitions.versions(request.name)
        return pb.ListWorkflowsResponse(workflows=[workflow_message(w) for w in found])

    @_rpc
    def ArchiveWorkflow(self, request: pb.ArchiveWorkflowRequest, context: Any) -> pb.Workflow:
        return workflow_message(self.storage.definitions.archive(request.name, request.actor))

    @_rpc
    def CreateRun(self, request: pb.CreateRunRequest, context: Any) -> pb.Run:
        run = self.storage.runs.create(
            workflow=request.workflow,
            version=request.version,
            parameters_json=request.parameters_json,
            dry_run=request.dry_run,
            created_by=request.created_by,
            steps=[(s.id, s.uses) for s in request.steps],
            concurrency=Concurrency(
                request.concurrency.key, request.concurrency.limit, request.concurrency.on_conflict
            )
            if request.HasField("concurrency")
            else None,
            parent=RunParent(request.parent.run_id, request.parent.step_id) if request.HasField("parent") else None,
            depth=request.depth,
            trigger=_run_trigger(request.trigger) if request.HasField("trigger") else None,
            advance=_advance(request.advance) if request.HasField("advance") else None,
            idempotency_key=request.idempotency_key,
            request_digest=request.request_digest,
            only_latest=request.only_latest,
        )
        with log_context(run_id=run.id):
            log.info("run created", extra={"fields": {"workflow": run.workflow, "version": run.version}})
        return run_message(run)

    @_rpc
    def GetRun(self, request: pb.GetRunRequest, context: Any) -> pb.Run:
        states = [_member(StepState, state, f"step_states[{i}]") for i, state in enumerate(request.step_states)]
        return run_message(self.storage.runs.get(request.id, request.with_definition,
                                                 states if request.select_steps else None, request.with_step_counts))

    @_rpc
    def ListRunSteps(self, request: pb.ListRunStepsRequest, context: Any) -> pb.ListRunStepsResponse:
        states = [_member(StepState, state, f"states[{i}]") for i, state in enumerate(request.states)]
        steps, total, following = self.storage.runs.steps_page(request.run_id, states, request.limit or 100,
                                                               request.start_position)
        return pb.ListRunStepsResponse(steps=[step_message(step) for step in steps], total=total,
                                       next_position=following)

    @_rpc
    def ListRuns(self, request: pb.ListRunsRequest, context: Any) -> pb.ListRunsResponse:
        state = _member(RunState, request.state, "state")
        found, total = self.storage.runs.list(request.workflow, state, request.limit, request.offset,
                                              request.parent_run_id, request.parent_step_id, request.trigger,
                                              _ended(request), _search(request))
        return pb.ListRunsResponse(runs=[run_message(r) for r in found], total=total)

    @_rpc
    def RecordTransitions(self, request: pb.RecordTransitionsRequest, context: Any) -> pb.RecordTransitionsResponse:
        transitions = [
            Transition(
                event_type=_member(EventType, t.event_type, f"transitions[{i}].event_type"),
                step_id=t.step_id,
                attempt=t.attempt,
                data_json=t.data_json,
                run_state=_member(RunState, t.run_state, f"transitions[{i}].run_state"),
                step_state=_member(StepState, t.step_state, f"transitions[{i}].step_state"),
                outputs_json=t.outputs_json,
                error=t.error,
                clear_step=t.clear_step,
                reopen=t.reopen,
                add_steps=tuple(NewStep(s.id, s.uses, s.parent, s.item_index if s.parent else None)
                                for s in t.add_steps),
                run_outputs_json=t.run_outputs_json,
                finalizing=_member(RunState, t.finalizing, f"transitions[{i}].finalizing"),
                compensated=t.compensated,
                compensation_attempt=t.compensation_attempt,
            )
            for i, t in enumerate(request.transitions)
        ]
        appended = self.storage.transitions.record(
            request.run_id, request.lease_owner, request.lease_epoch, transitions, request.idempotency_key
        )
        return pb.RecordTransitionsResponse(events=[event_message(e) for e in appended])

    @_rpc
    def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        found = self.storage.runs.events(request.run_id, request.after, request.limit)
        return pb.ListEventsResponse(events=[event_message(e) for e in found])

    @_rpc
    def AppendStepLogs(self, request: pb.AppendStepLogsRequest, context: Any) -> pb.AppendStepLogsResponse:
        lines = [
            LogLine(line.step_id, line.attempt, _moment(line.at, f"lines[{i}].at"), line.stream, line.line)
            for i, line in enumerate(request.lines)
        ]
        self.storage.runs.append_logs(request.run_id, lines)
        return pb.AppendStepLogsResponse()

    @_rpc
    def GetStepLogs(self, request: pb.GetStepLogsRequest, context: Any) -> pb.GetStepLogsResponse:
        found = self.storage.runs.logs(request.run_id, request.step_id, request.attempt)
        return pb.GetStepLogsResponse(
            lines=[
                pb.LogLine(step_id=x.step_id, attempt=x.attempt, at=to_timestamp(x.at), stream=x.stream, line=x.line)
                for x in found
            ]
        )

    @_rpc
    def ClaimRuns(self, request: pb.ClaimRunsRequest, context: Any) -> pb.ClaimRunsResponse:
        claimed = self.storage.leases.claim(request.owner, request.limit, request.lease_seconds, request.free_only)
        loaded = self.storage.runs.get_many([x.run_id for x in claimed], CLAIMED_RUNS_BYTES) \
            if request.with_runs and claimed else []
        return pb.ClaimRunsResponse(leases=[pb.Lease(run_id=x.run_id, epoch=x.epoch) for x in claimed],
                                    runs=[run_message(run) for run in loaded])

    async def RenewLeases(self, request: pb.RenewLeasesRequest, context: Any) -> pb.RenewLeasesResponse:
        return await self._on_lease_threads(self._renew_leases, request, context)

    @_rpc
    def _renew_leases(self, request: pb.RenewLeasesRequest, context: Any) -> pb.RenewLeasesResponse:
        held = [Lease(x.run_id, x.epoch) for x in request.leases]
        lost = self.storage.leases.renew(request.owner, held, request.lease_seconds)
        return pb.RenewLeasesResponse(lost_run_ids=lost)

    async def ReleaseLease(self, request: pb.ReleaseLeaseRequest, context: Any) -> pb.ReleaseLeaseResponse:
        return await self._on_lease_threads(self._release_lease, request, context)

    @_rpc
    def _release_lease(self, request: pb.ReleaseLeaseRequest, context: Any) -> pb.ReleaseLeaseResponse:
        self.storage.leases.release(request.owner, Lease(request.run_id, request.epoch))
        return pb.ReleaseLeaseResponse()

    @_rpc
    def CreateToken(self, request: pb.CreateTokenRequest, context: Any) -> pb.CreateTokenResponse:
        token, secret = self.storage.tokens.create(
            request.name, request.role, request.expires_in_seconds, request.created_by
        )
        return pb.CreateTokenResponse(token=token_message(token), secret=secret)

    @_rpc
    def VerifyToken(self, request: pb.VerifyTokenRequest, context: Any) -> pb.Token:
        return token_message(self.storage.tokens.verify(request.secret))

    @_rpc
    def ListTokens(self, request: pb.ListTokensRequest, context: Any) -> pb.ListTokensResponse:
        return pb.ListTokensResponse(tokens=[token_message(t) for t in self.storage.tokens.list()])

    @_rpc
    def RevokeToken(self, request: pb.RevokeTokenRequest, context: Any) -> pb.Token:
        return token_message(self.storage.tokens.revoke(request.id))

    @_rpc
    def AppendAudit(self, request: pb.AuditEntry, context: Any) -> pb.AuditEntry:
        entry = self.storage.audit.append(
            actor=request.actor,
            action=request.action,
            target=request.target,
            outcome=request.outcome,
            detail_json=request.detail_json,
            at=_moment(request.at, "at"),
        )
        return audit_message(entry)

    @_rpc
    def ListAudit(self, request: pb.ListAuditRequest, context: Any) -> pb.ListAuditResponse:
        found = self.storage.audit.list(request.limit, request.offset)
        return pb.ListAuditResponse(entries=[audit_message(a) for a in found])

    @_rpc
    def GetConfig(self, request: pb.GetConfigRequest, context: Any) -> pb.ConfigDocument:
        return config_message(self.storage.config.get())

    @_rpc
    def PutConfig(self, request: pb.PutConfigRequest, context: Any) -> pb.ConfigDocument:
        saved = self.storage.config.put(request.document_json, request.actor, request.expected_version)
        return config_message(saved)

    @_rpc
    def ListTriggerStates(self, request: pb.ListTriggerStatesRequest, context: Any) -> pb.ListTriggerStatesResponse:
        return pb.ListTriggerStatesResponse(states=[trigger_state_message(state)
                                                    for state in self.storage.triggers.states(request.workflow)])

    @_rpc
    def AdvanceTrigger(self, request: pb.TriggerAdvance, context: Any) -> pb.AdvanceTriggerResponse:
        advanced, state = self.storage.triggers.advance(_advance(request))
        return pb.AdvanceTriggerResponse(advanced=advanced, state=trigger_state_message(state))

    @_rpc
    def PauseTrigger(self, request: pb.PauseTriggerRequest, context: Any) -> pb.TriggerState:
        state = self.storage.triggers.pause(request.workflow, request.trigger_id, request.paused, request.actor)
        log.info("trigger paused" if request.paused else "trigger resumed",
                 extra={"fields": {"workflow": request.workflow, "trigger_id": request.trigger_id}})
        return trigger_state_message(state)


def trigger_message(trigger: RunTrigger) -> pb.RunTrigger:
    return pb.RunTrigger(id=trigger.id, kind=trigger.kind, at=to_timestamp(trigger.at), delivery=trigger.delivery,
                         run_id=trigger.run_id)


def trigger_state_message(state: TriggerState) -> pb.TriggerState:
    return pb.TriggerState(
        workflow=state.workflow, trigger_id=state.trigger_id, digest=state.digest,
        next_fire_at=to_timestamp(state.next_fire_at), last_fire_at=to_timestamp(state.last_fire_at),
        last_run_id=state.last_run_id, last_error=state.last_error, paused=state.paused, paused_by=state.paused_by,
        updated_at=to_timestamp(state.updated_at),
    )


def _run_trigger(message: pb.RunTrigger) -> RunTrigger:
    return RunTrigger(message.kind, message.id, _moment(message.at, "trigger.at"), message.delivery, message.run_id,
                      message.dedupe_key)


def _advance(message: pb.TriggerAdvance) -> Advance:
    return Advance(
        workflow=message.workflow, trigger_id=message.trigger_id, compare=message.compare,
        expected_digest=message.expected_digest,
        expected_next_fire_at=_moment(message.expected_next_fire_at, "expected_next_fire_at"),
        digest=message.digest, next_fire_at=_moment(message.next_fire_at, "next_fire_at"),
        fired_at=_moment(message.fired_at, "fired_at"), error=message.error,
    )
