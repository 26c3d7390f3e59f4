"""SafeGit and open_git on real repositories: the one `git rev-parse` check, hostile folders and arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk import ConfigError, DeniedError, StepContext
from vwmp_testkit.git import git
from vwmp_toolkit.git import SafeGit, open_git
from vwmp_toolkit.refs import check_revision


def test_open_git_reads_the_repository_through_the_step_log(
    ctx: StepContext, repo: tuple[Path, Path], logs: list[tuple[str, str]]
) -> None:
    work, remote = repo
    safe = open_git(ctx, "app")
    assert safe.repo_dir == work.resolve()
    assert safe.head() == git(work, "rev-parse", "HEAD")
    assert safe.current_branch() == "main"
    assert safe.remote_urls("origin") == [str(remote)]
    assert safe.commit_of("refs/tags/nope") is None
    assert ("stdout", safe.head()) in logs  # ctx.run streamed git's output


@pytest.mark.parametrize("hostile", ["../outside", "/etc", "app/../../outside", "link"])
def test_a_repo_outside_the_workspace_is_denied_naming_the_field(
    ctx: StepContext, repo: tuple[Path, Path], tmp_path: Path, hostile: str
) -> None:
    (tmp_path / "outside").mkdir()
    git(tmp_path / "outside", "init", "-q")
    (ctx.workspace_root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(DeniedError, match=r"^repo: "):
        open_git(ctx, hostile)


def test_only_the_top_folder_of_a_work_tree_is_a_repository(ctx: StepContext, repo: tuple[Path, Path]) -> None:
    (ctx.workspace_root / "plain").mkdir()
    git(ctx.workspace_root, "init", "-q", "--bare", "bare.git")
    with pytest.raises(ConfigError, match="not a git repository"):
        open_git(ctx, "plain")
    with pytest.raises(ConfigError, match="not a git repository"):
        open_git(ctx, "app/docs")  # git would find app/.git above it; the ceiling stops it
    for not_a_work_tree in ("bare.git", "app/.git"):
        with pytest.raises(ConfigError, match="not the top folder"):
            open_git(ctx, not_a_work_tree)
    with pytest.raises(ConfigError, match="not a folder"):
        open_git(ctx, "missing")


def test_a_plain_folder_inside_an_enclosing_repository_is_refused(tmp_path: Path, workspace: Path) -> None:
    git(tmp_path, "init", "-q")  # the workspace itself lies inside a work tree
    (workspace / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a git repository"):
        SafeGit((workspace / "plain").resolve())


def test_option_looking_revisions_never_reach_git_as_options(repo: tuple[Path, Path], tmp_path: Path) -> None:
    work, _ = repo
    safe = SafeGit(work.resolve())
    proof = tmp_path / "written"
    assert safe.commit_of(f"--output={proof}") is None  # --end-of-options: a name, not an option
    assert not proof.exists()
    for hostile in ("-d", "--upload-pack=touch x", "HEAD@{1}", "a..b", "a b"):
        with pytest.raises(DeniedError):
            check_revision(hostile)
    assert check_revision("HEAD~1") == "HEAD~1"
