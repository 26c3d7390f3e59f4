"""VWMP's own test kit. This module: step types that let tests provoke retries, failures, timeouts and
cancellation (the `vwmp.plugins` entry point `testkit`). `vwmp_testkit.fixtures` is a pytest plugin
(`nats_server`), `vwmp_testkit.nats` runs NATS servers, `vwmp_testkit.platform` the platform in-process.

Every execution appends its idempotency key to `<workspace>/<journal>` so a
test can prove that no step attempt ran twice and that cancelled work stopped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from vwmp_sdk import ConfigError, DeniedError, Plugin, StepContext, StepError, Template

plugin = Plugin("testkit", title="Test kit", description="Steps for VWMP's own tests")


class Journal(BaseModel):
    journal: str = Field("journal.txt", description="File in the workspace that records executions")


class FlakyConfig(Journal):
    succeed_on: int = Field(2, ge=1, description="Attempt number that succeeds")


class FailConfig(Journal):
    kind: str = Field("error", description="error, config or denied")
    message: str = Field("boom", description="Error message")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        """A rule the published JSON Schema does not carry: the engine asks the host when a workflow is saved."""
        if kind not in ("error", "config", "denied"):
            raise ValueError("must be error, config or denied")
        return kind


class SlowConfig(Journal):
    seconds: float = Field(30, ge=0, description="How long the step takes")


class EchoConfig(BaseModel):
    value: str = Field(description="Echoed back in the outputs and the log")


class EchoOutputs(BaseModel):
    value: str


def _record(ctx: StepContext, journal: str, entry: str) -> None:
    path: Path = ctx.resolve_path(journal)
    with path.open("a") as out:
        out.write(f"{entry}\n")


@plugin.step("flaky", title="Flaky", description="Fails until the given attempt")
def flaky(ctx: StepContext, config: FlakyConfig) -> dict:
    _record(ctx, config.journal, f"run {ctx.idempotency_key}")
    if ctx.attempt < config.succeed_on:
        raise StepError(f"attempt {ctx.attempt} failed on purpose")
    return {"attempt": ctx.attempt}


@plugin.step("fail", title="Fail", description="Always fails with the given kind")
def fail(ctx: StepContext, config: FailConfig) -> None:
    _record(ctx, config.journal, f"run {ctx.idempotency_key}")
    error = {"config": ConfigError, "denied": DeniedError}.get(config.kind, StepError)
    raise error(config.message)


@plugin.step("slow", title="Slow", description="Takes a while; records when it is cancelled")
async def slow(ctx: StepContext, config: SlowConfig) -> dict:
    _record(ctx, config.journal, f"start {ctx.idempotency_key}")
    try:
        await asyncio.sleep(config.seconds)
    except asyncio.CancelledError:
        _record(ctx, config.journal, f"cancelled {ctx.idempotency_key}")
        raise
    _record(ctx, config.journal, f"done {ctx.idempotency_key}")
    return {"slept": config.seconds}


@plugin.step("echo", title="Echo", description="Logs and returns its value", outputs=EchoOutputs)
def echo(ctx: StepContext, config: EchoConfig) -> EchoOutputs:
    ctx.log(f"value is {config.value}")
    return EchoOutputs(value=config.value)


class MisbehaveConfig(BaseModel):
    how: str = Field(description="raise (a plain exception), outputs (not an object), bad-outputs (against "
                                 "the schema) or not-json (outputs JSON cannot hold)")
    value: str = Field(description="Carried by the exception or the outputs")


@plugin.step("misbehave", title="Misbehave", description="A buggy handler: raises or returns what it must not",
             outputs=EchoOutputs)
def misbehave(ctx: StepContext, config: MisbehaveConfig) -> object:
    if config.how == "raise":
        raise RuntimeError(f"handler bug while holding {config.value}")
    if config.how == "outputs":
        return [config.value]
    if config.how == "not-json":
        return {"value": config.value, "extra": {config.value}}
    return {"value": {"nested": config.value}}


plugin.add_template(Template(
    name="testkit-echo", workflow_type="testkit", title="Echo", description="One echo step",
    definition={
        "apiVersion": "vwmp/v1", "kind": "Workflow",
        "metadata": {"name": "testkit-echo", "type": "testkit", "description": "Echoes a value"},
        "spec": {"steps": [{"id": "echo", "uses": "testkit/echo", "with": {"value": "hello"}}]},
    },
))
