"""VWMP plugin SDK: declare step types, serve them to the engine, test them.

Example:
    ```python
    from pydantic import BaseModel
    from vwmp_sdk import Plugin, StepContext

    plugin = Plugin("hello", title="Hello")

    class GreetConfig(BaseModel):
        name: str

    class GreetOutputs(BaseModel):
        greeting: str

    @plugin.step("greet", title="Greet")
    def greet(ctx: StepContext, config: GreetConfig) -> GreetOutputs:
        ctx.log(f"greeting {config.name}")
        ctx.plan("greet", config.name)  # a dry run returns it as outputs.plan
        return GreetOutputs(greeting=f"Hello, {config.name}!")
    ```
"""

from vwmp_common.icons import svg_icon

from vwmp_sdk._context import StepContext
from vwmp_sdk._errors import (
    ConfigError,
    ConfigProblem,
    DeniedError,
    StepCancelledError,
    StepError,
    StepFailureInfo,
)
from vwmp_sdk._paths import resolve_in_workspace
from vwmp_sdk._plugin import PlanItem, Plugin, StepDefinition, Template
from vwmp_sdk._process import CompletedProcess
from vwmp_sdk._server import PluginServer, default_host_id, serve, serve_until_signal

__all__ = [
    "CompletedProcess",
    "ConfigError",
    "ConfigProblem",
    "DeniedError",
    "PlanItem",
    "Plugin",
    "PluginServer",
    "StepCancelledError",
    "StepContext",
    "StepDefinition",
    "StepError",
    "StepFailureInfo",
    "Template",
    "default_host_id",
    "resolve_in_workspace",
    "serve",
    "serve_until_signal",
    "svg_icon",
]

