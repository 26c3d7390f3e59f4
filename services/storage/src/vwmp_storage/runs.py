"""Runs, their step runs, the per-run event log and step logs."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from vwmp_common.states import StepState
from vwmp_common.timeutil import utcnow

from vwmp_storage import concurrency as keys
from vwmp_storage import dialect, triggers
from vwmp_storage.concurrency import Concurrency, ConcurrencyConflict
from vwmp_storage.database import Database
from vwmp_storage.definitions import DefinitionStore, NotLatest, check_name, check_version
from vwmp_storage.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from vwmp_storage.jsontext import dump, normalise_object
from vwmp_storage.models import events, runs, step_logs, step_runs
from vwmp_storage.triggers import Advance, RunTrigger

RUN_STATES = frozenset({"queued", "running", "paused", "succeeded", "succeeded_with_warnings", "failed", "cancelled"})
TERMINAL_RUN_STATES = frozenset({"succeeded", "succeeded_with_warnings", "failed", "cancelled"})
STEP_STATES = frozenset(
    {"pending", "running", "retrying", "awaiting_approval", "succeeded", "failed", "skipped", "cancelled",
     "compensated"}
)
TERMINAL_STEP_STATES = frozenset({"succeeded", "failed", "skipped", "cancelled", "compensated"})
LOG_STREAMS = frozenset({"stdout", "stderr", "info"})
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 500
DEFAULT_EVENT_LIMIT = 1000


@dataclass(slots=True)
class StepRun:
    """The state of one step of a run."""

    id: str
    uses: str
    state: str = "pending"
    attempt: int = 0
    outputs_json: str = "{}"
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    parent: str = ""  # the for_each step this is an instance of
    item_index: int | None = None
    compensation_attempt: int = 0  # the latest attempt of its compensation (0 = none)


@dataclass(frozen=True, slots=True)
class RunParent:
    """The step of another run that started this one (a sub-workflow call)."""

    run_id: str
    step_id: str


@dataclass(slots=True)
class Run:
    """A run of one pinned workflow version."""

    id: str
    workflow: str
    version: int
    state: str
    parameters_json: str
    dry_run: bool
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reopened_at: datetime | None = None
    last_seq: int = 0
    steps: list[StepRun] = field(default_factory=list)
    definition_json: str = ""
    concurrency: Concurrency | None = None
    created_events: list[Event] = field(default_factory=list)  # what `create` wrote (run.queued first)
    outputs_json: str = "{}"
    parent: RunParent | None = None
    depth: int = 0
    finalizing: str = ""
    compensated: str = ""  # "", "requested" (a cancel asked for the unwind), "true", "partial"
    trigger: RunTrigger = field(default_factory=RunTrigger)
    replayed: bool = False  # `create` found the run of the same trigger dedupe key or idempotency key, wrote nothing
    idempotency_key: str = ""
    request_digest: str = ""
    step_counts: dict[str, int] = field(default_factory=dict)  # filled by `get` when asked: state → steps


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a run's event log; `seq` is gapless per run, starting at 1."""

    run_id: str
    seq: int
    type: str
    step_id: str
    attempt: int
    at: datetime
    data_json: str


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line of a step attempt."""

    step_id: str
    attempt: int
    at: datetime | None
    stream: str
    line: str


@dataclass(frozen=True, slots=True)
class EndedFilter:
    """Runs that ended in a window, in some states, and (optionally) not yet followed by one trigger.

    `not_followed_by` (workflow, trigger id) keeps the runs that trigger has not started a run for:
    a completion run's dedupe key is the id of the run that ended, so the unique
    (workflow, trigger_id, trigger_key) index answers it per run.
    """

    after: datetime | None = None
    before: datetime | None = None
    states: tuple[str, ...] = ()
    not_followed_by: tuple[str, str] | None = None

    def checked(self) -> EndedFilter:
        for index, state in enumerate(self.states):
            if state not in RUN_STATES:
                raise InvalidArgument(f"states[{index}]: unknown run state {state!r}")
        if self.not_followed_by is not None:
            workflow, trigger_id = self.not_followed_by
            check_name(workflow, "not_followed_by.workflow")
            if not trigger_id or len(trigger_id) > triggers.ID_LIMIT:
                raise InvalidArgument(f"not_followed_by.trigger_id: required, at most {triggers.ID_LIMIT} characters")
        return self

    def conditions(self) -> list[Any]:
        found: list[Any] = [runs.c.finished_at.is_not(None)]
        if self.after is not None:
            found.append(runs.c.finished_at > self.after)
        if self.before is not None:
            found.append(runs.c.finished_at <= self.before)
        if self.states:
            found.append(runs.c.state.in_(self.states))
        if self.not_followed_by is not None:
            workflow, trigger_id = self.not_followed_by
            follower = runs.alias("follower")
            found.append(~select(follower.c.id).where(
                follower.c.workflow == workflow, follower.c.trigger_id == trigger_id,
                follower.c.trigger_key == runs.c.id).exists())
        return found


@dataclass(frozen=True)
class RunSearch:
    """Who started a run, when, and with which parameter values: the run search of the API and the designer.

    `parameters` maps a parameter name to the value it must have, compared as text (`json_text`).
    """

    created_by: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    parameters: tuple[tuple[str, str], ...] = ()

    def conditions(self) -> list[Any]:
        found: list[Any] = []
        if self.created_by:
            found.append(runs.c.created_by == self.created_by)
        if self.created_after is not None:
            found.append(runs.c.created_at >= self.created_after)
        if self.created_before is not None:
            found.append(runs.c.created_at < self.created_before)
        if len(self.parameters) > MAX_PARAMETER_FILTERS:
            raise InvalidArgument(f"parameters: at most {MAX_PARAMETER_FILTERS} parameter filters")
        for name, value in self.parameters:
            if not name or len(name) > 100:
                raise InvalidArgument("parameters: a parameter name of 1 to 100 characters is required")
            found.append(dialect.json_text(runs.c.parameters, name) == value)
        return found


MAX_PARAMETER_FILTERS = 10

# How long an Idempotency-Key holds its run. A later create with an expired key releases it (sets it
# NULL on the old run) in its own transaction and takes it: expiry needs no sweeper.
IDEMPOTENCY_TTL = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX = 255


# Built once: building an INSERT's values per call costs more than running it (see transitions.py).
_INSERT_RUN = insert(runs)
_INSERT_STEPS = insert(step_runs)
_INSERT_EVENT = insert(events)


class RunStore:
    """Creates and reads runs; appends and reads events and step logs."""

    def __init__(self, database: Database, definitions: DefinitionStore) -> None:
        self.database = database
        self.definitions = definitions

    def create(
        self,
        workflow: str,
        version: int,
        parameters_json: str,
        dry_run: bool,
        created_by: str,
        steps: Sequence[tuple[str, str]],
        concurrency: Concurrency | None = None,
        parent: RunParent | None = None,
        depth: int = 0,
        trigger: RunTrigger | None = None,
        advance: Advance | None = None,
        idempotency_key: str = "",
        request_digest: str = "",
        only_latest: bool = False,
    ) -> Run:
        """Create a queued run with pending steps and its `run.queued` event, atomically.

        With `only_latest`, only while `version` is the workflow's latest (NotLatest otherwise).

        `trigger` says how it was started; a second run with the trigger's dedupe key is not
        created: the first is returned, `replayed`. `advance` is applied in the same transaction;
        when its compare fails (another replica fired the tick) nothing is written: Aborted.

        With an `idempotency_key` that `created_by` used on this workflow in the last IDEMPOTENCY_TTL,
        nothing is written either: that run is returned, `replayed`, with the `request_digest` it was
        created with (the caller tells a retry from a different request by it). The unique index on
        (workflow, created_by, idempotency_key) makes the run and its key one insert, so of two
        concurrent creates one commits and the other's IntegrityError turns into the replay.

        A child run names its `parent` step; a second child of the same step is AlreadyExists.

        A keyed run takes a slot at once when one is free and nobody waits for its key;
        otherwise it waits (`queue`), first cancels the key's waiting runs (`cancel_pending`,
        their events are in `created_events`), or is refused (`fail`: ConcurrencyConflict).
        """
        check_name(workflow, "workflow")
        check_version(version)
        parameters = normalise_object(parameters_json, "parameters_json")
        _check_steps(steps)
        if parent is not None and not (parent.run_id and parent.step_id):
            raise InvalidArgument("parent: run_id and step_id are both required")
        if depth < 0:
            raise InvalidArgument("depth: must not be negative")
        if len(idempotency_key) > IDEMPOTENCY_KEY_MAX or not all(" " < c < "\x7f" for c in idempotency_key):
            raise InvalidArgument(f"idempotency_key: at most {IDEMPOTENCY_KEY_MAX} visible ASCII characters")
        if concurrency is not None:
            concurrency = keys.checked(concurrency.key, concurrency.limit, concurrency.on_conflict)
        pinned = self.definitions.get(workflow, 0 if only_latest else version).version
        if only_latest and pinned != version:
            raise NotLatest(workflow, version, pinned)
        now = utcnow()
        started_by = (trigger or RunTrigger(at=now)).checked()
        if started_by.at is None:
            started_by = RunTrigger(started_by.kind, started_by.id, now, started_by.delivery, started_by.run_id,
                                    started_by.dedupe_key)
        if advance is not None:
            triggers.TriggerStore(self.database).ensure(advance.workflow, advance.trigger_id)
        run = Run(
            id=uuid.uuid4().hex,
            workflow=workflow,
            version=pinned,
            state="queued",
            parameters_json=parameters,
            dry_run=dry_run,
            created_by=created_by,
            created_at=now,
            last_seq=1,
            steps=[StepRun(id=step_id, uses=uses) for step_id, uses in steps],
            parent=parent,
            depth=depth,
            trigger=started_by,
            idempotency_key=idempotency_key,
            request_digest=request_digest if idempotency_key else "",
        )
        try:
            return self._insert(run, steps, concurrency, parameters, now, advance)
        except IntegrityError:  # a child of the same step, or a run of the same trigger or idempotency key, came first
            if started_by.dedupe_key and (first := self._by_trigger_key(run)) is not None:
                return first
            if idempotency_key and (first := self._by_idempotency_key(run, utcnow())) is not None:
                return first
            raise AlreadyExists(f"parent: step {parent.step_id!r} of run {parent.run_id} has a child run already"
                                if parent else f"run {run.id} exists already") from None

    def _by_trigger_key(self, run: Run) -> Run | None:
        with self.database.read() as conn:
            row = conn.execute(select(runs.c.id).where(
                runs.c.workflow == run.workflow, runs.c.trigger_id == run.trigger.id,
                runs.c.trigger_key == run.trigger.dedupe_key)).first()
        if row is None:
            return None
        first = self.get(row.id)
        first.replayed = True
        return first

    def _by_idempotency_key(self, run: Run, now: datetime) -> Run | None:
        with self.database.read() as conn:
            row = conn.execute(select(runs.c.id).where(
                runs.c.workflow == run.workflow, runs.c.created_by == run.created_by,
                runs.c.idempotency_key == run.idempotency_key,
                runs.c.created_at > now - IDEMPOTENCY_TTL)).first()
        if row is None:
            return None
        first = self.get(row.id)
        first.replayed = True
        return first

    def _insert(self, run: Run, steps: Sequence[tuple[str, str]], concurrency: Concurrency | None,
                parameters: str, now: datetime, advance: Advance | None = None) -> Run:
        parent = run.parent
        started_by = run.trigger
        if started_by.dedupe_key and (first := self._by_trigger_key(run)) is not None:
            return first
        if run.idempotency_key and (first := self._by_idempotency_key(run, now)) is not None:
            return first
        with self.database.write() as conn:
            if run.idempotency_key:
                conn.execute(update(runs).where(
                    runs.c.workflow == run.workflow, runs.c.created_by == run.created_by,
                    runs.c.idempotency_key == run.idempotency_key, runs.c.created_at <= now - IDEMPOTENCY_TTL,
                ).values(idempotency_key=None))
            if advance is not None and not triggers.apply(conn, advance, run.id):
                raise Aborted(f"trigger {advance.trigger_id!r} of {advance.workflow!r} moved on: "
                              "another engine fired this tick")
            if parent is not None:
                existing = conn.execute(select(runs.c.id).where(
                    runs.c.parent_run_id == parent.run_id, runs.c.parent_step_id == parent.step_id)).first()
                if existing is not None:
                    raise AlreadyExists(f"parent: step {parent.step_id!r} of run {parent.run_id} "
                                        f"has a child run already: {existing.id}")
            admitted_at: datetime | None = None
            superseded: list[keys.Superseded] = []
            if concurrency is not None:
                concurrency, superseded = self._place(conn, run, concurrency, now)
                admitted_at = now if concurrency.position == 0 else None
                run.concurrency = concurrency
            conn.execute(
                _INSERT_RUN, dict(
                    id=run.id,
                    workflow=run.workflow,
                    version=run.version,
                    state="queued",
                    parameters=parameters,
                    dry_run=run.dry_run,
                    created_by=run.created_by,
                    created_at=now,
                    started_at=None,
                    finished_at=None,
                    reopened_at=None,
                    last_seq=1,
                    lease_owner="",
                    lease_epoch=0,
                    lease_expires_at=None,
                    concurrency_key=concurrency.key if concurrency else "",
                    concurrency_limit=concurrency.limit if concurrency else 0,
                    concurrency_on_conflict=concurrency.on_conflict if concurrency else "",
                    admitted_at=admitted_at,
                    outputs="{}",
                    parent_run_id=parent.run_id if parent else None,
                    parent_step_id=parent.step_id if parent else None,
                    depth=run.depth,
                    finalizing="",
                    compensated="",
                    trigger_id=started_by.id,
                    trigger_kind=started_by.kind,
                    trigger_at=started_by.at,
                    trigger_delivery=started_by.delivery,
                    trigger_run_id=started_by.run_id,
                    trigger_key=started_by.dedupe_key or None,
                    idempotency_key=run.idempotency_key or None,
                    request_digest=run.request_digest,
                )
            )
            if steps:
                conn.execute(
                    _INSERT_STEPS,
                    [
                        {
                            "run_id": run.id,
                            "step_id": step_id,
                            "position": position,
                            "uses": uses,
                            "state": "pending",
                            "attempt": 0,
                            "outputs": "{}",
                            "error": "",
                            "started_at": None,
                            "finished_at": None,
                            "parent": "",
                            "item_index": None,
                            "compensation_attempt": 0,
                        }
                        for position, (step_id, uses) in enumerate(steps)
                    ],
                )
            queued: dict[str, Any] = {"concurrency": concurrency.document()} if concurrency else {}
            queued_data = dump({**queued, "trigger": started_by.document()})
            conn.execute(_INSERT_EVENT, dict(
                run_id=run.id, seq=1, type="run.queued", step_id="", attempt=0, at=now, data=queued_data))
        run.created_events = [Event(run.id, 1, "run.queued", "", 0, now, queued_data)] + [
            Event(s.run_id, seq, kind, step_id, attempt, now, data)
            for s in superseded
            for seq, kind, step_id, attempt, data in s.events
        ]
        return run

    @staticmethod
    def _place(
        conn: Connection, run: Run, concurrency: Concurrency, now: datetime
    ) -> tuple[Concurrency, list[keys.Superseded]]:
        """Where a new keyed run goes: a slot now (position 0) or the end of its key's queue."""
        key = concurrency.key
        dialect.lock_for_admission(conn)
        superseded: list[keys.Superseded] = []
        if concurrency.on_conflict == "cancel_pending":
            superseded = keys.cancel_waiting(conn, key, run.created_by, f"superseded by run {run.id}", now)
        holding, queue = keys.lines_of(conn, [key])[key]
        if len(holding) < concurrency.limit and not queue:
            return concurrency, superseded
        if concurrency.on_conflict == "fail":
            raise ConcurrencyConflict(key, holding or queue)
        return Concurrency(key, concurrency.limit, concurrency.on_conflict, len(queue) + 1, tuple(holding)), superseded

    def get(self, run_id: str, with_definition: bool = False, step_states: Sequence[str] | None = None,
            with_step_counts: bool = False) -> Run:
        """A run with its steps, or only those in `step_states` when given (its pinned definition and the
        count of steps per state when asked): a 10,000-step run's summary reads no step row it does not return."""
        with self.database.read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            run = _run(row)
            if step_states is None:
                run.steps = _steps(conn, [run_id])[run_id]
            elif step_states:
                run.steps = _steps(conn, [run_id], step_states)[run_id]
            if with_step_counts:
                # one pass with a filtered count per state: a GROUP BY sorts the 10,000 rows first (4x slower)
                counted = select(*(func.count().filter(step_runs.c.state == state.value) for state in StepState)
                                 ).where(step_runs.c.run_id == run_id)
                counts = conn.execute(counted).one()
                run.step_counts = {state.value: count for state, count in zip(StepState, counts, strict=True) if count}
            run.concurrency = keys.places(conn, [row]).get(run_id)
        if with_definition:
            run.definition_json = self.definitions.get(run.workflow, run.version).definition_json
        return run

    def get_many(self, run_ids: Sequence[str], byte_budget: int = 0) -> builtins.list[Run]:
        """The runs with their steps and pinned definitions, in one read (what a claim hands its engine).

        With `byte_budget`, runs stop being added once their definitions and step outputs together
        exceed it: the caller reads the rest one by one (a 10,000-step definition is megabytes).
        """
        found: builtins.list[Run] = []
        with self.database.read() as conn:
            rows = conn.execute(select(runs).where(runs.c.id.in_(list(run_ids)))).all()
            steps = _steps(conn, [row.id for row in rows])
            places = keys.places(conn, rows)
        definitions: dict[tuple[str, int], str] = {}
        size = 0
        for row in rows:
            run = _run(row)
            run.steps, run.concurrency = steps[run.id], places.get(run.id)
            pinned = (run.workflow, run.version)
            if pinned not in definitions:
                definitions[pinned] = self.definitions.get(*pinned).definition_json
            run.definition_json = definitions[pinned]
            size += len(run.definition_json) + sum(len(step.outputs_json or "") for step in run.steps)
            if byte_budget and found and size > byte_budget:
                break
            found.append(run)
        return found

    def steps_page(self, run_id: str, states: Sequence[str] = (), limit: int = 100, start_position: int = 0
                   ) -> tuple[list[StepRun], int, int]:
        """A page of a run's steps in creation order from `start_position` (only those in `states` when given):
        the steps, how many match in all, and the next page's start position (-1 after the last page)."""
        if not 1 <= limit <= 1000:
            raise InvalidArgument("limit: 1 to 1000")
        if start_position < 0:
            raise InvalidArgument("start_position: 0 or more")
        with self.database.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} not found")
            where = [step_runs.c.run_id == run_id]
            if states:
                where.append(step_runs.c.state.in_(list(states)))
            total = conn.execute(select(func.count()).select_from(step_runs).where(*where)).scalar_one()
            rows = conn.execute(select(step_runs).where(*where, step_runs.c.position >= start_position)
                                .order_by(step_runs.c.position).limit(limit + 1)).all()
        following = rows[limit].position if len(rows) > limit else -1
        return [_step(row) for row in rows[:limit]], total, following

    def list(self, workflow: str = "", state: str = "", limit: int = 0, offset: int = 0,
             parent_run_id: str = "", parent_step_id: str = "", trigger: str = "",
             ended: EndedFilter | None = None, search: RunSearch | None = None) -> tuple[list[Run], int]:
        """Runs newest first with their steps, and the total matching the filter (a run's children with `parent_*`).

        With an `ended` window the runs come oldest end first: a completion-trigger sweep pages
        through them in the order it moves its mark.
        """
        if workflow:
            check_name(workflow, "workflow")
        if state and state not in RUN_STATES:
            raise InvalidArgument(f"state: unknown run state {state!r} (one of {', '.join(sorted(RUN_STATES))})")
        if limit < 0 or offset < 0:
            raise InvalidArgument("limit/offset: must not be negative")
        limit = min(limit or DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)
        conditions = []
        if workflow:
            conditions.append(runs.c.workflow == workflow)
        if state:
            conditions.append(runs.c.state == state)
        if parent_step_id and not parent_run_id:
            raise InvalidArgument("parent_step_id: needs parent_run_id")
        if parent_run_id:
            conditions.append(runs.c.parent_run_id == parent_run_id)
        if parent_step_id:
            conditions.append(runs.c.parent_step_id == parent_step_id)
        if trigger == "manual":
            conditions.append(runs.c.trigger_kind.in_(("manual", "")))
        elif trigger in triggers.KINDS:
            conditions.append(runs.c.trigger_kind == trigger)
        elif trigger:
            conditions.append(runs.c.trigger_id == trigger)
        if search is not None:
            conditions += search.conditions()
        order: tuple[Any, ...] = (runs.c.created_at.desc(), runs.c.id.desc())
        if ended is not None:
            conditions += ended.checked().conditions()
            order = (runs.c.finished_at, runs.c.id)
        stmt = select(runs).where(*conditions).order_by(*order)
        with self.database.read() as conn:
            total = conn.execute(select(func.count()).select_from(runs).where(*conditions)).scalar_one()
            rows = conn.execute(stmt.limit(limit).offset(offset)).all()
            found = [_run(row) for row in rows]
            steps = _steps(conn, [run.id for run in found])
            places = keys.places(conn, rows)
        for run in found:
            run.steps = steps[run.id]
            run.concurrency = places.get(run.id)
        return found, int(total)

    def events(self, run_id: str, after: int = 0, limit: int = 0) -> builtins.list[Event]:
        """Events with seq > after, in order."""
        if after < 0 or limit < 0:
            raise InvalidArgument("after/limit: must not be negative")
        stmt = (
            select(events)
            .where(events.c.run_id == run_id, events.c.seq > after)
            .order_by(events.c.seq)
            .limit(limit or DEFAULT_EVENT_LIMIT)
        )
        with self.database.read() as conn:
            self._require(conn, run_id)
            return [
                Event(row.run_id, row.seq, row.type, row.step_id, row.attempt, row.at, row.data)
                for row in conn.execute(stmt)
            ]

    def append_logs(self, run_id: str, lines: Iterable[LogLine]) -> None:
        """Store log lines in the order given."""
        now = utcnow()
        rows = []
        for index, line in enumerate(lines):
            if not line.step_id:
                raise InvalidArgument(f"lines[{index}].step_id: required")
            stream = line.stream or "info"
            if stream not in LOG_STREAMS:
                raise InvalidArgument(f"lines[{index}].stream: {stream!r} is not one of stdout, stderr, info")
            rows.append(
                {
                    "run_id": run_id,
                    "step_id": line.step_id,
                    "attempt": line.attempt,
                    "at": line.at or now,
                    "stream": stream,
                    # PostgreSQL text cannot hold NUL (git prints some); both databases store U+FFFD for it.
                    "line": line.line.replace("\x00", "\ufffd"),
                }
            )
        if not rows:
            return
        with self.database.write() as conn:
            self._require(conn, run_id)
            conn.execute(insert(step_logs), rows)

    def logs(self, run_id: str, step_id: str, attempt: int = 0) -> builtins.list[LogLine]:
        """Log lines of one step (every attempt when `attempt` is 0), in order."""
        stmt = select(step_logs).where(step_logs.c.run_id == run_id, step_logs.c.step_id == step_id)
        if attempt:
            stmt = stmt.where(step_logs.c.attempt == attempt)
        with self.database.read() as conn:
            self._require(conn, run_id)
            rows = conn.execute(stmt.order_by(step_logs.c.id)).all()
        return [LogLine(row.step_id, row.attempt, row.at, row.stream, row.line) for row in rows]

    @staticmethod
    def _require(conn: Connection, run_id: str) -> None:
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            raise NotFound(f"run {run_id!r} not found")


