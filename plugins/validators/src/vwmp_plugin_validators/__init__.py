"""VWMP validators plugin: branch context, Keep a Changelog lint and custom file rules."""

from vwmp_plugin_validators._steps import plugin

__all__ = ["plugin"]
