"""VWMP project plugin: knowledge base pages, Kanban board moves and operator validator scripts."""

from vwmp_plugin_project._steps import plugin

__all__ = ["plugin"]
