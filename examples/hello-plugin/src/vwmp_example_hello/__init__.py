"""Example VWMP plugin: a greeting step with a dry-run plan, and a no-op step."""

from pydantic import BaseModel, Field
from vwmp_common.icons import glyph
from vwmp_sdk import Plugin, StepContext

plugin = Plugin("hello", title="Hello", description="Example steps written with the VWMP SDK",
                icon=glyph("M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z", "#d97706"))


class GreetConfig(BaseModel):
    name: str = Field(min_length=1, description="Who to greet")


class GreetOutputs(BaseModel):
    greeting: str = Field(description="The greeting text")


@plugin.step("greet", effects="none", title="Greet", description="Say hello to someone")
def greet(ctx: StepContext, config: GreetConfig) -> GreetOutputs:
    ctx.log(f"greeting {config.name}")
    ctx.plan("greet", config.name)  # a dry run returns it as outputs.plan; a real run ignores it
    return GreetOutputs(greeting=f"Hello, {config.name}!")


@plugin.step("noop", effects="none", title="No-op", description="Does nothing; measures the plugin round trip")
async def noop(ctx: StepContext) -> None:
    return None
