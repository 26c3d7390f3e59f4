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


def undo_commit(repo: str) -> dict[str, Any]:
    """The compensation of the release commit: the branch back to the commit before (refused once pushed)."""
    return {"uses": "git/reset-to", "with": {"repo": repo, "commit": "${{ steps.commit.outputs.sha }}"}}


def undo_tag(repo: str) -> dict[str, Any]:
    """The compensation of the release tag: deleted here, and on origin when it was pushed there."""
    return {"uses": "git/delete-tag", "with": {"repo": repo, "name": "${{ steps.tag.outputs.name }}",
                                               "sha": "${{ steps.tag.outputs.sha }}"},
            "retry": {"max_attempts": 3, "initial_interval": "2s"}}


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
            "compensate": undo_commit(repo),
        },
        {
            "id": "tag",
            "uses": "git/tag",
            "needs": ["commit"],
            "with": {"repo": repo, "name": TAG, "message": f"Release {VERSION}"},
            "compensate": undo_tag(repo),
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


NEXT = "${{ steps.analyze.outputs.next_version }}"
NEXT_TAG = f"v{NEXT}"
NOTES = "${{ steps.analyze.outputs.notes }}"


def release_from_commits_definition(
    name: str, description: str, *, allowed: list[str], files: list[str] | None = None
) -> dict[str, Any]:
    """A release whose version and notes come from the commits: analyze → … → signed tag → gate → push → forge.

    The secrets `FORGE_TOKEN` (the forge's API token) and `RELEASE_SIGNING_KEY` (the private key the
    tag is signed with) are read by the engine (`VWMP_SECRET_<NAME>` or the secrets folder). With no
    releasable commit since the last tag, `part` is `none` and every step after the analysis is skipped.
    """
    repo = "${{ params.repo }}"
    bump: dict[str, Any] = {"repo": repo, "version": NEXT}
    if files:
        bump["files"] = files
    retry = {"max_attempts": 3, "backoff": "exponential", "initial_interval": "2s", "max_interval": "30s"}
    steps: list[dict[str, Any]] = [
        {
            "id": "branch",
            "uses": "validators/branch-context",
            "with": {"repo": repo, "allowed": allowed, "require_clean": True},
        },
        {"id": "analyze", "uses": "release/analyze-commits", "needs": ["branch"], "with": {"repo": repo}},
        {
            "id": "bump",
            "uses": "release/version-bump",
            "needs": ["analyze"],
            "if": "${{ steps.analyze.outputs.part != 'none' }}",
            "with": bump,
            "timeout": "60s",
        },
        {
            "id": "changelog",
            "uses": "release/changelog",
            "needs": ["bump"],
            "with": {"repo": repo, "version": NEXT, "notes": NOTES, "source": "both"},
        },
        {
            "id": "commit",
            "uses": "git/commit",
            "needs": ["changelog"],
            "with": {"repo": repo, "message": f"chore(release): {NEXT}", "paths": ["."]},
            "compensate": undo_commit(repo),
        },
        {
            "id": "tag",
            "uses": "git/tag",
            "needs": ["commit"],
            "with": {
                "repo": repo,
                "name": NEXT_TAG,
                "message": f"Release {NEXT}",
                "sign": "${{ params.sign }}",
                "signing_key": "${{ secrets.RELEASE_SIGNING_KEY }}",
            },
            "compensate": undo_tag(repo),
        },
        {
            "id": "approve",
            "uses": "core/approval",
            "needs": ["tag"],
            "with": {"message": f"Release {NEXT_TAG}: push to origin and publish on ${{{{ params.provider }}}}?"},
        },
        {
            "id": "push",
            "uses": "git/push",
            "needs": ["approve"],
            "with": {
                "repo": repo,
                "remote": "origin",
                "refs": ["${{ steps.branch.outputs.branch }}"],
                "tags": [NEXT_TAG],
            },
            "retry": retry,
            "timeout": "300s",
        },
        {
            "id": "publish",
            "uses": "forge/release",
            "needs": ["push"],
            "with": {
                "provider": "${{ params.provider }}",
                "api_url": "${{ params.api_url }}",
                "repository": "${{ params.repository }}",
                "tag": NEXT_TAG,
                "name": NEXT,
                "notes": NOTES,
                "token": "${{ secrets.FORGE_TOKEN }}",
            },
            "retry": retry,
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
                "required": ["repo", "repository"],
                "properties": {
                    "repo": {"type": "string", "description": "Repository path inside the workspace"},
                    "provider": {
                        "type": "string",
                        "enum": ["github", "gitlab", "gitea"],
                        "default": "github",
                        "description": "The forge the release is published on",
                    },
                    "api_url": {
                        "type": "string",
                        "default": "",
                        "description": "API root of a self-hosted forge (empty: the provider's public API)",
                    },
                    "repository": {
                        "type": "string",
                        "description": "The repository on the forge: owner/name, or the GitLab project path",
                    },
                    "sign": {
                        "type": "string",
                        "enum": ["ssh", "gpg"],
                        "default": "ssh",
                        "description": "How the tag is signed (the key is the secret RELEASE_SIGNING_KEY)",
                    },
                },
            },
            "concurrency": {"key": f"release:{repo}"},
            "steps": steps,
        },
    }


