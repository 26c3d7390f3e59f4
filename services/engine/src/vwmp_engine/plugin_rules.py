"""A plugin's own config rules, checked when a workflow is validated or saved.

The JSON Schema a host announces cannot carry every rule of a step's config model (pydantic model
and field validators: "minor needs major", "one of a or b"). So the engine asks a live host offering
the type (`PluginService.ValidateConfig`) and reports its answer at the step's `with` pointer: the
designer, `vwmp validate` and `vwmp apply` show such a mistake before a run does. A config holding an
expression is left to run time (its value is unknown until then), and a host that does not answer in
time is skipped: the schema check has run already, and the handler checks again when it runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from vwmp_common.clients import PluginStub
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_proto.plugin.v1 import plugin_pb2

from vwmp_engine import expressions
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.validation import with_step_defaults

log = logging.getLogger(__name__)

ASK_TIMEOUT_SECONDS = 2.0
HostsFor = Callable[[str], list[tuple[str, PluginStub]]]


async def plugin_rule_problems(
    definition: Any, hosts_for: HostsFor, step_defaults: dict[str, Any], known: list[Problem]
) -> list[Problem]:
    """The problems live hosts report for plugin steps whose config has none yet (`known`)."""
    asks = [_ask(where, uses, config, hosts_for) for where, uses, config in _plugin_steps(definition, step_defaults)
            if not any(p.pointer.startswith(pointer(*where[:-1]) + "/") for p in known)]
    answers = await asyncio.gather(*asks)
    return [problem for answer in answers for problem in answer]


PluginStep = tuple[tuple[object, ...], str, dict[str, Any]]  # where its `with` is, its type, its config


def _plugin_steps(definition: Any, step_defaults: dict[str, Any]) -> Iterator[PluginStep]:
    spec = definition.get("spec") if isinstance(definition, dict) else None
    if not isinstance(spec, dict):
        return
    for section in ("steps", "finally"):
        steps = spec.get(section)
        if not isinstance(steps, list):
            continue
        for index, step in enumerate(steps):
            uses = step.get("uses") if isinstance(step, dict) else None
            config = step.get("with", {}) if isinstance(step, dict) else None
            if not isinstance(uses, str) or uses in CORE_STEP_TYPES or not isinstance(config, dict):
                continue
            merged = with_step_defaults(uses, config, step_defaults)
            if not expressions.contains_expression(merged):
                yield ("spec", section, index, "with"), uses, merged


async def _ask(where: tuple[object, ...], uses: str, config: dict[str, Any], hosts_for: HostsFor) -> list[Problem]:
    hosts = hosts_for(uses)
    if not hosts:
        return []  # no live host: the schema check already said "unknown step type"
    host_id, client = hosts[0]
    request = plugin_pb2.ValidateConfigRequest(type=uses, config_json=json.dumps(config))
    try:
        answer = await client.ValidateConfig(request, timeout=ASK_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        log.info("plugin host %s did not check %s (%s); its rules run when the step does",
                 host_id, uses, error.code().name)
        return []
    base = pointer(*where)
    return [Problem(base + error.pointer, error.message) for error in answer.errors]
