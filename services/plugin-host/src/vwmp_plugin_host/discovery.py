"""Finding plugins through the `vwmp.plugins` entry points; a broken plugin never stops the host."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from vwmp_sdk import Plugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vwmp.plugins"


def discover_plugins(allowed: set[str] | None = None, group: str = ENTRY_POINT_GROUP) -> list[Plugin]:
    """Load every plugin of the entry point group, keeping only `allowed` names when given.

    A plugin that fails to import, is not a `Plugin`, or repeats a name or step type is logged and
    skipped.
    """
    plugins: list[Plugin] = []
    step_types: set[str] = set()
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        if allowed and entry.name not in allowed:
            continue
        plugin = _load(entry)
        if plugin is None:
            continue
        if allowed and plugin.name not in allowed:
            continue
        clash = {d.type for d in plugin.steps.values()} & step_types
        if any(p.name == plugin.name for p in plugins) or clash:
            log.error(
                "plugin skipped: name or step types already loaded",
                extra={"fields": {"entry_point": entry.value, "plugin": plugin.name, "clash": sorted(clash)}},
            )
            continue
        step_types |= {d.type for d in plugin.steps.values()}
        plugins.append(plugin)
    missing = (allowed or set()) - {p.name for p in plugins}
    if missing:
        log.warning("allowed plugins not found", extra={"fields": {"missing": sorted(missing)}})
    return plugins


def _load(entry: EntryPoint) -> Plugin | None:
    try:
        plugin = entry.load()
    except Exception:
        log.exception("plugin failed to load; skipped", extra={"fields": {"entry_point": entry.value}})
        return None
    if not isinstance(plugin, Plugin):
        log.error(
            "entry point is not a vwmp_sdk.Plugin; skipped",
            extra={"fields": {"entry_point": entry.value, "got": type(plugin).__name__}},
        )
        return None
    return plugin
