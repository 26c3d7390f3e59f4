"""The engine's storage calls for triggers: latest definitions, trigger states, tick claims, pauses."""

from __future__ import annotations

import json

from vwmp_common.clients import StorageStub
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.store import Workflow, _refusals


class TriggerStore:
    """Typed storage calls the triggers need."""

    def __init__(self, stub: StorageStub) -> None:
        self._stub = stub

    async def workflows(self) -> list[Workflow]:
        """The latest version of every workflow that is not archived (their triggers are the live ones)."""
        with _refusals():
            found = await self._stub.ListWorkflows(storage_pb2.ListWorkflowsRequest())
        return [Workflow(w.name, w.version, json.loads(w.definition_json)) for w in found.workflows]

    async def states(self, workflow: str = "") -> dict[tuple[str, str], storage_pb2.TriggerState]:
        """Trigger states by (workflow, trigger id)."""
        with _refusals():
            found = await self._stub.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
        return {(state.workflow, state.trigger_id): state for state in found.states}

    async def advance(self, change: storage_pb2.TriggerAdvance) -> bool:
        """Apply a compare-and-set or a record; False when another replica moved the schedule first."""
        with _refusals():
            return (await self._stub.AdvanceTrigger(change)).advanced

    async def pause(self, workflow: str, trigger_id: str, paused: bool, actor: str) -> storage_pb2.TriggerState:
        """Pause or resume one trigger."""
        with _refusals():
            return await self._stub.PauseTrigger(storage_pb2.PauseTriggerRequest(
                workflow=workflow, trigger_id=trigger_id, paused=paused, actor=actor))

    async def latest_run(self, workflow: str, trigger_id: str) -> storage_pb2.Run | None:
        """The newest run a trigger started, if any."""
        with _refusals():
            found = await self._stub.ListRuns(storage_pb2.ListRunsRequest(workflow=workflow, trigger=trigger_id,
                                                                          limit=1))
        return found.runs[0] if found.runs else None
