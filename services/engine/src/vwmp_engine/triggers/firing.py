"""Starting the run of a trigger: its parameters rendered over `trigger` (and `event`), then a normal start."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.states import TERMINAL_RUN_STATES
from vwmp_common.timeutil import iso

from vwmp_engine import expressions
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.starting import Started, start_run
from vwmp_engine.store import Concurrency, Workflow
from vwmp_engine.triggers.records import Advance, StartedBy
from vwmp_engine.triggers.spec import TriggerSpec
from vwmp_engine.triggers.store import TriggerStore


def actor_of(spec: TriggerSpec) -> str:
    """Who a triggered run is created by."""
    return f"trigger:{spec.id}"


def trigger_scope(spec: TriggerSpec, at: datetime, **fields: Any) -> dict[str, Any]:
    """`${{ trigger }}` for a run of `spec`: id, kind, at and the kind's own fields."""
    return {"id": spec.id, "kind": spec.kind, "at": iso(at), **fields}


# How far back an end's overlap check looks for the trigger's run of that moment.
_RECENT_RUNS = 20


async def previous_not_done(store: TriggerStore, workflow: Workflow, spec: TriggerSpec,
                            ended_at: datetime | None = None) -> str | None:
    """The id of the trigger's run that makes overlap skip this fire, else None.

    That is its newest run when it has not ended; for the end of an upstream run (`ended_at`) also
    its run of that moment when that one had not ended by then, so the fast path and a later sweep
    decide an end alike.
    """
    recent = await store.recent_runs(workflow.name, spec.id, 1 if ended_at is None else _RECENT_RUNS)
    if recent and recent[0].state not in TERMINAL_RUN_STATES:
        return recent[0].id
    if ended_at is None:
        return None
    then = next((run for run in recent if run.created_at is not None and run.created_at <= ended_at), None)
    if then is not None and (then.finished_at is None or then.finished_at > ended_at):
        return then.id
    return None


async def fire(runtime: EngineRuntime, workflow: Workflow, spec: TriggerSpec, scope: dict[str, Any],
               trigger: StartedBy, advance: Advance | None = None) -> Started:
    """Start the run of `spec` with its parameters rendered over `scope`; problems point into the parameters."""
    try:
        parameters = expressions.render(spec.parameters, scope)
    except expressions.ExpressionError as error:
        return Started(problems=[Problem(pointer("parameters"), f"cannot be evaluated: {error}")])
    queue = Concurrency(f"trigger:{workflow.name}/{spec.id}", 1, "queue") if spec.overlap == "queue" else None
    return await start_run(runtime, workflow.name, workflow.version, json.dumps(parameters), False, actor_of(spec),
                           trigger=trigger, advance=advance, fallback_concurrency=queue, workflow=workflow)


def run_trigger(spec: TriggerSpec, at: datetime, dedupe_key: str = "", delivery: str = "",
                run_id: str = "") -> StartedBy:
    """The run's `trigger` as storage records it."""
    return StartedBy(spec.id, spec.kind, at, delivery, run_id, dedupe_key)


def problems_text(problems: list[Problem]) -> str:
    """Problems as one line for a trigger's last_error."""
    return "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems)[:2000]
