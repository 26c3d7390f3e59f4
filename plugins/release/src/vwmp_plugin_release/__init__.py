"""VWMP release plugin: `release/version-bump`, `release/changelog` and the release workflow templates.

The pure modules (`semver`, `version_files`, `changelog`, `edits`) are public: the project and
validators plugins reuse them.
"""

from vwmp_plugin_release._steps import plugin
from vwmp_plugin_release.templates import TEMPLATES

for _template in TEMPLATES:
    plugin.add_template(_template)

__all__ = ["TEMPLATES", "plugin"]
