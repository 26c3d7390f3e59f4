"""API models: what clients send (`...Create`) and what they get back (`...Public`), per §4."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.triggers import TriggerKind

from vwmp_gateway.hardening import SAFE_TEXT_PATTERN
from vwmp_gateway.lifetimes import LIFETIME_PATTERN, MAX_LIFETIME
from vwmp_gateway.rbac import Role

T = TypeVar("T")

# What clients send as free JSON: published as the SafeJsonObject of contract.py (no control or bidi
# character, bounded nesting); hardening.check_values enforces it with pointers.
SafeJsonObject = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/SafeJsonObject"}]})]


def _integral(value: Any) -> Any:
    """JSON Schema's integer: 3 and 3.0, never "3", true or 3.5 (what pydantic's lax mode would coerce)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Integers as JSON Schema means them (see _integral), within the bounds the document states.
RunVersion = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1), BeforeValidator(_integral)]
# A token lifetime is checked by routers/tokens.py (lifetimes.py), one message naming /expires_in whatever
# is wrong, rather than pydantic's union errors; the document states the same rule.
Lifetime = Annotated[Any, WithJsonSchema({"anyOf": [
    {"type": "integer", "minimum": 1, "maximum": MAX_LIFETIME},
    {"type": "string", "pattern": LIFETIME_PATTERN},
    {"type": "null"},
]})]
# The configuration document: published as ConfigDocument, the config JSON Schema storage validates with.
ConfigDocument = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/ConfigDocument"}]})]


class Page(BaseModel, Generic[T]):
    """Every collection: the items and how many there are in total."""

    items: list[T]
    total: int


class Health(BaseModel):
    status: str


class ValidationErrorPublic(BaseModel):
    pointer: str = Field(description="RFC 6901 JSON pointer into the checked document")
    message: str


class ValidationPublic(BaseModel):
    valid: bool
    errors: list[ValidationErrorPublic]


class StepTypePublic(BaseModel):
    type: str
    plugin: str
    title: str
    description: str
    config_schema: dict[str, Any]
    outputs_schema: dict[str, Any]
    icon: str | None = Field(None, description="The node icon: an emoji or a data:image URI (never a remote URL)")
    effects: Literal["local", "remote", "none"] = Field(
        "remote", description="What running it changes: local (workspace files and repositories; a dry run runs it "
        "for real in a scratch copy), remote (another system; a dry run asks it for a plan), none")


class PluginHostPublic(BaseModel):
    """A plugin host the engine sees (announced over NATS, heartbeat not expired)."""

    id: str
    address: str
    plugins: list[str]
    step_types: list[str]
    last_seen: str | None


class TemplatePublic(BaseModel):
    name: str
    plugin: str
    workflow_type: str
    title: str
    description: str
    definition: dict[str, Any]


class WorkflowPublic(BaseModel):
    name: str
    version: int
    definition: dict[str, Any]
    created_at: str | None
    created_by: str


class StepRunPublic(BaseModel):
    id: str
    uses: str
    state: StepState
    attempt: int
    outputs: dict[str, Any]
    error: str | None
    started_at: str | None
    finished_at: str | None
    parent: str | None = Field(None, description="The for_each step this step is an instance of; null otherwise")
    item_index: int | None = Field(None, description="The instance's 0-based element index; null when not an instance")
    compensation: Literal["compensated", "failed"] | None = Field(
        None, description="What the unwind of a failed run did to this step's `compensate`: compensated (its state "
                          "is compensated too) or failed (the step stays succeeded, error says why); null: not run")


class RunParentPublic(BaseModel):
    run_id: str = Field(description="The run whose step started this child run")
    step_id: str = Field(description="That step's id (an instance id such as publish[3] inside a for_each)")


class RunTriggerPublic(BaseModel):
    id: str | None = Field(description="The trigger's id in spec.triggers; null for a manual start")
    kind: TriggerKind
    at: str | None = Field(description="The tick a schedule fired for, or when the delivery or upstream run end came")
    delivery: str | None = Field(None, description="webhook: the provider's delivery id")
    run_id: str | None = Field(None, description="on_run: the run whose end started this one")


class ConcurrencyPublic(BaseModel):
    key: str = Field(description="The run's evaluated spec.concurrency key")
    limit: int = Field(description="Runs with that key running at once")
    on_conflict: Literal["queue", "cancel_pending", "fail"] = Field(
        description="What a new run does when the key is taken")
    position: int = Field(
        description="1-based place in the key's queue while waiting; 0 once the run holds its slot")
    blocked_by: list[str] = Field(
        description="Ids of the runs holding the key's slots while this one waits; [] once it runs")


