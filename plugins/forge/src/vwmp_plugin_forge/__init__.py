"""VWMP forge plugin: `forge/release` creates or updates the release of a tag on GitHub, GitLab or Gitea.

The `plugin` object is the `vwmp.plugins` entry point.
"""

from vwmp_plugin_forge._release import plugin

__all__ = ["plugin"]
