"""Release workflow templates (workflow type `release`), offered through `GET /templates`.

Each runs as it is: branch check → changelog lint → bump → changelog → KB → Kanban → commit → tag →
approval → push. In a dry run every step returns its plan and the approval passes at once; in a real
run the approver sees the version, the changelog diff, the tag and the refs before the push.
"""

from __future__ import annotations

from typing import Any

from vwmp_sdk import Template

VERSION = "${{ steps.bump.outputs.version }}"
TAG = f"v{VERSION}"


def release_definition(
    name: str,
    description: str,
    *,
    allowed: list[str],
    parts: list[str],
    default_part: str,
    files: list[str] | None = None,
) -> dict[str, Any]:
    """A complete release workflow definition; `files` pins the version files (default: detected)."""
    repo = "${{ params.repo }}"
    bump: dict[str, Any] = {"repo": repo, "part": "${{ params.part }}"}
    if files:
        bump["files"] = files
    steps: list[dict[str, Any]] = [
        {
            "id": "branch",
            "uses": "validators/branch-context",
            "with": {"repo": repo, "allowed": allowed, "require_clean": True},
        },
        {"id": "lint", "uses": "validators/changelog-format", "needs": ["branch"], "with": {"repo": repo}},
        {"id": "bump", "uses": "release/version-bump", "needs": ["lint"], "with": bump, "timeout": "60s"},
        {
            "id": "changelog",
            "uses": "release/changelog",
            "needs": ["bump"],
            "with": {"repo": repo, "version": VERSION},
        },
        {
            "id": "kb",
            "uses": "project/kb-update",
            "needs": ["changelog"],
            "with": {"repo": repo, "version": VERSION},
        },
        {
            "id": "kanban",
            "uses": "project/kanban-update",
            "needs": ["changelog"],
            "with": {"repo": repo, "version": VERSION},
        },
        {
            "id": "commit",
            "uses": "git/commit",
            "needs": ["kb", "kanban"],
            "with": {"repo": repo, "message": f"Release {VERSION}", "paths": ["."]},
        },
        {
            "id": "tag",
            "uses": "git/tag",
            "needs": ["commit"],
            "with": {"repo": repo, "name": TAG, "message": f"Release {VERSION}"},
        },
        {
            "id": "approve",
            "uses": "core/approval",
            "needs": ["tag"],
            "with": {"message": f"Push {TAG} to origin?"},
        },
        {
            "id": "push",
            "uses": "git/push",
            "needs": ["approve"],
            "with": {
                "repo": repo,
                "remote": "origin",
                "refs": ["${{ steps.branch.outputs.branch }}"],
                "tags": [TAG],
            },
            "retry": {
                "max_attempts": 3,
                "backoff": "exponential",
                "initial_interval": "2s",
                "max_interval": "30s",
            },
            "timeout": "300s",
        },
    ]
    return {
        "apiVersion": "vwmp/v1",
        "kind": "Workflow",
        "metadata": {"name": name, "type": "release", "description": description},
        "spec": {
            "parameters": {
                "type": "object",
                "required": ["repo", "part"],
                "properties": {
                    "repo": {"type": "string", "description": "Repository path inside the workspace"},
                    "part": {
                        "type": "string",
                        "enum": parts,
                        "default": default_part,
                        "description": "Which part of the version to bump",
                    },
                },
            },
            # A release in progress holds its repository: a second release of the same repository
            # waits until the first one ends (its approval wait included), whatever workflow it uses.
            "concurrency": {"key": f"release:{repo}"},
            "steps": steps,
        },
    }


TEMPLATES = [
    Template(
        name="python-release",
        title="Python release",
        description="Release a Python project: version in pyproject.toml / __version__, changelog, KB, Kanban, "
        "tag and push after approval.",
        workflow_type="release",
        definition=release_definition(
            "python-release",
            "Cut a release of a Python project",
            allowed=["main", "master", "release/*"],
            parts=["major", "minor", "patch", "prerelease"],
            default_part="patch",
        ),
    ),
    Template(
        name="node-release",
        title="Node.js release",
        description="Release a Node.js package: version in package.json, changelog, KB, Kanban, tag and push "
        "after approval.",
        workflow_type="release",
        definition=release_definition(
            "node-release",
            "Cut a release of a Node.js package",
            allowed=["main", "master", "release/*"],
            parts=["major", "minor", "patch", "prerelease"],
            default_part="patch",
            files=["package.json"],
        ),
    ),
    Template(
        name="hotfix",
        title="Hotfix release",
        description="Patch release from a hotfix/* or release/* branch: bump patch, changelog, KB, Kanban, tag "
        "and push after approval.",
        workflow_type="release",
        definition=release_definition(
            "hotfix",
            "Ship a patch release from a hotfix branch",
            allowed=["hotfix/*", "release/*"],
            parts=["patch", "prerelease"],
            default_part="patch",
        ),
    ),
]
