"""VWMP git plugin: status, stage, commit, tag, push and branch steps on hardened git.

The `plugin` object is the `vwmp.plugins` entry point; `SafeGit`, the ref checks and the path
helpers are public so other plugins (validators, release) call git the same safe way.
"""

from vwmp_plugin_git._steps import identity_of, open_git, plugin
from vwmp_plugin_git.paths import in_repo, rel, repo_dir
from vwmp_plugin_git.refs import check_ref_name, check_remote_url, ref_format_problem
from vwmp_plugin_git.safe_git import SafeGit

__all__ = [
    "SafeGit",
    "check_ref_name",
    "check_remote_url",
    "identity_of",
    "in_repo",
    "open_git",
    "plugin",
    "ref_format_problem",
    "rel",
    "repo_dir",
]
