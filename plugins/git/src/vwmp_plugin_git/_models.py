"""Config and outputs models of the git steps (ARCHITECTURE §5); their JSON Schemas are the contract."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPO = Field(description="Repository path relative to the workspace root, e.g. 'apps/shop'")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Signing(_Config):
    sign: Literal["none", "gpg", "ssh"] = Field(
        default="none",
        description="Sign with git's own signing: an OpenPGP key (gpg) or an SSH key (gpg.format=ssh); "
        "none also stops a repository's tag.gpgSign/commit.gpgSign",
    )
    signing_key: str | None = Field(
        default=None,
        description="The private key text (armored OpenPGP or OpenSSH, no passphrase), from ${{ secrets.NAME }}",
        json_schema_extra={"writeOnly": True},
    )
    signing_key_file: str | None = Field(
        default=None, description="Or a file holding that key, relative to the workspace root"
    )


class StatusConfig(_Config):
    repo: str = REPO


class StatusOutputs(BaseModel):
    branch: str | None = Field(description="Checked-out branch; null when HEAD is detached")
    head: str | None = Field(description="sha of HEAD; null in a repository without commits")
    clean: bool = Field(description="No staged, unstaged or untracked changes")
    ahead: int = Field(description="Commits on the branch not on its upstream (0 without upstream)")
    behind: int = Field(description="Commits on the upstream not on the branch (0 without upstream)")


class StageConfig(_Config):
    repo: str = REPO
    paths: list[str] = Field(min_length=1, description="Files or folders to stage, relative to the repository")


class StageOutputs(BaseModel):
    staged: list[str] = Field(description="Paths whose changes are staged now (relative to the repository)")


class CommitConfig(_Signing):
    repo: str = REPO
    message: str = Field(min_length=1, description="Commit message")
    paths: list[str] | None = Field(
        default=None,
        description="Stage these paths (added, changed or deleted) and commit only them; "
        "omitted: commit what is staged",
    )
    author_name: str | None = Field(
        default=None, description="Author and committer name (default: platform git.author_name)"
    )
    author_email: str | None = Field(
        default=None, description="Author and committer email (default: platform git.author_email)"
    )


class CommitOutputs(BaseModel):
    sha: str = Field(description="sha of the new commit (or of HEAD when this commit was already made)")


class TagConfig(_Signing):
    repo: str = REPO
    name: str = Field(description="Tag name, e.g. 'v1.2.0' (git ref-format rules, not starting with '-')")
    message: str | None = Field(default=None, description="Annotation message (default: the tag name)")
    ref: str | None = Field(default=None, description="Commit to tag (default: HEAD)")


class TagOutputs(BaseModel):
    name: str = Field(description="The tag name")
    sha: str = Field(description="sha of the tagged commit")


class PushConfig(_Config):
    repo: str = REPO
    remote: str = Field(default="origin", description="Remote name (its URL must use https, ssh, git or file)")
    refs: list[str] | None = Field(
        default=None,
        description="Branches or refs to push (default: the current branch unless only tags are given)",
    )
    tags: list[str] | bool | None = Field(default=None, description="Tag names to push, or true to push every tag")


class PushOutputs(BaseModel):
    pushed: list[str] = Field(description="Full ref names pushed, e.g. 'refs/heads/main', 'refs/tags/v1.2.0'")


class BranchConfig(_Config):
    repo: str = REPO
    name: str = Field(description="Branch name (git ref-format rules, not starting with '-')")
    action: Literal["create", "checkout", "delete"] = Field(description="What to do with the branch")
    start_point: str | None = Field(default=None, description="Commit to create the branch at (default: HEAD)")


class BranchOutputs(BaseModel):
    branch: str = Field(description="The branch name")


class DeleteTagConfig(_Config):
    repo: str = REPO
    name: str = Field(description="Tag to delete, e.g. the name output of the git/tag step it undoes")
    sha: str | None = Field(
        default=None,
        description="Delete it only while it points at this commit (the sha output of that git/tag step); "
        "a tag that was made again at another commit is left alone",
    )
    remote: str | None = Field(
        default="origin",
        description="Also delete it on this remote when it was pushed there (at the same commit); "
        "null: local only. A repository without that remote is local only",
    )


class DeleteTagOutputs(BaseModel):
    deleted_local: bool = Field(description="The local tag was deleted (false: it did not exist)")
    deleted_remote: bool = Field(description="The tag was deleted on the remote (false: it was not pushed there)")


class ResetToConfig(_Config):
    repo: str = REPO
    commit: str = Field(
        description="The commit to undo, e.g. the sha output of the git/commit step: the current branch goes back "
        "to its parent, the commit before the step"
    )
    remote: str = Field(default="origin", description="The remote checked for the commit having been pushed")
    force: bool = Field(
        default=False,
        description="Reset even when the branch was pushed with the commit (only the local branch moves; "
        "nothing is ever force-pushed)",
    )


SHA_PATTERN = r"^[0-9a-fA-F]{4,64}$"


class RevertConfig(_Config):
    repo: str = REPO
    commit: str = Field(
        pattern=SHA_PATTERN,
        description="sha of the commit to revert (full or abbreviated hex, e.g. the sha output of a git/commit "
        "step); it must be on the branch",
    )
    branch: str | None = Field(
        default=None,
        description="The branch the revert commit is made on; it must be checked out (default: the current branch)",
    )
    author_name: str | None = Field(
        default=None, description="Author and committer name (default: platform git.author_name)"
    )
    author_email: str | None = Field(
        default=None, description="Author and committer email (default: platform git.author_email)"
    )


class RevertOutputs(BaseModel):
    commit: str = Field(description="sha of the revert commit (of HEAD when an earlier delivery made it)")
    reverted: str = Field(description="Full sha of the commit that was reverted")


class ResetToOutputs(BaseModel):
    branch: str = Field(description="The branch that was reset")
    head: str = Field(description="sha the branch points at now")
    reset: bool = Field(description="The branch was moved (false: it was already at the commit before)")