def _check_steps(steps: Sequence[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for index, (step_id, uses) in enumerate(steps):
        if not step_id:
            raise InvalidArgument(f"steps[{index}].id: required")
        if len(step_id) > 200:
            raise InvalidArgument(f"steps[{index}].id: at most 200 characters")
        if step_id in seen:
            raise InvalidArgument(f"steps[{index}].id: duplicate step id {step_id!r}")
        if not uses:
            raise InvalidArgument(f"steps[{index}].uses: required")
        seen.add(step_id)


def _run(row: Row[Any]) -> Run:
    return Run(
        id=row.id,
        workflow=row.workflow,
        version=row.version,
        state=row.state,
        parameters_json=row.parameters,
        dry_run=bool(row.dry_run),
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        reopened_at=row.reopened_at,
        last_seq=row.last_seq,
        outputs_json=row.outputs,
        parent=RunParent(row.parent_run_id, row.parent_step_id or "") if row.parent_run_id else None,
        depth=row.depth,
        finalizing=row.finalizing,
        compensated=row.compensated,
        trigger=RunTrigger(row.trigger_kind or "manual", row.trigger_id, row.trigger_at or row.created_at,
                           row.trigger_delivery, row.trigger_run_id),
        idempotency_key=row.idempotency_key or "",
        request_digest=row.request_digest,
    )


def _steps(conn: Connection, run_ids: builtins.list[str], states: Sequence[str] | None = None
           ) -> dict[str, list[StepRun]]:
    found: dict[str, list[StepRun]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    stmt = select(step_runs).where(step_runs.c.run_id.in_(run_ids)).order_by(step_runs.c.run_id, step_runs.c.position)
    if states is not None:
        stmt = stmt.where(step_runs.c.state.in_(list(states)))
    for row in conn.execute(stmt):
        found[row.run_id].append(_step(row))
    return found


def _step(row: Row[Any]) -> StepRun:
    return StepRun(
        id=row.step_id,
        uses=row.uses,
        state=row.state,
        attempt=row.attempt,
        outputs_json=row.outputs,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        parent=row.parent,
        item_index=row.item_index,
        compensation_attempt=row.compensation_attempt,
    )
