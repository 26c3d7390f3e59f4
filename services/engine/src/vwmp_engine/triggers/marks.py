"""How far a completion trigger has followed its upstream workflow: its mark, kept in its trigger state.

The mark is a moment: every run of the upstream workflow that ended at or before it has been
followed (fired, skipped or refused). It lives in the state's `next_fire_at`, with `digest`
naming what the trigger follows (upstream workflow and states); both move by the trigger
state's compare-and-set. A trigger is *armed* when a replica first sees it: its mark starts when
the version that holds it was saved — or later, when it was resumed or its workflow restored
(storage then leaves no digest and a mark of now) — so no run that ended before is followed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from vwmp_common.timeutil import utcnow

from vwmp_engine.store import Workflow
from vwmp_engine.triggers.records import TriggerState
from vwmp_engine.triggers.spec import TriggerSpec

DIGEST_PREFIX = "on_run:"


def following_digest(spec: TriggerSpec) -> str:
    """What a completion trigger follows; a change (another workflow or other states) arms it again."""
    followed = json.dumps([spec.on_run["workflow"], sorted(spec.on_run["states"])])
    return DIGEST_PREFIX + hashlib.sha256(followed.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a trigger's following stands; `armed` False: nobody has stored it yet (`at` is where it starts)."""

    at: datetime
    digest: str
    armed: bool


def mark_of(workflow: Workflow, spec: TriggerSpec, state: TriggerState | None) -> Mark:
    """The trigger's stored mark, or where it is armed when it has none for what it follows now."""
    digest = following_digest(spec)
    if state is not None and state.digest == digest and state.next_fire_at is not None:
        return Mark(state.next_fire_at, digest, True)
    start = workflow.created_at or utcnow()
    if state is not None and state.digest == "" and state.next_fire_at is not None:
        start = max(start, state.next_fire_at)  # resumed, or its workflow restored, at that moment
    return Mark(start, digest, False)


def follows(spec: TriggerSpec, workflow_name: str, state_value: str) -> bool:
    """Whether a run of `workflow_name` that ended as `state_value` is one `spec` fires for."""
    return spec.on_run["workflow"] == workflow_name and state_value in spec.on_run["states"]
