"""Running one step attempt: validate config, call the handler (async task or thread), check outputs.

Shared by the plugin server and `vwmp_sdk.testing`, so a test sees exactly what the engine sees.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import Executor
from typing import Any

from vwmp_sdk._context import StepContext
from vwmp_sdk._plugin import StepDefinition


async def execute_step(
    definition: StepDefinition, config: Any, ctx: StepContext, executor: Executor | None = None
) -> dict[str, Any]:
    """Run one attempt and return its outputs JSON.

    Cancelling the awaiting task cancels an async handler and marks the context of a sync handler
    cancelled (its `ctx.run` child is killed; the thread ends when the handler returns).

    Raises:
        ConfigError: invalid config.
        StepError: the handler failed or returned outputs that do not match the schema.
        Exception: whatever else the handler raised.
    """
    model = definition.parse_config(config)
    args: tuple[Any, ...] = (ctx,) if definition.config_model is None else (ctx, model)
    if definition.is_async:
        result = await definition.handler(*args)
    else:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, definition.handler, *args)
        future = loop.run_in_executor(executor, call)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            ctx.cancel()
            future.add_done_callback(_consume)
            raise
    return definition.dump_outputs(result, ctx.planned if ctx.dry_run else None)


def _consume(future: asyncio.Future[Any]) -> None:
    # The step is gone; an error raised by its thread afterwards is expected and uninteresting.
    if not future.cancelled():
        future.exception()