TEMPLATES += [
    Template(
        name="python-release-from-commits",
        title="Python release from commits",
        description="Version and notes from the Conventional Commits since the last tag: bump, changelog, "
        "signed tag, push after approval, release on GitHub, GitLab or Gitea.",
        workflow_type="release",
        definition=release_from_commits_definition(
            "python-release-from-commits",
            "Release a Python project from its commits",
            allowed=["main", "master", "release/*"],
        ),
    ),
    Template(
        name="node-release-from-commits",
        title="Node.js release from commits",
        description="Version and notes from the Conventional Commits since the last tag: package.json, "
        "changelog, signed tag, push after approval, release on GitHub, GitLab or Gitea.",
        workflow_type="release",
        definition=release_from_commits_definition(
            "node-release-from-commits",
            "Release a Node.js package from its commits",
            allowed=["main", "master", "release/*"],
            files=["package.json"],
        ),
    ),
]


def monorepo_release_definition(name: str, description: str, *, allowed: list[str]) -> dict[str, Any]:
    """Release every changed package of a monorepo (and its dependents) with its own version, changelog and tag.

    `packages` lists what releases; each per-package step is a `for_each` over the analyses
    (`steps.analyze.outputs`: `name`, `path`, `next_version`, `notes`, `tag`), so every step sees its
    package; `ranges` brings the dependents' ranges up to the new versions and names every release for
    the commit, the gate and the push. Nothing to release: every step after `packages` is skipped.
    A failure after the commit undoes it: every package tag is deleted, then the commit reset.
    """
    repo = "${{ params.repo }}"
    pattern = "${{ params.tag_pattern }}"
    analyses = "${{ steps.analyze.outputs }}"
    retry = {"max_attempts": 3, "backoff": "exponential", "initial_interval": "2s", "max_interval": "30s"}
    steps: list[dict[str, Any]] = [
        {
            "id": "branch",
            "uses": "validators/branch-context",
            "with": {"repo": repo, "allowed": allowed, "require_clean": True},
        },
        {
            "id": "packages",
            "uses": "release/packages",
            "needs": ["branch"],
            "with": {"repo": repo, "tag_pattern": pattern},
        },
        {
            "id": "analyze",
            "uses": "release/analyze-commits",
            "needs": ["packages"],
            "if": "${{ length(steps.packages.outputs.release) > 0 }}",
            "for_each": "${{ steps.packages.outputs.release }}",
            "with": {
                "repo": repo,
                "path": "${{ item.path }}",
                "name": "${{ item.name }}",
                "tag_pattern": pattern,
                "minimum_part": "patch",
                "initial_version": "${{ item.version }}",
                "updated_dependencies": "${{ item.updated_dependencies }}",
            },
        },
        {
            "id": "bump",
            "uses": "release/version-bump",
            "needs": ["analyze"],
            "for_each": analyses,
            "max_parallel": 1,
            "with": {"repo": repo, "path": "${{ item.path }}", "version": "${{ item.next_version }}"},
            "timeout": "60s",
        },
        {
            "id": "changelog",
            "uses": "release/changelog",
            "needs": ["bump"],
            "for_each": analyses,
            "max_parallel": 1,
            "with": {
                "repo": repo,
                "path": "${{ item.path }}",
                "version": "${{ item.next_version }}",
                "notes": "${{ item.notes }}",
                "create": True,
            },
        },
        {
            "id": "ranges",
            "uses": "release/dependency-ranges",
            "needs": ["changelog"],
            "with": {"repo": repo, "released": analyses, "tag_pattern": pattern},
        },
        {
            "id": "commit",
            "uses": "git/commit",
            "needs": ["ranges"],
            "with": {
                "repo": repo,
                "message": "chore(release): ${{ steps.ranges.outputs.title }}\n\n${{ steps.ranges.outputs.summary }}",
                "paths": ["."],
            },
            "compensate": undo_commit(repo),
        },
        {
            "id": "tag",
            "uses": "git/tag",
            "needs": ["commit"],
            "for_each": analyses,
            "max_parallel": 1,
            "with": {"repo": repo, "name": "${{ item.tag }}", "message": "Release ${{ item.tag }}"},
            "compensate": undo_tag(repo),  # once per package tag: steps.tag.outputs is that item's
        },
        {
            "id": "approve",
            "uses": "core/approval",
            "needs": ["tag"],
            "with": {
                "message": "Release ${{ length(steps.ranges.outputs.tags) }} package(s) and push them to origin? "
                "${{ steps.ranges.outputs.listing }}",
            },
        },
        {
            "id": "push",
            "uses": "git/push",
            "needs": ["approve"],
            "with": {
                "repo": repo,
                "remote": "origin",
                "refs": ["${{ steps.branch.outputs.branch }}"],
                "tags": "${{ steps.ranges.outputs.tags }}",
            },
            "retry": retry,
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
                "required": ["repo"],
                "properties": {
                    "repo": {"type": "string", "description": "Repository path inside the workspace"},
                    "tag_pattern": {
                        "type": "string",
                        "default": "{name}@{version}",
                        "description": "How package tags are named ('{name}', '{version}')",
                    },
                },
            },
            "concurrency": {"key": f"release:{repo}"},
            "steps": steps,
        },
    }


TEMPLATES += [
    Template(
        name="monorepo-release",
        title="Monorepo release",
        description="Release each changed package of a monorepo (pyproject.toml, package.json) and its dependents "
        "in dependency order: its own version, CHANGELOG.md and tag, dependents' ranges updated, one commit, one "
        "approval for all, push.",
        workflow_type="release",
        definition=monorepo_release_definition(
            "monorepo-release",
            "Release the changed packages of a monorepo",
            allowed=["main", "master", "release/*"],
        ),
    ),
]
