"""Checks the release steps share with other plugins (version strings, release dates)."""

from vwmp_plugin_release._steps import checked_version, release_date

__all__ = ["checked_version", "release_date"]
