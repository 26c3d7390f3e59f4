"""VWMP release plugin: commit analysis, version bumps, changelogs, monorepo packages and the release templates.

SemVer, version files, changelogs and file edits live in `vwmp_toolkit`, shared with the project and
validators plugins.
"""

from vwmp_plugin_release._steps import plugin
from vwmp_plugin_release.templates import TEMPLATES

for _template in TEMPLATES:
    plugin.add_template(_template)

__all__ = ["TEMPLATES", "plugin"]
