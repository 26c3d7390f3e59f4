"""`for_each`: one instance of a step per element of a list, and the step itself as their aggregate.

The scheduler knows only the definition's steps: the for_each step (`greet`) is dispatched like
any other and run here. It evaluates the list, adds the instances (`greet[0]`, …: stored rows with
`parent` and `item_index`, each with its own attempts, events and logs) in the same transition as
its own `step.started`, runs them at most `max_parallel` at once (the run's limit still applies to
each attempt), and settles once every instance is terminal.

A takeover never expands again: the instances are in the stored run. The list is evaluated again
(its inputs are parameters and finished steps, so it is the same list) to give each instance its
item back; finished instances stay finished and only the others are dispatched.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.states import TERMINAL_STEP_STATES, EventType, StepState

from vwmp_engine import expressions
from vwmp_engine.attempts import StepAttempts
from vwmp_engine.definition import StepSpec
from vwmp_engine.plugin_calls import StepFailed
from vwmp_engine.run_state import RunContext, StepRun
from vwmp_engine.scheduler import skip_reason, status_aware
from vwmp_engine.store import NewStep, Transition

MAX_ITEMS = 10_000
NAMED_FAILURES = 10  # instances a failed aggregate's error names; the rest are counted
Spawn = Callable[[StepRun, Coroutine[Any, Any, None]], None]


def instance_id(step_id: str, index: int) -> str:
    """The id of a for_each step's instance: `greet[3]`."""
    return f"{step_id}[{index}]"


@functools.lru_cache(maxsize=1024)  # asked for every instance of a step, of the same few conditions
def names_item(condition: str | None) -> bool:
    """Whether an `if:` names `item` or `item_index`: then each instance evaluates it for its own item."""
    if condition is None:
        return False
    try:
        tree = expressions.parse(expressions.condition_expression(condition))
    except expressions.ExpressionError:
        return False
    return any(reference.path[0] in expressions.ITEM_ROOTS for reference in expressions.references(tree))


def aggregate_spec(spec: StepSpec) -> StepSpec:
    """The step as it is checked when ready: an `if:` about the item is left to the instances.

    Only the needs' outcome decides then (the implicit `success()`), and not even that when the
    condition asks for a status itself: each instance evaluates it whole.
    """
    if not names_item(spec.condition):
        return spec
    return replace(spec, condition="always()" if status_aware(spec.condition) else None)


