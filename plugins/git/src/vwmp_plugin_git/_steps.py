"""Handlers of the git steps. Each honours `ctx.dry_run`: it records its plan and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vwmp_common.icons import glyph
from vwmp_sdk import ConfigError, DeniedError, Plugin, StepContext, StepError
from vwmp_toolkit.git import NETWORK_TIMEOUT, SafeGit, open_git, receive_pack_option
from vwmp_toolkit.paths import in_repo, rel, repo_dir
from vwmp_toolkit.refs import check_ref_name, check_remote_name, check_remote_url, check_revision, redact_url

from vwmp_plugin_git._models import (
    SHA_PATTERN,
    BranchConfig,
    BranchOutputs,
    CommitConfig,
    CommitOutputs,
    DeleteTagConfig,
    DeleteTagOutputs,
    PushConfig,
    PushOutputs,
    ResetToConfig,
    ResetToOutputs,
    RevertConfig,
    RevertOutputs,
    StageConfig,
    StageOutputs,
    StatusConfig,
    StatusOutputs,
    TagConfig,
    TagOutputs,
)
from vwmp_plugin_git._signing import SigningGit, signer

plugin = Plugin("git", title="Git", description="Git operations on repositories inside the workspace",
                icon=glyph("M6 3v12M18 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6z"
                           "M6 21a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM18 9a9 9 0 0 1-9 9", "#e24329"))


@plugin.step(
    "status", title="Git status", description="Branch, HEAD, clean tree, ahead/behind upstream",
    effects="none",
)
def status(ctx: StepContext, config: StatusConfig) -> StatusOutputs:
    """Read-only, so a dry run does the same work and returns an empty plan."""
    git = open_git(ctx, config.repo)
    fields: dict[str, Any] = {"branch": None, "head": None, "ahead": 0, "behind": 0}
    lines = git.run("status", "--porcelain=v2", "--branch", "--untracked-files=all").stdout.splitlines()
    clean = True
    for line in lines:
        if line.startswith("# branch.oid "):
            oid = line.split()[2]
            fields["head"] = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            fields["branch"] = None if head == "(detached)" else head
        elif line.startswith("# branch.ab "):
            ahead, behind = line.split()[2:4]
            fields["ahead"], fields["behind"] = int(ahead), -int(behind)
        elif line.strip() and not line.startswith("#"):
            clean = False
    return StatusOutputs(clean=clean, **fields)


def _repo_paths(git: SafeGit, paths: list[str]) -> list[str]:
    return [rel(git.repo_dir, in_repo(git.repo_dir, p, field=f"paths/{i}")) or "." for i, p in enumerate(paths)]


def _changed(git: SafeGit, paths: list[str]) -> list[str]:
    """Paths (under `paths`) with staged, unstaged or untracked changes."""
    text = git.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths).stdout
    entries = text.split("\0")
    changed: list[str] = []
    skip = False
    for entry in entries:
        if skip:
            skip = False
            continue
        if len(entry) > 3:
            changed.append(entry[3:])
            skip = entry[0] in "RC"  # renames carry the old name as the next entry
    return changed


def _staged(git: SafeGit, paths: list[str]) -> list[str]:
    """Paths whose staged content differs from HEAD (against the empty tree before the first commit)."""
    return [p for p in git.run("diff", "--cached", "--name-only", "-z", "--", *paths).stdout.split("\0") if p]


@plugin.step(
    "stage", title="Stage changes", description="git add (including deletions) of paths in the repo",
    effects="local",
)
def stage(ctx: StepContext, config: StageConfig) -> StageOutputs:
    """Stages with literal pathspecs, so `:(magic)` or globs in a path are just file names."""
    git = open_git(ctx, config.repo)
    paths = _repo_paths(git, config.paths)
    if ctx.dry_run:
        would = _changed(git, paths)
        for path in would:
            ctx.plan("stage", path)
        return StageOutputs(staged=would)
    git.run("add", "--all", "--", *paths)
    staged = _staged(git, paths)
    for path in staged:  # a dry run's scratch copy returns these as its plan
        ctx.plan("stage", path)
    ctx.log(f"staged {len(staged)} path(s)")
    return StageOutputs(staged=staged)


FALLBACK_IDENTITY = ("VWMP", "vwmp@localhost")
"""Who commits when neither the step, the platform config nor the repository says (git would refuse)."""


def identity_of(ctx: StepContext, name: str | None, email: str | None, root: Path) -> tuple[str, str]:
    """Author and committer: the step's config, else the platform's `git.author_name/author_email`, else the
    repository's own `user.name`/`user.email` (its .git/config or the user's global one), else VWMP."""
    defaults = ctx.platform_config.get("git") or {}
    name = name or defaults.get("author_name")
    email = email or defaults.get("author_email")
    if not name or not email:
        git = SafeGit(root, run=ctx.run)
        name = name or git.run("config", "--get", "user.name", check=False).stdout.strip() or FALLBACK_IDENTITY[0]
        email = email or git.run("config", "--get", "user.email", check=False).stdout.strip() or FALLBACK_IDENTITY[1]
    for field, value in (("author_name", name), ("author_email", email)):
        if any(c in value for c in "<>\n\r\0"):
            raise ConfigError(f"{field} {value!r} must not contain '<', '>' or line breaks")
    return str(name), str(email)


@plugin.step("commit", effects="local", title="Commit", description="Commit staged changes (or the given paths)")
def commit(ctx: StepContext, config: CommitConfig) -> CommitOutputs:
    """Idempotent: nothing left to commit and HEAD already carrying this message returns HEAD."""
    root = repo_dir(ctx, config.repo)
    identity = identity_of(ctx, config.author_name, config.author_email, root)
    with signer(ctx, config.sign, config.signing_key, config.signing_key_file) as sig:
        return _commit(ctx, config, SigningGit(root, ctx.run, identity, sig))


def _commit(ctx: StepContext, config: CommitConfig, git: SigningGit) -> CommitOutputs:
    paths = _repo_paths(git, config.paths) if config.paths else None
    branch = git.current_branch() or "HEAD"
    signed = config.sign != "none"
    if ctx.dry_run:
        files = _changed(git, paths) if paths else _staged(git, [])
        diff = git.run("diff", "HEAD", "--stat", "--", *(paths or [])).stdout if git.head() and paths else None
        ctx.plan(
            "commit",
            branch,
            diff=f"message: {config.message}\nfiles: {', '.join(files) or '(changes of earlier steps)'}"
            + f"\n{git.signer.describe()}"
            + (f"\n{diff}" if diff else ""),
        )
        return CommitOutputs(sha=git.head() or "")
    head = git.head()
    if (made := _made_by_earlier_delivery(ctx, config, git, head)) is not None:
        ctx.log(f"commit {made[:12]} was made by an earlier delivery of this step; not committing again")
        return CommitOutputs(sha=made)
    ctx.save_progress(parent=head or "")
    if paths:
        git.run("add", "--all", "--", *paths)
    if not _staged(git, paths or []):
        head = git.head()
        last = git.out("log", "-1", "--format=%B") if head else ""
        if head and last.strip() == config.message.strip():
            ctx.log(f"nothing to commit; HEAD {head[:12]} already has this message (retry of a done commit)")
            return CommitOutputs(sha=head)
        raise StepError("nothing to commit: no staged changes" + (f" under {', '.join(paths)}" if paths else ""))
    args = ["commit", "--no-verify", "--gpg-sign" if signed else "--no-gpg-sign", "-m", config.message]
    if paths:
        args += ["--only", "--", *paths]
    committed = _staged(git, paths or [])
    git.run(*args)
    sha = git.head() or ""
    tree = git.out("rev-parse", f"{sha}^{{tree}}").strip()
    # A dry run's scratch copy returns this as its plan: the commit really made there, tree and files.
    ctx.plan("commit", branch, diff=f"commit {sha} (tree {tree})\nmessage: {config.message}\n"
             f"files: {', '.join(committed)}\n{git.signer.describe()}\n"
             + git.run("show", "--stat", "--format=", sha).stdout)
    ctx.log(f"committed {sha[:12]} on {branch}, {git.signer.describe()}")
    return CommitOutputs(sha=sha)


def _made_by_earlier_delivery(ctx: StepContext, config: CommitConfig, git: SigningGit, head: str | None) -> str | None:
    """HEAD, when an earlier delivery of this key made it: its parent is the HEAD that delivery started on."""
    if "parent" not in ctx.progress or head is None:
        return None
    parent = str(ctx.progress["parent"])
    parents = git.out("log", "-1", "--format=%P", head).split()
    if head == parent or (parents[:1] != [parent] if parent else parents != []):
        return None
    return head if git.out("log", "-1", "--format=%B", head).strip() == config.message.strip() else None


def _has_signature(raw_object: str) -> bool:
    return "-----BEGIN PGP SIGNATURE-----" in raw_object or "-----BEGIN SSH SIGNATURE-----" in raw_object


@plugin.step(
    "tag", title="Create tag", description="Annotated tag; already at the same commit is success",
    effects="local",
)
def tag(ctx: StepContext, config: TagConfig) -> TagOutputs:
    """Idempotent for retries: the tag at the same commit is success, at another commit an error."""
    name = check_ref_name(config.name, what="tag name")
    rev = check_revision(config.ref, what="ref") if config.ref else "HEAD"
    root = repo_dir(ctx, config.repo)
    identity = identity_of(ctx, None, None, root)
    with signer(ctx, config.sign, config.signing_key, config.signing_key_file) as sig:
        return _tag(ctx, config, name, rev, SigningGit(root, ctx.run, identity, sig))


def _tag(ctx: StepContext, config: TagConfig, name: str, rev: str, git: SigningGit) -> TagOutputs:
    signed = config.sign != "none"
    sha = git.commit_of(rev)
    if sha is None and not ctx.dry_run:
        raise ConfigError(f"ref {rev!r} does not name a commit")
    existing = git.commit_of(f"refs/tags/{name}")
    if existing is not None and sha is not None and existing != sha:
        raise ConfigError(
            f"tag {name!r} already exists at {existing[:12]}, not at {sha[:12]} ({rev}); "
            "delete it or choose another name"
        )
    if ctx.dry_run:
        # A dry run changes nothing, so commits that earlier steps would make do not exist yet:
        # say what the ref is now and that the real run resolves it when this step runs.
        now = f"now {sha[:12]}" if sha else "not a commit yet"
        target = f"{rev} at the time this step runs ({now})"
        action = "keep tag (already there)" if existing else "create tag"
        ctx.plan(action, name, diff=f"tag {name} -> {target}, {git.signer.describe()}\n{config.message or name}")
        return TagOutputs(name=name, sha=sha or "")
    assert sha is not None
    if existing == sha:
        has = _has_signature(git.run("cat-file", "-p", f"refs/tags/{name}", check=False).stdout)
        if signed and not has:
            raise ConfigError(f"tag {name!r} already exists at {sha[:12]} without a signature; delete it to sign it")
        ctx.plan("keep tag (already there)", name, diff=f"tag {name} -> {sha}")
        ctx.log(f"tag {name} already points at {sha[:12]}")
        return TagOutputs(name=name, sha=sha)
    git.run("tag", "--sign" if signed else "--no-sign", "--annotate", "-m", config.message or name, "--", name, sha)
    ctx.plan("create tag", name, diff=f"tag {name} -> {sha}, {git.signer.describe()}\n{config.message or name}")
    ctx.log(f"tagged {sha[:12]} as {name}, {git.signer.describe()}")
    return TagOutputs(name=name, sha=sha)


def _checked_remote(git: SafeGit, remote: str) -> list[str]:
    check_remote_name(remote)
    urls = git.remote_urls(remote)
    if not urls:
        raise ConfigError(f"remote {remote!r} is not configured in this repository")
    for url in urls:
        check_remote_url(url)
    return urls


def _push_refspecs(git: SafeGit, config: PushConfig, dry_run: bool) -> list[str]:
    refs: list[str] = []
    for ref in config.refs or []:
        if ref.startswith("refs/"):
            refs.append(check_ref_name(ref, what="ref"))
        elif git.commit_of(f"refs/heads/{check_ref_name(ref, what='branch')}") or dry_run:
            refs.append(f"refs/heads/{ref}")
        elif git.commit_of(f"refs/tags/{ref}"):
            refs.append(f"refs/tags/{ref}")
        else:
            raise ConfigError(f"ref {ref!r} is neither a local branch nor a tag")
    tags = config.tags if isinstance(config.tags, list) else []
    refs += [f"refs/tags/{check_ref_name(t, what='tag name')}" for t in tags]
    if config.refs is None and not tags and config.tags is not True:
        branch = git.current_branch()
        if branch is None:
            raise ConfigError("HEAD is detached: give the refs to push")
        refs.insert(0, f"refs/heads/{branch}")
    return refs


PREVIEW_LIMIT = 64 * 1024
"""Characters of `git diff` kept in a push plan item; the approver gets the head of a huge diff."""


def _push_preview(git: SafeGit, remote: str, ref: str, sha: str | None) -> str:
    """What pushing a branch would publish: its commits and their unified diff against `<remote>/<branch>`.

    Compared with the remote-tracking ref as last fetched (a dry run never fetches); empty when there is
    nothing to compare (a tag, a new branch, a commit still to be made, or nothing new). External diff
    drivers and textconv filters of the repository are switched off: only git itself runs.
    """
    if sha is None or not ref.startswith("refs/heads/"):
        return ""
    base = git.commit_of(f"refs/remotes/{remote}/{ref.removeprefix('refs/heads/')}")
    if base is None or base == sha:
        return ""
    commits = git.run("log", "--no-color", "--format=  %h %s", f"{base}..{sha}").stdout.rstrip()
    diff = git.run("diff", "--no-color", "--no-ext-diff", "--no-textconv", base, sha).stdout
    if len(diff) > PREVIEW_LIMIT:
        diff = diff[:PREVIEW_LIMIT] + f"\n... (diff truncated at {PREVIEW_LIMIT} characters)\n"
    return f"\ncommits not yet on {remote}/{ref.removeprefix('refs/heads/')} (as last fetched):\n{commits}\n{diff}"


def _remote_refs(git: SafeGit, remote: str, refs: list[str]) -> dict[str, str]:
    """The remote's current commit of each ref (read-only `git ls-remote`), so a plan changes when the remote moves.

    An approval is pinned to the plan's digest: a commit pushed to the remote after the plan was shown
    changes this state and so the digest. A remote that cannot be asked is said so in every item.
    """
    if not refs:
        return {}
    listed = git.run("ls-remote", "--end-of-options", remote, *refs, timeout=NETWORK_TIMEOUT, check=False)
    if listed.returncode != 0:
        reason = (listed.stderr.strip().splitlines() or ["git ls-remote failed"])[-1]
        return dict.fromkeys(refs, f"(unknown: {reason})")
    wanted = set(refs)
    found: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        sha, _, name = line.partition("\t")
        if name in wanted:
            found[name] = sha
    return found


def _push_refusal(porcelain: str, stderr: str, remote: str, urls: list[str]) -> str:
    """What a failed push did, ref by ref, from `git push --porcelain` (git's own last line names no ref).

    The push is atomic: when the remote refuses one ref it takes none, so the message names the refs
    it refused and the ones held back with them. Never includes the remote URL.
    """
    refused, held_back, taken = [], [], []
    for line in porcelain.splitlines():
        flag, _, rest = line.partition("\t")
        ref, _, summary = rest.partition("\t")
        name = ref.partition(":")[2] or ref
        if flag == "!" and "atomic push failed" in summary:
            held_back.append(name)
        elif flag == "!":
            refused.append(f"{name} {summary}".strip())
        elif flag in ("*", " ", "="):
            taken.append(name)
    if not refused:
        lines = [line for line in stderr.strip().splitlines() if not line.startswith(("hint:", "To "))]
        detail = lines[-1] if lines else "no refs pushed"
        for url in urls:
            detail = detail.replace(url, redact_url(url))
        return f"git push failed: {detail}"
    message = f"{remote} refused {', '.join(refused)}"
    if any("fetch first" in item or "non-fast-forward" in item for item in refused):
        message += " (the remote has commits this repository does not; pushes are never forced)"
    if held_back:
        message += f"; nothing was pushed (atomic push), held back: {', '.join(held_back)}"
    return f"git push failed: {message}" + (f"; pushed anyway: {', '.join(taken)}" if taken else "")


@plugin.step("push", effects="remote", title="Push", description="Push branches and tags to a remote (never forced)")
def push(ctx: StepContext, config: PushConfig) -> PushOutputs:
    """Never forces; the remote's URL must pass the protocol allow-list before git sees it."""
    git = open_git(ctx, config.repo)
    urls = _checked_remote(git, config.remote)
    refs = _push_refspecs(git, config, ctx.dry_run)
    all_tags = config.tags is True
    if not refs and not all_tags:
        raise ConfigError("nothing to push: give refs or tags")
    where = f"{config.remote} ({redact_url(urls[-1])})"
    if ctx.dry_run and ctx.scratch:
        # A dry run's scratch copy holds the commits and tags the earlier steps really made: ask the
        # remote whether it would take them (`--dry-run` writes nothing there) and fail as the push would.
        _push(git, config, refs, urls, all_tags, dry_run=True)
    if ctx.dry_run:
        remote_now = _remote_refs(git, config.remote, refs)
        for ref in refs:
            sha = git.commit_of(ref)
            ctx.plan(
                "push",
                f"{config.remote} {ref}",
                diff=f"{ref} -> {where} at {sha or '(created by an earlier step)'}"
                + f"\n{config.remote} has {ref} now: {remote_now.get(ref, '(absent)')}"
                + _push_preview(git, config.remote, ref, sha),
            )
        if all_tags:
            ctx.plan("push", f"{config.remote} refs/tags/*", diff=f"every tag -> {where}")
        return PushOutputs(pushed=refs)
    _push(git, config, refs, urls, all_tags, dry_run=False)
    pushed = list(refs)
    if all_tags:
        pushed += [f"refs/tags/{t}" for t in git.out("tag", "--list").splitlines() if t]
    ctx.log(f"pushed {', '.join(pushed)} to {where}")
    return PushOutputs(pushed=pushed)


def _push(git: SafeGit, config: PushConfig, refs: list[str], urls: list[str], all_tags: bool, *, dry_run: bool) -> None:
    """`git push --atomic` of the refs (with `dry_run`, `--dry-run`: the remote is asked, nothing is written)."""
    for ref in refs:
        if git.commit_of(ref) is None:
            raise ConfigError(f"{ref} does not exist locally")
    # --atomic: a release's branch and tag land together or not at all
    args = ["push", receive_pack_option(urls), "--porcelain", "--atomic", "--no-verify"]
    if dry_run:
        args.append("--dry-run")
    if all_tags:
        args.append("--tags")
    done = git.run(*args, "--", config.remote, *[f"{r}:{r}" for r in refs], timeout=NETWORK_TIMEOUT, check=False)
    if done.returncode != 0:
        raise StepError(_push_refusal(done.stdout, done.stderr, config.remote, urls))


@plugin.step("branch", effects="local", title="Branch", description="Create, check out or delete a branch")
def branch(ctx: StepContext, config: BranchConfig) -> BranchOutputs:
    """Create is idempotent at the same start point; delete of a missing branch is success."""
    name = check_ref_name(config.name, what="branch name")
    start = check_revision(config.start_point, what="start_point") if config.start_point else "HEAD"
    git = open_git(ctx, config.repo)
    existing = git.commit_of(f"refs/heads/{name}")
    if config.action == "create":
        sha = git.commit_of(start)
        if sha is None:
            raise ConfigError(f"start_point {start!r} does not name a commit")
        if existing and existing != sha:
            raise ConfigError(f"branch {name!r} already exists at {existing[:12]}, not at {sha[:12]}")
        ctx.plan("keep branch" if existing else "create branch", name, diff=f"{name} -> {sha}")
        if not ctx.dry_run and not existing:
            git.run("branch", "--no-track", "--", name, sha)
    elif config.action == "checkout":
        if existing is None:
            raise ConfigError(f"branch {name!r} does not exist")
        ctx.plan("checkout branch", name)
        if not ctx.dry_run:
            git.run("switch", "--no-guess", "--end-of-options", name)
    else:
        if existing is not None and git.current_branch() == name:
            raise DeniedError(f"branch {name!r} is checked out; switch to another branch first")
        ctx.plan("delete branch" if existing else "nothing (no such branch)", name)
        if not ctx.dry_run and existing:
            git.run("branch", "--delete", "--", name)
    if not ctx.dry_run:
        ctx.log(f"{config.action} {name}: done")
    return BranchOutputs(branch=name)


def _remote_sha(git: SafeGit, remote: str, ref: str) -> str | None:
    """The commit `ref` names on the remote now (a tag peeled to its commit), None when it has no such ref."""
    listed = git.run("ls-remote", "--end-of-options", remote, ref, f"{ref}^{{}}", timeout=NETWORK_TIMEOUT,
                     check=False)
    if listed.returncode != 0:
        reason = (listed.stderr.strip().splitlines() or ["git ls-remote failed"])[-1]
        raise StepError(f"could not ask {remote} about {ref}: {reason}")
    found: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        sha, _, name = line.partition("\t")
        found[name] = sha
    return found.get(f"{ref}^{{}}") or found.get(ref)


def _usable_remote(git: SafeGit, remote: str | None) -> str | None:
    """The remote to look at, checked; None when none is given or the repository does not have it."""
    if remote is None:
        return None
    check_remote_name(remote)
    urls = git.remote_urls(remote)
    if not urls:
        return None
    for url in urls:
        check_remote_url(url)
    return remote


@plugin.step("delete-tag", title="Delete tag",
             description="Undo git/tag: delete the tag locally, and on the remote when it was pushed there")
def delete_tag(ctx: StepContext, config: DeleteTagConfig) -> DeleteTagOutputs:
    """Idempotent: a tag that is gone already is success. Only a tag at `sha` (when given) is deleted."""
    name = check_ref_name(config.name, what="tag name")
    expected = check_revision(config.sha, what="sha") if config.sha else None
    git = open_git(ctx, config.repo)
    ref = f"refs/tags/{name}"
    local = git.commit_of(ref)
    if expected is not None:
        expected = git.commit_of(expected) or expected
    if local is not None and expected is not None and local != expected:
        raise DeniedError(f"tag {name!r} points at {local[:12]}, not at {expected[:12]}: it was made again "
                          "since; not deleting it")
    target = expected or local
    remote = _usable_remote(git, config.remote)
    on_remote = _remote_sha(git, remote, ref) if remote is not None else None
    delete_remote = on_remote is not None and target is not None and on_remote == target
    if on_remote is not None and not delete_remote:
        ctx.log(f"{remote} has tag {name} at {on_remote[:12]}, not at the tagged commit: leaving it there")
    if ctx.dry_run:
        ctx.plan("delete tag" if local else "nothing (no such tag)", name,
                 diff=f"local: {'delete' if local else 'absent'}; "
                      f"{remote or 'remote'}: {'delete' if delete_remote else 'leave as it is'}")
        return DeleteTagOutputs(deleted_local=local is not None, deleted_remote=delete_remote)
    if delete_remote:
        assert remote is not None
        done = git.run("push", "--porcelain", "--no-verify", "--", remote, f":{ref}", timeout=NETWORK_TIMEOUT,
                       check=False)
        if done.returncode != 0:
            raise StepError(_push_refusal(done.stdout, done.stderr, remote, git.remote_urls(remote)))
        ctx.log(f"deleted tag {name} on {remote}")
    if local is not None:
        git.run("tag", "--delete", "--", name)
        ctx.log(f"deleted tag {name} (was at {local[:12]})")
    else:
        ctx.log(f"tag {name} does not exist here; nothing to delete")
    return DeleteTagOutputs(deleted_local=local is not None, deleted_remote=delete_remote)


@plugin.step("reset-to", title="Reset to before a commit",
             description="Undo git/commit: move the current branch back to the commit's parent "
                         "(refused when the branch was pushed with it, unless force)")
def reset_to(ctx: StepContext, config: ResetToConfig) -> ResetToOutputs:
    """Idempotent: a branch already at the parent is success. Never pushes; `git reset --keep` keeps
    uncommitted changes of other files and refuses to overwrite them."""
    undo = check_revision(config.commit, what="commit")
    git = open_git(ctx, config.repo)
    branch = git.current_branch()
    if branch is None:
        raise ConfigError("HEAD is detached: check out the branch the commit was made on")
    sha = git.commit_of(undo)
    if sha is None:
        raise ConfigError(f"commit {undo!r} does not name a commit")
    parents = git.out("log", "-1", "--format=%P", sha).split()
    if not parents:
        raise ConfigError(f"commit {sha[:12]} is the first commit of the repository: there is nothing before it")
    parent, head = parents[0], git.head()
    if head == parent:
        ctx.log(f"{branch} is at {parent[:12]} already, the commit before {sha[:12]}")
        return ResetToOutputs(branch=branch, head=parent, reset=False)
    if head != sha:
        raise DeniedError(f"{branch} is at {(head or '')[:12]}, not at {sha[:12]}: commits were made after it; "
                          "not resetting")
    remote = _usable_remote(git, config.remote)
    pushed = remote is not None and (on_remote := _remote_sha(git, remote, f"refs/heads/{branch}")) is not None \
        and git.run("merge-base", "--is-ancestor", sha, on_remote, check=False).returncode == 0
    if pushed and not config.force:
        raise DeniedError(f"{branch} was pushed to {remote} with {sha[:12]}: resetting it here would not undo that; "
                          "revert it instead, or set force: true to move only the local branch")
    ctx.plan("reset branch", branch, diff=f"{branch}: {sha[:12]} -> {parent[:12]}"
                                          + (f" (pushed to {remote}: only the local branch moves)" if pushed else ""))
    if ctx.dry_run:
        return ResetToOutputs(branch=branch, head=parent, reset=True)
    git.run("reset", "--keep", parent)
    ctx.log(f"reset {branch} from {sha[:12]} to {parent[:12]}")
    return ResetToOutputs(branch=branch, head=parent, reset=True)


def _hex_sha(value: str) -> str:
    """The step's `commit`: hex digits only (the config schema says so too), never a ref or an option."""
    if not re.fullmatch(SHA_PATTERN, value):
        raise ConfigError(f"commit {value!r} is not a commit sha (4 to 64 hex digits)")
    return value.lower()


@plugin.step("revert", effects="local", title="Revert a commit",
             description="Make a commit that undoes an earlier one (git revert); nothing is rewritten or pushed")
def revert(ctx: StepContext, config: RevertConfig) -> RevertOutputs:
    """Idempotent: HEAD already reverting the commit (an earlier delivery made it) is success.

    A revert that conflicts with later changes is aborted, so the repository is as it was, and fails
    with the conflicting files named; a merge commit is refused (which parent to keep is a person's call).
    """
    wanted = _hex_sha(config.commit)
    expected_branch = check_ref_name(config.branch, what="branch") if config.branch is not None else None
    root = repo_dir(ctx, config.repo)
    git = SafeGit(root, run=ctx.run, identity=identity_of(ctx, config.author_name, config.author_email, root))
    branch = git.current_branch()
    if branch is None:
        raise ConfigError("HEAD is detached: check out the branch to revert on")
    if expected_branch is not None and expected_branch != branch:
        raise ConfigError(f"branch {expected_branch!r} is not checked out (HEAD is on {branch!r}); check it out first")
    sha = git.commit_of(wanted)
    if sha is None or not sha.startswith(wanted):  # a ref that happens to be spelled in hex is not the commit
        raise ConfigError(f"commit {wanted!r} does not name a commit of this repository")
    head = git.head() or ""
    if f"This reverts commit {sha}." in git.out("log", "-1", "--format=%B", head):
        ctx.plan("keep revert (already there)", branch, diff=f"commit {head} reverts {sha}")
        ctx.log(f"HEAD {head[:12]} reverts {sha[:12]} already; not reverting again")
        return RevertOutputs(commit=head, reverted=sha)
    if git.run("merge-base", "--is-ancestor", sha, head, check=False).returncode != 0:
        raise ConfigError(f"commit {sha[:12]} is not on {branch}")
    if len(git.out("log", "-1", "--format=%P", sha).split()) > 1:
        raise ConfigError(f"commit {sha[:12]} is a merge commit; git/revert reverts commits with one parent")
    dirty = [line[3:] for line in git.run("status", "--porcelain=v1", "--untracked-files=no").stdout.splitlines()
             if line.strip()]
    if dirty:
        raise DeniedError(f"uncommitted changes to {', '.join(dirty)}; commit or discard them before a revert")
    subject = git.out("log", "-1", "--format=%s", sha)
    if ctx.dry_run:
        ctx.plan("revert commit", branch, diff=f"revert {sha} ({subject}) on {branch}\n"
                 + git.run("show", "--stat", "--format=", sha).stdout)
        return RevertOutputs(commit=head, reverted=sha)
    # revert.reference (git 2.43+) would word the message so that a redelivery no longer sees its revert
    done = git.run("-c", "revert.reference=false", "revert", "--no-edit", "--no-gpg-sign", "--end-of-options", sha,
                   check=False)
    if done.returncode != 0:
        conflicted = [p for p in git.run("diff", "--name-only", "--diff-filter=U", "-z").stdout.split("\0") if p]
        git.run("revert", "--abort", check=False)
        if conflicted:
            raise DeniedError(f"reverting {sha[:12]} ({subject}) conflicts with later changes to "
                              f"{', '.join(conflicted)}; nothing was changed (the revert was aborted)")
        if git.head() == head and "nothing to commit" in done.stdout + done.stderr:
            raise ConfigError(f"reverting {sha[:12]} ({subject}) changes nothing: its changes are not on {branch} "
                              "any more")
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise StepError(f"git revert failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
    made = git.head() or ""
    # A dry run's scratch copy returns this as its plan: the revert commit really made there.
    ctx.plan("revert commit", branch, diff=f"commit {made} reverts {sha} ({subject})\n"
             + git.run("show", "--stat", "--format=", made).stdout)
    ctx.log(f"reverted {sha[:12]} on {branch} with {made[:12]}")
    return RevertOutputs(commit=made, reverted=sha)
