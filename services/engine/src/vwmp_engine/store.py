"""The engine's view of storage: typed calls that take and return engine-side types.

The only module of the engine that builds `storage_pb2` messages or parses the JSON fields
storage sends; storage's refusals become the exceptions below, so domain code never looks at
gRPC status codes. Events stay `events_pb2.Event`: that is what goes out on NATS unchanged.
"""

from __future__ import annotations

import contextlib
import enum
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common import rpc_metadata
from vwmp_common.clients import StorageStub
from vwmp_common.states import TERMINAL_RUN_STATES, EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.events.v1.events_pb2 import Event
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.triggers.records import Advance, StartedBy

CONFIG_CACHE_SECONDS = 5.0
# What gRPC says when there is no path to a peer (EHOSTUNREACH, ENETUNREACH, a blackhole route's EINVAL,
# a connect timeout), as opposed to a peer that refused or closed the connection.
PATH_GONE = ("no route", "unreachable", "invalid argument", "timed out", "timeout", "deadline")


class StorageError(Exception):
    """Storage refused a call or could not be reached; `code` is the gRPC status it answered."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__(message)
        self.code = code


class StorageUnavailable(StorageError):
    """Storage did not answer (UNAVAILABLE, DEADLINE_EXCEEDED): the call may or may not have been applied.

    Send it again only when that is safe: a read, or a write carrying an idempotency key.
    """


class NotFound(StorageError):
    """No run or workflow with that name."""


class LeaseLost(StorageError):
    """Storage refused a write: another engine owns the run now (fencing)."""


class RunClosed(StorageError):
    """Storage refused a write because the run is already terminal."""


class AlreadyExists(StorageError):
    """Storage refused to create something that exists (a second child run of one calling step)."""


class ConcurrencyConflict(StorageError):
    """Storage refused to create a run: its concurrency key is held (on_conflict fail)."""

    def __init__(self, message: str, key: str, blocked_by: list[str]) -> None:
        super().__init__(message, grpc.StatusCode.FAILED_PRECONDITION)
        self.key = key
        self.blocked_by = blocked_by


class NotLatest(StorageError):
    """Storage refused a run of the version the engine remembered as latest: a newer one was saved."""


_ERRORS: dict[grpc.StatusCode, type[StorageError]] = {
    grpc.StatusCode.UNAVAILABLE: StorageUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: StorageUnavailable,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ABORTED: LeaseLost,
    grpc.StatusCode.FAILED_PRECONDITION: RunClosed,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
}


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if (held := rpc_metadata.trailing(error, rpc_metadata.CONCURRENCY)) is not None:
            conflict = json.loads(held)
            raise ConcurrencyConflict(error.details() or "", conflict["key"], conflict["blocked_by"]) from None
        if rpc_metadata.trailing(error, rpc_metadata.LATEST_VERSION) is not None:
            raise NotLatest(error.details() or "", code) from None
        raise _ERRORS.get(code, StorageError)(error.details() or code.name, code) from None


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state of a run (see `Transition` in storage.proto); no event when `event` is None."""

    event: EventType | None = None
    step_id: str = ""
    attempt: int = 0
    data: dict[str, Any] | None = None
    run_state: RunState | None = None
    step_state: StepState | None = None
    outputs: dict[str, Any] | None = None
    error: str = ""
    clear_step: bool = False
    reopen: bool = False
    add_steps: tuple[NewStep, ...] = ()  # step rows to create first (a for_each step's instances)
    run_outputs: dict[str, Any] | None = None  # the run's outputs (spec.outputs), None = unchanged
    finalizing: RunState | None = None  # the state the run ends as once its finally steps are done
    compensated: str = ""  # the run's unwind: "requested", "true", "partial"; "" = unchanged
    compensation_attempt: int = 0  # the step's compensation attempt under way; 0 = unchanged

    def message(self) -> storage_pb2.Transition:
        """The storage message of this transition."""
        return storage_pb2.Transition(
            event_type=self.event.number if self.event else states_pb2.EVENT_TYPE_UNSPECIFIED,
            step_id=self.step_id, attempt=self.attempt,
            data_json=json.dumps(self.data) if self.data else "",
            run_state=self.run_state.number if self.run_state else states_pb2.RUN_STATE_UNSPECIFIED,
            step_state=self.step_state.number if self.step_state else states_pb2.STEP_STATE_UNSPECIFIED,
            outputs_json=json.dumps(self.outputs) if self.outputs is not None else "",
            error=self.error, clear_step=self.clear_step, reopen=self.reopen,
            add_steps=[storage_pb2.StepRun(id=step.id, uses=step.uses, parent=step.parent, item_index=step.item_index)
                       for step in self.add_steps],
            run_outputs_json=json.dumps(self.run_outputs) if self.run_outputs is not None else "",
            finalizing=self.finalizing.number if self.finalizing else states_pb2.RUN_STATE_UNSPECIFIED,
            compensated=self.compensated,
            compensation_attempt=self.compensation_attempt,
        )


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step row a transition creates: the instance `item_index` of the for_each step `parent`."""

    id: str
    uses: str
    parent: str
    item_index: int


@dataclass(slots=True)
class StoredStep:
    """A step of a run as storage has it."""

    id: str
    uses: str
    state: StepState
    attempt: int
    outputs: dict[str, Any]
    error: str
    parent: str = ""  # the for_each step this is an instance of
    item_index: int = 0
    finished_at: datetime | None = None
    compensation_attempt: int = 0  # the latest attempt of its compensation (0 = none)


@dataclass(frozen=True, slots=True)
class RunParent:
    """The step of another run that started a child run."""

    run_id: str
    step_id: str


@dataclass(frozen=True, slots=True)
class Concurrency:
    """A run's concurrency key and rule; `position` > 0 while it waits for a slot."""

    key: str
    limit: int = 1
    on_conflict: str = "queue"
    position: int = 0
    blocked_by: tuple[str, ...] = ()


