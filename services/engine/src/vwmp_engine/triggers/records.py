"""What the triggers tell storage and read back, as engine types (the messages are built only here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vwmp_common.states import RunState
from vwmp_common.timeutil import from_timestamp, to_timestamp
from vwmp_proto.storage.v1 import storage_pb2


@dataclass(frozen=True, slots=True)
class StartedBy:
    """How a run is started: the run's `trigger`, and its dedupe key (one run per tick, delivery or finished run)."""

    id: str
    kind: str
    at: datetime
    delivery: str = ""
    run_id: str = ""
    dedupe_key: str = ""

    def message(self) -> storage_pb2.RunTrigger:
        return storage_pb2.RunTrigger(id=self.id, kind=self.kind, at=to_timestamp(self.at), delivery=self.delivery,
                                      run_id=self.run_id, dedupe_key=self.dedupe_key)


@dataclass(frozen=True, slots=True)
class Advance:
    """A compare-and-set of a schedule (`compare`), and/or a record of a fire or an error."""

    workflow: str
    trigger_id: str
    compare: bool = False
    expected_digest: str = ""
    expected_next_fire_at: datetime | None = None
    digest: str = ""
    next_fire_at: datetime | None = None
    fired_at: datetime | None = None
    error: str = ""

    def message(self) -> storage_pb2.TriggerAdvance:
        change = storage_pb2.TriggerAdvance(workflow=self.workflow, trigger_id=self.trigger_id, compare=self.compare,
                                            expected_digest=self.expected_digest, digest=self.digest,
                                            error=self.error)
        for name, moment in (("expected_next_fire_at", self.expected_next_fire_at),
                             ("next_fire_at", self.next_fire_at), ("fired_at", self.fired_at)):
            if moment is not None:
                getattr(change, name).CopyFrom(to_timestamp(moment))
        return change


@dataclass(frozen=True, slots=True)
class RecentRun:
    """A run a trigger started, as much as overlap needs of it."""

    id: str
    state: RunState
    created_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class TriggerState:
    """A trigger's runtime state as storage has it; `message` answers gRPC callers."""

    workflow: str
    trigger_id: str
    digest: str
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_run_id: str
    last_error: str
    paused: bool
    message: storage_pb2.TriggerState

    @classmethod
    def from_message(cls, state: storage_pb2.TriggerState) -> TriggerState:
        return cls(state.workflow, state.trigger_id, state.digest, from_timestamp(state.next_fire_at),
                   from_timestamp(state.last_fire_at), state.last_run_id, state.last_error, state.paused, state)

    @classmethod
    def none_yet(cls, workflow: str, trigger_id: str) -> TriggerState:
        return cls.from_message(storage_pb2.TriggerState(workflow=workflow, trigger_id=trigger_id))
