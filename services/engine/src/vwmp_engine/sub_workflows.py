"""Sub-workflows: a `workflow/<name>` step starts a child run of another stored workflow and waits for it.

The child is found again by its parent (run id, step id) — storage refuses a second child of one
step — so a parent taken over by another engine waits for the child it already has instead of
starting a second one. Waiting costs a NATS subscription to the child's events and a storage read
when one of them ends the run (or every few seconds, in case an event was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_RUN_STATES, ControlAction, EventType, RunState, StepState
from vwmp_common.subjects import run_events_subject
from vwmp_proto.events.v1.events_pb2 import Event

from vwmp_engine.plugin_calls import StepFailed
from vwmp_engine.run_state import ControlRefused
from vwmp_engine.starting import start_run
from vwmp_engine.step_types import SUB_WORKFLOW_PREFIX, StepTypeInfo, sub_workflow_name
from vwmp_engine.store import AlreadyExists, NotFound, Run, RunParent, StorageError, StorageUnavailable, Transition

if TYPE_CHECKING:
    from vwmp_engine.run_state import RunContext, StepRun
    from vwmp_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)
MAX_DEPTH = 10  # a top-level run is depth 0; its children 1, …
POLL_SECONDS = 5.0  # with the child's events subscribed, storage is read this often anyway
POLL_WITHOUT_EVENTS_SECONDS = 1.0
CONTROL_SECONDS = 10.0  # cancelling a child may wait this long for the engine executing it
CANCEL_RETRY_SECONDS = 120.0  # a child whose engine died is taken over within a lease: cancel it then
CANCEL_RETRY_INTERVAL_SECONDS = 2.0
REMEMBERED_FAILURES = 10_000
CONFIG_KEYS = frozenset({"version", "parameters"})


class RunControls(Protocol):
    """What a sub-workflow step needs of the engine's `Controls`: a control on any run, wherever it runs."""

    async def apply(self, run_id: str, action: str, actor: str) -> None: ...


def step_type_info(name: str, definition: dict[str, Any],
                   parameters_schema: dict[str, Any] | None = None) -> StepTypeInfo:
    """`workflow/<name>` as a step type: config {version, parameters}, outputs the workflow's outputs.

    `parameters_schema` defaults to the workflow's own parameter schema (what the palette offers).
    """
    spec = definition.get("spec") or {}
    metadata = definition.get("metadata") or {}
    own = spec.get("parameters") or {"type": "object"}
    parameters = {**(own if parameters_schema is None else parameters_schema),
                  "description": "The child run's parameters (spec.parameters of the workflow)"}
    config: dict[str, Any] = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "version": {"type": "integer", "minimum": 1,
                        "description": "Pin a version of the workflow (default: its latest when the step starts)"},
            "parameters": parameters,
        },
    }
    if parameters_schema is None and own.get("required"):
        config["required"] = ["parameters"]
    outputs = {key: {"description": "a workflow output"} for key in spec.get("outputs") or {}}
    outputs["child_run_id"] = {"type": "string", "description": "The child run"}
    return StepTypeInfo(
        type=f"{SUB_WORKFLOW_PREFIX}{name}", plugin="workflow", title=str(metadata.get("title") or name),
        description=str(metadata.get("description") or f"Runs workflow {name} as a child run and waits for it."),
        config_schema=config, outputs_schema={"type": "object", "properties": outputs},
    )


def _retrieved(future: asyncio.Future[Run]) -> None:
    """A child start nobody awaits any more (the step was abandoned): its failure is not an error here."""
    if not future.cancelled():
        future.exception()