@dataclass(slots=True)
class Run:
    """A run as storage has it; `message` is the storage message, for answering gRPC callers."""

    id: str
    workflow: str
    version: int
    state: RunState
    parameters: dict[str, Any]
    dry_run: bool
    started_at: datetime | None
    reopened_at: datetime | None
    steps: list[StoredStep]
    definition: dict[str, Any] | None
    message: storage_pb2.Run = field(repr=False)
    concurrency: Concurrency | None = None
    created_by: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    parent: RunParent | None = None
    depth: int = 0
    finalizing: RunState | None = None
    finished_at: datetime | None = None
    compensated: str = ""  # "", "requested" (a cancel asked for the unwind), "true", "partial"


@dataclass(frozen=True, slots=True)
class Workflow:
    """One pinned version of a workflow definition."""

    name: str
    version: int
    definition: dict[str, Any]
    created_at: datetime | None = None  # when this version was saved (a completion trigger is armed from then)


class Reach(enum.Enum):
    """What a health check of storage found (see `Store.reach`)."""

    ANSWERED = "answered"
    DOWN = "down"
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim on a run; storage refuses writes carrying an older epoch."""

    run_id: str
    epoch: int
    run: Run | None = field(default=None, compare=False)  # as claimed: the run with its definition, when it fit


LATEST_KEPT = 64  # workflows whose latest definition the engine remembers
LATEST_KEPT_BYTES = 256 * 1024  # larger definitions are read for every run instead of kept


class Store:
    """Typed calls to the storage service."""

    def __init__(self, stub: StorageStub, health: health_pb2_grpc.HealthStub | None = None) -> None:
        self._stub = stub
        self._health = health  # on the same channel as `stub`: what it answers, the storage calls reach
        self._config: tuple[float, dict[str, Any]] | None = None
        self._latest: dict[str, Workflow] = {}  # the latest version last read of each workflow, oldest first

    async def get_workflow(self, name: str, version: int = 0) -> Workflow:
        """A workflow version (0 = the latest); NotFound when there is none."""
        with _refusals():
            found = await self._stub.GetWorkflow(storage_pb2.GetWorkflowRequest(name=name, version=version))
        workflow = Workflow(found.name, found.version, json.loads(found.definition_json))
        if not version and len(found.definition_json) <= LATEST_KEPT_BYTES:
            self._latest.pop(name, None)
            self._latest[name] = workflow
            while len(self._latest) > LATEST_KEPT:
                del self._latest[next(iter(self._latest))]
        return workflow

    def known_latest(self, name: str) -> Workflow | None:
        """The latest version of a workflow as last read, if remembered: a run of it is created with
        `only_latest`, so a newer version saved since is never missed (storage refuses: NotLatest)."""
        return self._latest.get(name)

    def forget_latest(self, name: str) -> None:
        """Drop the remembered latest version of a workflow (storage said a newer one exists)."""
        self._latest.pop(name, None)

    async def create_run(self, workflow: Workflow, parameters: dict[str, Any], dry_run: bool, created_by: str,
                         steps: Sequence[tuple[str, str]],
                         concurrency: Concurrency | None = None,
                         parent: RunParent | None = None, depth: int = 0,
                         trigger: StartedBy | None = None,
                         advance: Advance | None = None,
                         idempotency: tuple[str, str] = ("", ""),
                         only_latest: bool = False) -> tuple[Run, list[Event]]:
        """Create a queued run of `(step id, uses)` steps; returns it with the events storage wrote.

        They are the new run's `run.queued` (seq 1), then the events of the runs a cancel_pending
        key superseded. ConcurrencyConflict when the key is held and its rule is fail; AlreadyExists
        when `parent` (a sub-workflow call) has a child already. With a `trigger` dedupe key that has
        a run already, that run comes back (`message.replayed`) with no events; LeaseLost when
        `advance`'s compare failed (another replica fired the tick). The same for an `idempotency`
        (key, request digest) whose key has a run already.
        """
        request = storage_pb2.CreateRunRequest(
            workflow=workflow.name, version=workflow.version, parameters_json=json.dumps(parameters),
            dry_run=dry_run, created_by=created_by,
            steps=[storage_pb2.StepRun(id=step_id, uses=uses) for step_id, uses in steps],
            idempotency_key=idempotency[0], request_digest=idempotency[1], only_latest=only_latest,
        )
        if parent is not None:
            request.parent.CopyFrom(storage_pb2.RunParent(run_id=parent.run_id, step_id=parent.step_id))
            request.depth = depth
        if concurrency is not None:
            request.concurrency.CopyFrom(storage_pb2.RunConcurrency(
                key=concurrency.key, limit=concurrency.limit, on_conflict=concurrency.on_conflict))
        if trigger is not None:
            request.trigger.CopyFrom(trigger.message())
        if advance is not None:
            request.advance.CopyFrom(advance.message())
        with _refusals():
            created = await self._stub.CreateRun(request)
        if created.replayed:
            return _run(created), []
        written = list(created.created_events) or [
            Event(seq=1, run_id=created.id, type=EventType.RUN_QUEUED.number, at=created.created_at, data_json="{}")]
        del created.created_events[:]
        return _run(created), written

    async def get_run(self, run_id: str, with_definition: bool = False) -> Run:
        """A run with its steps (and its pinned definition when asked); NotFound when there is none."""
        with _refusals():
            found = await self._stub.GetRun(storage_pb2.GetRunRequest(id=run_id, with_definition=with_definition))
        return _run(found)

    async def children(self, run_id: str, step_id: str = "") -> list[Run]:
        """The child runs of `run_id` (of one calling step when `step_id` is given), newest first."""
        runs: list[Run] = []
        while True:  # a for_each of sub-workflows has a child per item: read them page by page
            with _refusals():
                found = await self._stub.ListRuns(storage_pb2.ListRunsRequest(
                    parent_run_id=run_id, parent_step_id=step_id, limit=500, offset=len(runs)))
            runs += [_run(run) for run in found.runs]
            if not found.runs or len(runs) >= found.total:
                return runs

    async def live_dry_run_ids(self) -> list[str]:
        """The ids of the dry runs that have not ended (their scratch copies are in use)."""
        live = [state.number for state in RunState if state not in TERMINAL_RUN_STATES and state.number]
        ids: list[str] = []
        offset = 0
        while True:
            with _refusals():
                found = await self._stub.ListRuns(storage_pb2.ListRunsRequest(states=live, limit=500, offset=offset))
            ids += [run.id for run in found.runs if run.dry_run]
            offset += len(found.runs)
            if not found.runs or offset >= found.total:
                return ids

    async def list_workflows(self) -> list[Workflow]:
        """The latest version of every workflow that is not archived."""
        with _refusals():
            found = await self._stub.ListWorkflows(storage_pb2.ListWorkflowsRequest())
        return [Workflow(item.name, item.version, json.loads(item.definition_json)) for item in found.workflows]

    async def record(self, run_id: str, transitions: Sequence[Transition], owner: str = "",
                     epoch: int = 0, idempotency_key: str = "") -> list[Event]:
        """Apply transitions in one commit; returns their events with the seqs storage gave them.

        With an `owner` the write is fenced by the lease epoch: LeaseLost once another engine
        claimed the run. RunClosed when the run is terminal and the batch does not reopen it.
        With an `idempotency_key` the same batch may be sent again after StorageUnavailable:
        storage answers a batch it committed already with that commit's events.
        """
        request = storage_pb2.RecordTransitionsRequest(
            run_id=run_id, lease_owner=owner, lease_epoch=epoch,
            transitions=[transition.message() for transition in transitions], idempotency_key=idempotency_key,
        )
        with _refusals():
            response = await self._stub.RecordTransitions(request)
        return list(response.events)

    async def append_logs(self, run_id: str, step_id: str, attempt: int, lines: Sequence[tuple[str, str]]) -> None:
        """Store `(stream, line)` log lines of one step attempt, in order."""
        with _refusals():
            await self._stub.AppendStepLogs(storage_pb2.AppendStepLogsRequest(run_id=run_id, lines=[
                storage_pb2.LogLine(step_id=step_id, attempt=attempt, stream=stream, line=line)
                for stream, line in lines]))

    async def platform_config(self) -> dict[str, Any]:
        """The platform configuration document, cached for a few seconds (it is read for every run)."""
        now = time.monotonic()
        if self._config is None or now - self._config[0] > CONFIG_CACHE_SECONDS:
            with _refusals():
                document = await self._stub.GetConfig(storage_pb2.GetConfigRequest())
            self._config = (now, json.loads(document.document_json or "{}"))
        return self._config[1]

    def forget_platform_config(self) -> None:
        """Read the configuration again on next use (it was just changed)."""
        self._config = None

    async def claim_runs(self, owner: str, limit: int, lease_seconds: float, free_only: bool = False) -> list[Lease]:
        """Claim up to `limit` free or expired runs for `owner` (only free ones, no expired lease, with `free_only`).

        Each lease comes with its run loaded (steps and definition, as `get_run` reads it) when storage
        fit it in its answer; the caller reads a lease without one with `get_run`.

        Not wait-for-ready: while storage is down the claim fails at once instead of waiting for it, to
        arrive once it is back with a `free_only` decided before the outage and take over the leases that
        expired meanwhile (the claimer's own too, as new attempts of its steps in flight).
        """
        with _refusals():
            response = await self._stub.ClaimRuns(storage_pb2.ClaimRunsRequest(
                owner=owner, limit=limit, lease_seconds=lease_seconds, free_only=free_only, with_runs=True),
                wait_for_ready=False)
        loaded = {run.id: run for run in response.runs}
        return [Lease(lease.run_id, lease.epoch, _run(loaded[lease.run_id]) if lease.run_id in loaded else None)
                for lease in response.leases]

    async def renew_leases(self, owner: str, leases: Sequence[Lease], lease_seconds: float,
                           deadline: float | None = None) -> list[str]:
        """Renew leases; returns the ids of the runs whose lease another engine holds now."""
        with _refusals():
            response = await self._stub.RenewLeases(storage_pb2.RenewLeasesRequest(
                owner=owner, leases=[storage_pb2.Lease(run_id=lease.run_id, epoch=lease.epoch) for lease in leases],
                lease_seconds=lease_seconds), timeout=deadline)
        return list(response.lost_run_ids)

    async def reach(self, deadline: float) -> Reach:
        """Whether storage's health service answers within `deadline` seconds (whatever it says).

        Served from storage's event loop, it answers even while every worker thread is busy or the
        database is away. `Reach.DOWN`: refused or closed at once (nothing listens there: storage is
        stopped or restarting, for every replica alike); `Reach.SILENT`: no answer in time, or a routing
        error (no route, network unreachable): the path between this replica and storage is gone.
        Without a health stub storage is taken as answering.
        """
        if self._health is None:
            return Reach.ANSWERED
        try:
            # types-grpcio-health-checking declares HealthStub without its methods; Check exists at run time.
            await self._health.Check(health_pb2.HealthCheckRequest(), timeout=deadline)  # type: ignore[attr-defined]
        except grpc.aio.AioRpcError as error:
            details = (error.details() or "").lower()
            if error.code() == grpc.StatusCode.UNAVAILABLE and not any(gone in details for gone in PATH_GONE):
                return Reach.DOWN
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                grpc.StatusCode.CANCELLED):
                return Reach.SILENT
        return Reach.ANSWERED

    async def release_lease(self, owner: str, lease: Lease) -> None:
        """Give a run back before the lease expires (its executor is done with it)."""
        with _refusals():
            await self._stub.ReleaseLease(storage_pb2.ReleaseLeaseRequest(
                owner=owner, run_id=lease.run_id, epoch=lease.epoch))


def _run(message: storage_pb2.Run) -> Run:
    return Run(
        id=message.id, workflow=message.workflow, version=message.version, state=RunState.from_number(message.state),
        parameters=json.loads(message.parameters_json or "{}"), dry_run=message.dry_run,
        started_at=from_timestamp(message.started_at), reopened_at=from_timestamp(message.reopened_at),
        steps=[StoredStep(step.id, step.uses, StepState.from_number(step.state), step.attempt,
                          json.loads(step.outputs_json or "{}"), step.error, step.parent, step.item_index,
                          from_timestamp(step.finished_at), step.compensation_attempt)
               for step in message.steps],
        definition=json.loads(message.definition_json) if message.definition_json else None,
        message=message, created_by=message.created_by,
        concurrency=Concurrency(message.concurrency.key, message.concurrency.limit, message.concurrency.on_conflict,
                                message.concurrency.position, tuple(message.concurrency.blocked_by))
        if message.HasField("concurrency") else None,
        outputs=json.loads(message.outputs_json or "{}"),
        parent=RunParent(message.parent.run_id, message.parent.step_id) if message.HasField("parent") else None,
        depth=message.depth,
        finalizing=RunState.from_number(message.finalizing) if message.finalizing else None,
        finished_at=from_timestamp(message.finished_at),
        compensated=message.compensated,
    )