def items_of(spec: StepSpec, scope: Mapping[str, Any]) -> list[Any]:
    """The list a for_each step runs over; StepFailed of kind config when it is not a list, or too long."""
    try:
        value = expressions.render(spec.for_each, scope)
    except expressions.ExpressionError as error:
        raise StepFailed("config", f"for_each: {error}") from None
    if not isinstance(value, list):
        shown = f"{spec.for_each!r} evaluates to" if isinstance(spec.for_each, str) else "is"
        raise StepFailed("config", f"for_each: {shown} {_kind(value)}, not a list")
    if len(value) > MAX_ITEMS:
        raise StepFailed("config", f"for_each: the list has {len(value):,} items; a step fans out to at most "
                                   f"{MAX_ITEMS:,}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


@dataclass
class _Fan:
    """One dispatched for_each step: instances waiting for a slot, how many run and how many are open."""

    aggregate: StepRun
    queue: deque[StepRun] = field(default_factory=deque)
    active: int = 0
    open: int = 0
    failure: StepRun | None = None  # the first failed instance, when fail_fast stops the rest


class FanOut:
    """Runs the for_each steps of one run: expansion, the instances, the aggregate's outcome."""

    def __init__(self, run: RunContext, attempts: StepAttempts, spawn: Spawn) -> None:
        self.run = run
        self.attempts = attempts
        self.spawn = spawn
        self._restore()

    def _restore(self) -> None:
        """Instances as the stored run has them (after a takeover or a reopen), each under its step."""
        steps = self.run.steps
        for stored in self.run.stored.steps:
            aggregate = steps.get(stored.parent) if stored.parent else None
            if aggregate is None or aggregate.instances is None or stored.id in steps:
                continue
            instance = self._instance(aggregate, stored.item_index)
            instance.state, instance.attempt, instance.error, instance.outputs = (
                stored.state, stored.attempt, stored.error, stored.outputs)
            instance.compensation_attempt = stored.compensation_attempt
            steps[stored.id] = instance
            aggregate.instances.append(instance)
        for spec in self.run.spec.steps:
            instances = steps[spec.id].instances
            if instances:
                instances.sort(key=lambda instance: instance.item_index)

    @staticmethod
    def _instance(aggregate: StepRun, index: int) -> StepRun:
        spec = aggregate.spec
        return StepRun(replace(spec, id=instance_id(spec.id, index), for_each=None, max_parallel=None,
                               fail_fast=False, condition=spec.condition if names_item(spec.condition) else None),
                       parent=spec.id, item_index=index)

    async def execute(self, aggregate: StepRun) -> None:
        """Expand (or, taken over, pick up) the step's instances, run them, then settle the step."""
        run, spec = self.run, aggregate.spec
        bind_log_context(run_id=run.run_id, step_id=spec.id)
        aggregate.attempt += 1
        aggregate.state, aggregate.error = StepState.RUNNING, ""
        started = Transition(EventType.STEP_STARTED, spec.id, attempt=aggregate.attempt,
                             step_state=StepState.RUNNING, clear_step=True)
        try:
            items = items_of(spec, run.scope)
        except StepFailed as failure:
            message = run.redactor.scrub(failure.message)
            aggregate.state, aggregate.error = StepState.FAILED, message
            await run.record(replace(started, data={"items": 0}), Transition(
                EventType.STEP_FAILED, spec.id, attempt=aggregate.attempt, step_state=StepState.FAILED,
                error=message, data={"error": message, "kind": failure.kind}))
            metrics.STEPS.labels(StepState.FAILED).inc()
            return
        await self._expand(aggregate, replace(started, data={"items": len(items)}), items)
        fan = await self._run_instances(aggregate)
        await self._settle(fan, await self._cancel_rest(fan) if fan.failure is not None else [])

    async def skip(self, aggregate: StepRun, reason: str) -> None:
        """The step's `if:` is false: it is skipped, and so are instances an earlier attempt left open."""
        left = [instance for instance in aggregate.instances or () if instance.state not in TERMINAL_STEP_STATES]
        for step in (*left, aggregate):
            step.state = StepState.SKIPPED
        await self.run.record(*(Transition(EventType.STEP_SKIPPED, step.spec.id, attempt=step.attempt,
                                           step_state=StepState.SKIPPED, data={"reason": reason})
                                for step in (*left, aggregate)))
        metrics.STEPS.labels(StepState.SKIPPED).inc()

    async def _expand(self, aggregate: StepRun, started: Transition, items: list[Any]) -> None:
        """One transition: the rows of instances not stored yet and the step's start.

        A list shorter than the stored instances (a rerun after its inputs changed) skips the rest.
        """
        assert aggregate.instances is not None
        run, stored = self.run, aggregate.instances
        new = [self._instance(aggregate, index) for index in range(len(stored), len(items))]
        dropped = [instance for instance in stored[len(items):] if instance.state not in TERMINAL_STEP_STATES]
        batch = [replace(started, add_steps=tuple(NewStep(instance.spec.id, instance.spec.uses, aggregate.spec.id,
                                                          instance.item_index) for instance in new))]
        batch += [Transition(EventType.STEP_SKIPPED, instance.spec.id, attempt=instance.attempt,
                             step_state=StepState.SKIPPED, data={"reason": "no longer in the for_each list"})
                  for instance in dropped]
        written = run.transitions.record(*batch)
        # In memory before the write returns: a cancel queued behind it must find the new rows.
        for instance in dropped:
            instance.state = StepState.SKIPPED
        del stored[len(items):]
        for instance in new:
            run.steps[instance.spec.id] = instance
        stored.extend(new)
        for instance, item in zip(stored, items, strict=True):
            instance.item = item
        await written

    async def _run_instances(self, aggregate: StepRun) -> _Fan:
        """Dispatch the open instances in item order, at most max_parallel at once, until all are terminal."""
        run = self.run
        fan = _Fan(aggregate)
        for instance in aggregate.instances or ():
            if instance.state in TERMINAL_STEP_STATES:
                if instance.state == StepState.FAILED and aggregate.spec.fail_fast and fan.failure is None:
                    fan.failure = instance
                continue
            fan.open += 1
            if instance.state == StepState.AWAITING_APPROVAL:  # taken over while it waited: wait again
                self._start(fan, instance, resume=True)
            else:
                instance.state = StepState.PENDING
                fan.queue.append(instance)
        while fan.open and fan.failure is None:
            self._fill(fan)
            run.changed.clear()
            await run.changed.wait()
        return fan

    def _fill(self, fan: _Fan) -> None:
        """Start queued instances while the step has room (and the run dispatches)."""
        limit = fan.aggregate.spec.max_parallel or MAX_ITEMS
        while self.run.dispatching and fan.failure is None and fan.queue and fan.active < limit:
            instance = fan.queue.popleft()
            if instance.state == StepState.PENDING and instance.task is None:
                self._start(fan, instance)

    def _start(self, fan: _Fan, instance: StepRun, resume: bool = False) -> None:
        fan.active += 1
        self.spawn(instance, self._instance_task(fan, instance, resume))

    async def _instance_task(self, fan: _Fan, instance: StepRun, resume: bool) -> None:
        try:
            if resume:
                await self.attempts.resume_approval(instance)
                return
            reason = None
            if instance.spec.condition is not None:
                needs = {need: self.run.steps[need].state for need in instance.spec.needs}
                reason = skip_reason(instance.spec, needs, self.run.scope_of(instance.spec.id))
            if reason is not None:
                instance.state = StepState.SKIPPED
                await self.attempts.skip(instance, reason)
            else:
                await self.attempts.run_step(instance)
        finally:
            fan.active -= 1
            if instance.state in TERMINAL_STEP_STATES:
                fan.open -= 1
                if instance.state == StepState.FAILED and fan.aggregate.spec.fail_fast and fan.failure is None:
                    fan.failure = instance
            self._fill(fan)  # the next item starts now, its start joining this one's end in one write

    async def _cancel_rest(self, fan: _Fan) -> list[Transition]:
        """fail_fast: cancel the instances in flight (their calls are cancelled) and those not started."""
        assert fan.failure is not None and fan.aggregate.instances is not None
        in_flight = [instance.task for instance in fan.aggregate.instances if instance.task is not None]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        reason = f"fail_fast: {fan.failure.spec.id} failed"
        left = [instance for instance in fan.aggregate.instances if instance.state not in TERMINAL_STEP_STATES]
        for instance in left:
            instance.state = StepState.CANCELLED
        metrics.STEPS.labels(StepState.CANCELLED).inc(len(left))
        return [Transition(EventType.STEP_CANCELLED, instance.spec.id, attempt=instance.attempt,
                           step_state=StepState.CANCELLED, data={"reason": reason}) for instance in left]

    async def _settle(self, fan: _Fan, cancelled: list[Transition]) -> None:
        """The step's outcome from its instances': succeeded when none failed or was cancelled."""
        aggregate, instances = fan.aggregate, fan.aggregate.instances or []
        counts = collections.Counter(instance.state for instance in instances)
        data: dict[str, Any] = {"items": len(instances), "succeeded": counts[StepState.SUCCEEDED],
                                "failed": counts[StepState.FAILED], "cancelled": counts[StepState.CANCELLED]}
        if counts[StepState.SKIPPED]:
            data["skipped"] = counts[StepState.SKIPPED]
        if not data["failed"] and not data["cancelled"]:
            aggregate.state = StepState.SUCCEEDED
            end = Transition(EventType.STEP_SUCCEEDED, aggregate.spec.id, attempt=aggregate.attempt,
                             step_state=StepState.SUCCEEDED, data=data)
        else:
            message = self._failure_message(instances, data)
            aggregate.state, aggregate.error = StepState.FAILED, message
            end = Transition(EventType.STEP_FAILED, aggregate.spec.id, attempt=aggregate.attempt,
                             step_state=StepState.FAILED, error=message,
                             data={**data, "error": message, "kind": "error"})
        await self.run.record(*cancelled, end)
        metrics.STEPS.labels(aggregate.state).inc()

    @staticmethod
    def _failure_message(instances: list[StepRun], data: dict[str, Any]) -> str:
        failed = [instance.spec.id for instance in instances if instance.state == StepState.FAILED]
        named = ", ".join(failed[:NAMED_FAILURES]) + (f" and {len(failed) - NAMED_FAILURES} more"
                                                      if len(failed) > NAMED_FAILURES else "")
        message = f"{data['failed']} of {data['items']} items failed"
        if data["cancelled"]:
            message += f", {data['cancelled']} cancelled"
        return f"{message}: {named}" if named else message
