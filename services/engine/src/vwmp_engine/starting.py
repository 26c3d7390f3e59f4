"""Starting a run: parameters checked against the pinned definition, every step type offered now.

The run is created `queued`; whichever replica has room claims it. Its `run.queued` event is
published at once, so live subscribers of all runs see a run appear before it starts.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem

from vwmp_engine.expressions import ExpressionError
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.step_types import sub_workflow_name
from vwmp_engine.store import Concurrency, ConcurrencyConflict, NotLatest, Run, RunParent, Workflow
from vwmp_engine.triggers.records import Advance, StartedBy
from vwmp_engine.validation import apply_parameter_defaults, concurrency_key, validate_parameters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """The created run, or why none was created: problems, or the concurrency key it could not take."""

    run: Run | None = None
    problems: list[Problem] = field(default_factory=list)
    conflict: ConcurrencyConflict | None = None
    unavailable: list[Problem] = field(default_factory=list)  # of `problems`: step types no live host offers


async def start_run(runtime: EngineRuntime, workflow_name: str, version: int, parameters_json: str,
                    dry_run: bool, actor: str, parent: RunParent | None = None, depth: int = 0,
                    trigger: StartedBy | None = None, advance: Advance | None = None,
                    fallback_concurrency: Concurrency | None = None, workflow: Workflow | None = None,
                    idempotency: tuple[str, str] = ("", "")) -> Started:
    """Create a queued run of a workflow version (0 = latest); storage's NotFound when there is none.

    A sub-workflow step passes its run and step as `parent`; storage's AlreadyExists when that step
    has a child run already. A triggered run passes its `trigger` (and a schedule tick its `advance`,
    see Store.create_run); `fallback_concurrency` is the key used when the workflow has no
    spec.concurrency (overlap: queue). `idempotency` is the client's (key, request digest): a key
    already used comes back as that run (`message.replayed`), nothing created or published.

    The latest version (0) is the one the engine remembers, if it does: storage creates the run only
    while that is still the latest (`only_latest`), so a run costs one storage call, not two. When a
    newer version was saved, or the remembered one finds problems, the latest is read and decides.
    """
    start = functools.partial(_start, runtime, parameters_json=parameters_json, dry_run=dry_run, actor=actor,
                              parent=parent, depth=depth, trigger=trigger, advance=advance,
                              fallback_concurrency=fallback_concurrency, idempotency=idempotency)
    known = runtime.store.known_latest(workflow_name) if workflow is None and not version else None
    if known is not None:
        try:
            started = await start(known, only_latest=True)
        except NotLatest:
            runtime.store.forget_latest(workflow_name)
        else:
            if not started.problems:
                return started
    return await start(workflow or await runtime.store.get_workflow(workflow_name, version))


async def _start(runtime: EngineRuntime, workflow: Workflow, *, parameters_json: str, dry_run: bool, actor: str,
                 parent: RunParent | None, depth: int, trigger: StartedBy | None, advance: Advance | None,
                 fallback_concurrency: Concurrency | None, idempotency: tuple[str, str],
                 only_latest: bool = False) -> Started:
    try:
        parameters: Any = json.loads(parameters_json or "{}")
    except ValueError as error:
        return Started(problems=[Problem("", f"parameters are not valid JSON: {error}")])
    steps: list[dict[str, Any]] = workflow.definition["spec"]["steps"]
    finally_steps: list[dict[str, Any]] = workflow.definition["spec"].get("finally") or []
    schema = workflow.definition["spec"].get("parameters") or {"type": "object"}
    if isinstance(parameters, dict):
        parameters = apply_parameter_defaults(schema, parameters)
    unavailable = [
        Problem(pointer("spec", section, index, "uses"), f"no live plugin host offers {step['uses']!r} now")
        for section, listed in (("steps", steps), ("finally", finally_steps))
        for index, step in enumerate(listed)
        if sub_workflow_name(step["uses"]) is None and runtime.registry.get(step["uses"]) is None
    ]  # a sub-workflow's workflow is looked up when its step starts
    problems = validate_parameters(schema, parameters) + unavailable
    if problems:
        return Started(problems=problems, unavailable=unavailable)
    try:
        concurrency = _concurrency(workflow, parameters, dry_run, actor) or fallback_concurrency
    except ExpressionError as error:
        return Started(problems=[Problem(pointer("spec", "concurrency", "key"), f"cannot be evaluated: {error}")])
    try:
        run, written = await runtime.store.create_run(workflow, parameters, dry_run, actor,
                                                      [(step["id"], step["uses"]) for step in (*steps, *finally_steps)],
                                                      concurrency, parent, depth, trigger=trigger, advance=advance,
                                                      idempotency=idempotency, only_latest=only_latest)
    except ConcurrencyConflict as conflict:
        return Started(conflict=conflict)
    runtime.publisher.publish(written)
    log.info("run created", extra={"fields": {"run_id": run.id, "workflow": workflow.name}})
    return Started(run=run)


def _concurrency(workflow: Workflow, parameters: Any, dry_run: bool, actor: str) -> Concurrency | None:
    """spec.concurrency with its key evaluated over the parameters and what is known of the run now."""
    spec = workflow.definition["spec"].get("concurrency")
    if not spec:
        return None
    scope = {"params": parameters,
             "run": {"workflow": workflow.name, "version": workflow.version, "dry_run": dry_run, "created_by": actor}}
    return Concurrency(concurrency_key(spec, scope), int(spec.get("limit", 1)), spec.get("on_conflict", "queue"))
