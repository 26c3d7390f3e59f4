"""The end of a dry run's scratch copy: the plugin hosts that share the workspace remove it.

A dry run's steps work on `<workspace>/.vwmp/scratch/<run id>` (made by the plugin hosts, see
`vwmp_sdk._scratch`). The engine has no workspace of its own, so it asks the hosts: when a dry run
ends, every live host discards that run's copy; and when the engine first sees a host (a host, or
this engine, started: either may follow a crash), that host discards every copy except those of the
dry runs that have not ended yet. A call that fails is only logged: the next greeting cleans up.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from vwmp_common.clients import PluginStub
from vwmp_proto.plugin.v1 import plugin_pb2

from vwmp_engine.registry import PluginHost, StepTypeRegistry
from vwmp_engine.store import Store

log = logging.getLogger(__name__)
DISCARD_TIMEOUT = 30.0  # removing a large repository's copy takes a while


_pending: set[asyncio.Task[None]] = set()


def discard_later(registry: StepTypeRegistry, run_id: str) -> None:
    """`discard_run_scratch` in the background (a run's end must not wait for file removal)."""
    task = asyncio.get_running_loop().create_task(discard_run_scratch(registry, run_id), name=f"discard-{run_id}")
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def discard_run_scratch(registry: StepTypeRegistry, run_id: str) -> None:
    """Ask every live plugin host to remove the scratch copy of the dry run `run_id`."""
    request = plugin_pb2.DiscardScratchRequest(run_ids=[run_id])
    await asyncio.gather(*(_discard(host, registry.client_of(host), request) for host in registry.live_hosts()))


async def sweep_host_scratch(store: Store, host: PluginHost, client: PluginStub) -> None:
    """Ask a newly seen host to remove every scratch copy but those of the dry runs still going."""
    try:
        keep = await store.live_dry_run_ids()
    except Exception as error:  # storage unreachable: keep everything; the next greeting sweeps
        log.warning("cannot list the live dry runs; scratch copies kept", extra={"fields": {"error": str(error)}})
        return
    await _discard(host, client, plugin_pb2.DiscardScratchRequest(keep_others=True, keep_run_ids=keep))


async def _discard(host: PluginHost, client: PluginStub, request: plugin_pb2.DiscardScratchRequest) -> None:
    try:
        answer = await client.DiscardScratch(request, timeout=DISCARD_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # a host built before scratch copies existed
            log.warning("a plugin host did not discard dry-run scratch copies",
                        extra={"fields": {"host": host.host_id, "code": error.code().name}})
        return
    if answer.discarded:
        log.info("dry-run scratch copies discarded", extra={"fields": {"host": host.host_id,
                                                                       "runs": list(answer.discarded)}})