class RunPublic(BaseModel):
    id: str
    workflow: str
    version: int
    state: RunState
    parameters: dict[str, Any]
    dry_run: bool
    created_by: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    steps: list[StepRunPublic] = Field(description="Every step in creation order; with ?steps=summary only the "
                                                   "running, retrying, awaiting_approval, failed and cancelled ones")
    step_counts: dict[str, int] = Field(description="How many steps are in each state (a state's name → its count; "
                                                    "states without a step are left out)")
    concurrency: ConcurrencyPublic | None = Field(description="null when the workflow has no spec.concurrency")
    outputs: dict[str, Any] = Field(default_factory=dict,
                                    description="spec.outputs as evaluated when the run ended; {} until then")
    parent: RunParentPublic | None = Field(None, description="The step that started this run (a sub-workflow); "
                                                             "null for a top-level run")
    finalizing: RunState | None = Field(None, description="The state a cancelled or timed-out run ends as once its "
                                                          "finally steps are done; null otherwise")
    compensated: bool | Literal["partial"] | None = Field(
        None, description="The unwind of the run's succeeded steps (their compensate): true when every compensation "
                          "succeeded, partial when some failed, null when nothing was undone (or is still under way)")
    trigger: RunTriggerPublic | None = Field(None, description="How the run was started")


class StepPage(BaseModel):
    """A page of a run's steps in creation order."""

    items: list[StepRunPublic]
    total: int = Field(description="Steps matching the filter, over every page")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: SafeJsonObject = Field(default_factory=dict, description="Values for the workflow's parameters")
    # as the schema says: "1", 1.5 and true are no integer, 0 and "true" no boolean (pydantic would coerce them)
    version: RunVersion | None = Field(None, description="Version to run; latest when absent")
    dry_run: bool = Field(False, strict=True, description="Plan every step without changing anything")


class EventPublic(BaseModel):
    seq: int
    run_id: str
    type: EventType
    step_id: str | None
    attempt: int
    at: str | None
    data: dict[str, Any]


class LogLinePublic(BaseModel):
    step_id: str
    attempt: int
    at: str | None
    stream: str
    line: str


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    compensate: bool = Field(False, description="Undo the run's succeeded steps (their compensate, newest first) "
                                                "before it ends cancelled")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The pattern is published, and enforced by hardening.check_values with a message naming the character.
    comment: str = Field("", max_length=4000, json_schema_extra={"pattern": SAFE_TEXT_PATTERN},
                         description="Shown in the run's history")
    plan_digest: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="The plan_digest of the gate's plan the approver was shown; required to approve a gate "
        "pinned to its plan (the default). A different plan now: 409 plan-changed with the new one",
    )
    inputs: SafeJsonObject | None = Field(
        None, description="What the approver fills in, checked against the gate's inputs schema (422 with pointers)"
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]*$")
    role: Role
    expires_in: Lifetime = Field(None, description="Lifetime in seconds, or a duration like 30m, 12h, 90d "
                                                   "(at most 10 years); never expires when absent or null")


class Me(BaseModel):
    """The caller: the name the API records as actor (`created_by`, `by`) and the role."""

    name: str
    role: Role


class TokenPublic(BaseModel):
    id: str
    name: str
    role: Role
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    created_by: str


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret; shown once, stored hashed")


class ConfigPublic(BaseModel):
    version: int
    document: dict[str, Any]
    updated_at: str | None
    updated_by: str


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: ConfigDocument


class AuditPublic(BaseModel):
    at: str | None
    actor: str
    action: str
    target: str
    outcome: str


class TriggerPublic(BaseModel):
    id: str
    kind: TriggerKind
    definition: dict[str, Any] = Field(description="The entry of spec.triggers (latest version)")
    next_fire_at: str | None = Field(description="Schedules: the next tick; null when paused or not a schedule")
    last_fire_at: str | None = Field(description="When it last started a run; null when never")
    last_run_id: str | None
    last_error: str | None = Field(description="Why its last tick, delivery or run end started no run")
    paused: bool
    paused_by: str | None
    webhook_url: str | None = Field(None, description="Webhooks: the path to give the forge, below the gateway's URL")
