"""VWMP git plugin: status, stage, commit, tag, push and branch steps on hardened git.

The `plugin` object is the `vwmp.plugins` entry point. The hardened git runner, the ref checks and
the repository path helpers live in `vwmp_toolkit`, shared with the other plugins.
"""

from vwmp_plugin_git._steps import identity_of, plugin

__all__ = ["identity_of", "plugin"]
