"""The engine's storage calls for triggers: latest definitions, trigger states, tick claims."""

from __future__ import annotations

import json

from vwmp_common.clients import StorageStub
from vwmp_common.states import RunState
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.store import Workflow, _refusals
from vwmp_engine.triggers.records import Advance, TriggerState


class TriggerStore:
    """Typed storage calls the triggers need."""

    def __init__(self, stub: StorageStub) -> None:
        self._stub = stub

    async def workflows(self) -> list[Workflow]:
        """The latest version of every workflow that is not archived (their triggers are the live ones)."""
        with _refusals():
            found = await self._stub.ListWorkflows(storage_pb2.ListWorkflowsRequest())
        return [Workflow(w.name, w.version, json.loads(w.definition_json)) for w in found.workflows]

    async def states(self, workflow: str = "") -> dict[tuple[str, str], TriggerState]:
        """Trigger states by (workflow, trigger id)."""
        with _refusals():
            found = await self._stub.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
        return {(state.workflow, state.trigger_id): TriggerState.from_message(state) for state in found.states}

    async def advance(self, change: Advance) -> bool:
        """Apply a compare-and-set or a record; False when another replica moved the schedule first."""
        with _refusals():
            return (await self._stub.AdvanceTrigger(change.message())).advanced

    async def latest_run(self, workflow: str, trigger_id: str) -> tuple[str, RunState] | None:
        """The id and state of the newest run a trigger started, if any."""
        with _refusals():
            found = await self._stub.ListRuns(storage_pb2.ListRunsRequest(workflow=workflow, trigger=trigger_id,
                                                                          limit=1))
        return (found.runs[0].id, RunState.from_number(found.runs[0].state)) if found.runs else None
