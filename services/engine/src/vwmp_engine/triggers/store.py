"""The engine's storage calls for triggers: latest definitions, trigger states, tick claims, ended runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vwmp_common.clients import StorageStub
from vwmp_common.states import RunState
from vwmp_common.timeutil import from_timestamp, to_timestamp
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.store import Run, Workflow, _refusals, _run
from vwmp_engine.triggers.records import Advance, RecentRun, TriggerState


class TriggerStore:
    """Typed storage calls the triggers need."""

    def __init__(self, stub: StorageStub) -> None:
        self._stub = stub
        # (name, version) -> (definition text, parsed): the scheduler reads every workflow once a second and
        # parsing ten 10,000-step definitions each time was most of the engine's CPU; only changed text is parsed.
        self._parsed: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}

    async def workflows(self) -> list[Workflow]:
        """The latest version of every workflow that is not archived (their triggers are the live ones).

        The definitions are shared between calls: read them, never change them."""
        with _refusals():
            found = await self._stub.ListWorkflows(storage_pb2.ListWorkflowsRequest())
        parsed: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
        for w in found.workflows:
            known = self._parsed.get((w.name, w.version))
            parsed[(w.name, w.version)] = known if known is not None and known[0] == w.definition_json else (
                w.definition_json, json.loads(w.definition_json))
        self._parsed = parsed
        return [Workflow(w.name, w.version, parsed[(w.name, w.version)][1], from_timestamp(w.created_at))
                for w in found.workflows]

    async def states(self, workflow: str = "") -> dict[tuple[str, str], TriggerState]:
        """Trigger states by (workflow, trigger id)."""
        with _refusals():
            found = await self._stub.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
        return {(state.workflow, state.trigger_id): TriggerState.from_message(state) for state in found.states}

    async def advance(self, change: Advance) -> bool:
        """Apply a compare-and-set or a record; False when another replica moved the schedule first."""
        with _refusals():
            return (await self._stub.AdvanceTrigger(change.message())).advanced

    async def recent_runs(self, workflow: str, trigger_id: str, limit: int = 1) -> list[RecentRun]:
        """The newest runs a trigger started, newest first."""
        with _refusals():
            found = await self._stub.ListRuns(storage_pb2.ListRunsRequest(workflow=workflow, trigger=trigger_id,
                                                                          limit=limit))
        return [RecentRun(run.id, RunState.from_number(run.state), from_timestamp(run.created_at),
                          from_timestamp(run.finished_at)) for run in found.runs]

    async def ended_runs(self, upstream: str, states: Sequence[RunState], after: datetime, before: datetime,
                         follower: tuple[str, str], limit: int) -> list[Run]:
        """Runs of `upstream` that ended in (after, before] in `states` and that the trigger `follower`
        (workflow, trigger id) has not started a run for, oldest end first."""
        request = storage_pb2.ListRunsRequest(
            workflow=upstream, states=[state.number for state in states], finished_after=to_timestamp(after),
            finished_before=to_timestamp(before), limit=limit,
            not_followed_by=storage_pb2.TriggerRef(workflow=follower[0], trigger_id=follower[1]))
        with _refusals():
            found = await self._stub.ListRuns(request)
        return [_run(run) for run in found.runs]