def _call_of(config: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The (version, parameters) of a rendered `with:`; version 0 = the latest."""
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise StepFailed("config", f"with: unknown field {unknown[0]!r} (a sub-workflow takes version and parameters)")
    version = config.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        shown = json.dumps(version) if isinstance(version, bool) or version is None else repr(version)  # true, not True
        raise StepFailed("config", f"with.version: {shown} is not a version number")
    parameters = config.get("parameters", {})
    if not isinstance(parameters, dict):
        raise StepFailed("config", f"with.parameters: {parameters!r} is not an object")
    return version, parameters


class SubWorkflows:
    """Starts, finds again, waits for and cancels the child runs of one engine's sub-workflow steps."""

    def __init__(self, runtime: EngineRuntime, nats: NatsClient | None, controls: RunControls,
                 wake: Callable[[], None]) -> None:
        self.runtime = runtime
        self.nats = nats
        self.controls = controls
        self.wake = wake
        # Children whose failure failed an attempt here: the step's next attempt retries them.
        self._failed: dict[str, None] = {}
        self._cancelling: set[asyncio.Task[None]] = set()

    async def execute(self, run: RunContext, step: StepRun, config: dict[str, Any]) -> dict[str, Any]:
        """One attempt of a sub-workflow step: its child run's outputs, plus `child_run_id`."""
        name = sub_workflow_name(step.spec.uses) or ""
        version, parameters = _call_of(config)
        parent = RunParent(run.run_id, step.spec.id)
        creating: asyncio.Future[Run] | None = None
        try:
            child = await self._existing(parent)
            if child is None:
                # Shielded: a cancel arriving while storage creates the child must not leave it running.
                creating = asyncio.ensure_future(self._start(run, parent, name, version, parameters))
                creating.add_done_callback(_retrieved)
                child = await asyncio.shield(creating)
                if run.state == RunState.PAUSED:  # paused while the child was created: the child waits with it
                    with contextlib.suppress(Exception):
                        await self.controls.apply(child.id, ControlAction.PAUSE, "engine")
            elif child.state in (RunState.FAILED, RunState.CANCELLED) and child.id in self._failed:
                child = await self._retry(child)
            self._failed.pop(child.id, None)
            step.outputs = {"child_run_id": child.id}  # the run view links the step to its child from now on
            await run.record(Transition(None, step.spec.id, attempt=step.attempt, outputs=step.outputs))
            ended = await self._wait(child.id)
        except asyncio.CancelledError:
            if not run.stopping:  # cancelled, timed out: the child goes too; abandoned: the next owner waits for it
                await self._cancel_child_of(parent, creating)
            raise
        return self._outcome(ended)

    async def _cancel_child_of(self, parent: RunParent, creating: asyncio.Future[Run] | None) -> None:
        if creating is not None:
            with contextlib.suppress(Exception):
                await creating
        with contextlib.suppress(StepFailed):
            child = await self._existing(parent)
            if child is not None and child.state not in TERMINAL_RUN_STATES:
                await self._cancel(child.id, f"parent {parent.run_id}")

    async def _existing(self, parent: RunParent) -> Run | None:
        try:
            children = await self.runtime.store.children(parent.run_id, parent.step_id)
        except StorageError as error:
            raise StepFailed("error", f"could not look for the step's child run: {error}") from None
        return children[0] if children else None

    async def _start(self, run: RunContext, parent: RunParent, name: str, version: int,
                     parameters: dict[str, Any]) -> Run:
        depth = run.stored.depth + 1
        if depth > MAX_DEPTH:
            raise StepFailed("config", f"nesting deeper than {MAX_DEPTH}: run {run.run_id} is at depth "
                                       f"{run.stored.depth}, so its sub-workflow {name!r} cannot start")
        called = f"workflow {name!r}" + (f" version {version}" if version else "")
        try:
            started = await start_run(self.runtime, name, version, json.dumps(parameters), run.dry_run,
                                      run.stored.created_by, parent, depth)
        except NotFound:
            raise StepFailed("config", f"no {called}") from None
        except AlreadyExists:  # another engine executing this run started it a moment ago
            found = await self._existing(parent)
            if found is None:
                raise StepFailed("error", f"storage has a child run of step {parent.step_id!r} "
                                          "but did not list it") from None
            return found
        except StorageError as error:
            if error.code == grpc.StatusCode.INVALID_ARGUMENT:  # e.g. a name longer than workflow names are
                raise StepFailed("config", f"no {called}: {error}") from None
            raise StepFailed("error", f"could not start {called}: {error}") from None
        if started.conflict is not None:
            raise StepFailed("error", f"{called} did not start: its concurrency key {started.conflict.key!r} "
                                      f"is held by {', '.join(started.conflict.blocked_by)}")
        if started.run is None:
            wrong = [p for p in started.problems if not p.pointer.startswith("/spec/")]
            if wrong:
                raise StepFailed("config", f"with.parameters do not fit {called}: "
                                           + "; ".join(f"with.parameters{p.pointer}: {p.message}" for p in wrong))
            raise StepFailed("error", f"{called} cannot start now: " + "; ".join(map(str, started.problems)))
        self.wake()
        log.info("child run started", extra={"fields": {"child_run_id": started.run.id, "workflow": name,
                                                        "step_id": parent.step_id, "depth": depth}})
        return started.run

    async def _retry(self, child: Run) -> Run:
        """Retry a failed child from its failure (the step's earlier attempt failed with it)."""
        try:
            await self.controls.apply(child.id, ControlAction.RETRY, "engine")
            return await self.runtime.store.get_run(child.id)
        except (ControlRefused, StorageError) as error:
            raise StepFailed("error", f"could not retry child run {child.id}: {error}") from None

    async def _wait(self, child_id: str) -> Run:
        """The child once it is terminal: read again whenever one of its events ends it."""
        ended = asyncio.Event()

        async def on_event(msg: Msg) -> None:
            with contextlib.suppress(Exception):
                if EventType.from_number(Event.FromString(msg.data).type) in RUN_END_EVENTS:
                    ended.set()

        subscription: Subscription | None = None
        if self.nats is not None and self.nats.is_connected:
            with contextlib.suppress(Exception):  # without events the storage reads below still see the end
                subscription = await self.nats.subscribe(run_events_subject(child_id), cb=on_event)
        try:
            while True:
                ended.clear()
                try:
                    child = await self.runtime.store.get_run(child_id)
                    if child.state in TERMINAL_RUN_STATES:
                        return child
                except StorageUnavailable:
                    pass
                except StorageError as error:
                    raise StepFailed("error", f"could not read child run {child_id}: {error}") from None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), POLL_SECONDS if subscription else POLL_WITHOUT_EVENTS_SECONDS)
        finally:
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    def _outcome(self, child: Run) -> dict[str, Any]:
        if child.state in (RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_WARNINGS):
            return {**child.outputs, "child_run_id": child.id}
        self._failed[child.id] = None
        while len(self._failed) > REMEMBERED_FAILURES:
            self._failed.pop(next(iter(self._failed)))
        which = f"child run {child.id} ({child.workflow} v{child.version})"
        if child.state == RunState.CANCELLED:
            raise StepFailed("cancelled", f"{which} was cancelled")
        failed = [f"{step.id} ({step.error[:200]})" if step.error else step.id
                  for step in child.steps if step.state == StepState.FAILED]
        raise StepFailed("error", f"{which} failed" + (f"; failed steps: {', '.join(failed)}" if failed else ""))

    async def _cancel(self, child_id: str, actor: str) -> None:
        """Cancel a child; when its engine does not answer, keep trying in the background for a while."""
        if await self._try_cancel(child_id, actor) is not None:
            task = asyncio.create_task(self._cancel_later(child_id, actor), name=f"cancel-child-{child_id}")
            self._cancelling.add(task)
            task.add_done_callback(self._cancelling.discard)

    async def _try_cancel(self, child_id: str, actor: str) -> Exception | None:
        """None once the child is cancelled (or ended already), else why not."""
        try:
            await asyncio.wait_for(self.controls.apply(child_id, ControlAction.CANCEL, actor), CONTROL_SECONDS)
        except ControlRefused:
            return None  # it ended meanwhile
        except Exception as error:  # owner unreachable (it died: another engine takes the child over), storage down
            return error
        return None

    async def _cancel_later(self, child_id: str, actor: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_RETRY_SECONDS
        error: Exception | None = None
        while loop.time() < deadline:
            await asyncio.sleep(CANCEL_RETRY_INTERVAL_SECONDS)
            if (error := await self._try_cancel(child_id, actor)) is None:
                return
        log.warning("gave up cancelling a child run", extra={"fields": {"child_run_id": child_id,
                                                                        "error": str(error)}})

    async def stop(self) -> None:
        """Stop the background cancels (the engine is stopping)."""
        for task in list(self._cancelling):
            task.cancel()
        await asyncio.gather(*self._cancelling, return_exceptions=True)
