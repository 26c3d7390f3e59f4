"""A dry run's scratch copy: local steps really run there, the originals never change, copies go away."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import BaseModel
from vwmp_sdk import Plugin, StepContext
from vwmp_sdk._scratch import YOUNG_SECONDS, discard, discard_all_but, scratch_base
from vwmp_sdk.testing import StepTester

plugin = Plugin("scratchy", title="Scratch")


class AppendConfig(BaseModel):
    file: str
    text: str


@plugin.step("append", effects="local")
def append(ctx: StepContext, config: AppendConfig) -> dict[str, str]:
    """Appends for real unless planning; plans the same either way."""
    path = ctx.resolve_path(config.file, field="file")
    ctx.plan("append", config.file, diff=f"+{config.text}")
    if ctx.dry_run:
        return {"content": "(planned)"}
    if not path.exists():
        raise ValueError(f"{config.file} does not exist")  # what the real run would say, too
    with path.open("a") as handle:
        handle.write(config.text)
    return {"content": path.read_text()}


@plugin.step("announce")
def announce(ctx: StepContext, config: AppendConfig) -> dict[str, bool]:
    """Undeclared effects: remote, so planned even in the scratch copy."""
    ctx.plan("announce", config.text)
    return {"dry_run": ctx.dry_run, "scratch": ctx.scratch}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    repo = tmp_path / "team" / "shop"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "notes.txt").write_text("v1\n")
    (repo / "untracked.tmp").write_text("kept as it is\n")
    (tmp_path / "team" / "other").mkdir()
    (tmp_path / "team" / "other" / "big.bin").write_bytes(b"x" * 1000)
    return tmp_path


def test_a_local_step_runs_for_real_in_the_copy_and_the_original_is_untouched(workspace: Path) -> None:
    tester = StepTester(plugin, workspace_root=workspace)
    first = tester.run("scratchy/append", {"file": "team/shop/notes.txt", "text": "v2\n"}, dry_run=True,
                       scratch=True, run_id="run-1")
    assert first.ok, first.failure
    assert first.outputs == {"content": "v1\nv2\n",
                             "plan": [{"action": "append", "target": "team/shop/notes.txt", "diff": "+v2\n"}]}
    # The next step of the same run sees what the first one really did.
    second = tester.run("scratchy/append", {"file": "team/shop/notes.txt", "text": "v3\n"}, dry_run=True,
                        scratch=True, run_id="run-1")
    assert second.outputs["content"] == "v1\nv2\nv3\n"
    assert (workspace / "team/shop/notes.txt").read_text() == "v1\n"
    copy = scratch_base(workspace) / "run-1" / "team" / "shop"
    # The whole git work tree holding the path was copied (untracked files and .git too), nothing else.
    assert (copy / "untracked.tmp").read_text() == "kept as it is\n"
    assert (copy / ".git" / "HEAD").exists()
    assert not (scratch_base(workspace) / "run-1" / "team" / "other").exists()


def test_a_step_that_would_fail_fails_in_the_dry_run_with_the_same_error(workspace: Path) -> None:
    tester = StepTester(plugin, workspace_root=workspace)
    config = {"file": "team/shop/missing.txt", "text": "x"}
    real = tester.run("scratchy/append", config, run_id="real")
    dry = tester.run("scratchy/append", config, dry_run=True, scratch=True, run_id="dry")
    assert real.failure is not None and dry.failure is not None
    assert (dry.failure.kind, dry.failure.message) == (real.failure.kind, real.failure.message)


def test_a_remote_step_plans_in_the_copy(workspace: Path) -> None:
    outcome = StepTester(plugin, workspace_root=workspace).run(
        "scratchy/announce", {"file": "x", "text": "hello"}, dry_run=True, scratch=True)
    assert outcome.outputs == {"dry_run": True, "scratch": True, "plan": [{"action": "announce", "target": "hello"}]}


def test_runs_have_their_own_copies_and_hostile_run_ids_stay_inside(workspace: Path) -> None:
    tester = StepTester(plugin, workspace_root=workspace)
    for run_id in ("a", "../../escape"):
        outcome = tester.run("scratchy/append", {"file": "team/shop/notes.txt", "text": run_id},
                             dry_run=True, scratch=True, run_id=run_id)
        assert outcome.outputs["content"] == f"v1\n{run_id}"
    assert sorted(p.name for p in scratch_base(workspace).iterdir()) == ["_.._escape", "a"]
    assert not (workspace.parent / "escape").exists()


def test_paths_are_checked_before_anything_is_copied(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (workspace / "link").symlink_to(outside)
    tester = StepTester(plugin, workspace_root=workspace)
    for path in ("link/file.txt", "../x.txt", ".vwmp/scratch/other/notes.txt"):
        outcome = tester.run("scratchy/append", {"file": path, "text": "x"}, dry_run=True, scratch=True)
        assert outcome.failure is not None and outcome.failure.kind == "denied", path
        assert outcome.failure.message.startswith("file: ")
    assert not (scratch_base(workspace) / "test-run" / "link").exists()


def test_a_linked_worktree_is_refused_rather_than_shared(workspace: Path) -> None:
    tree = workspace / "linked"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {workspace}/team/shop/.git/worktrees/linked\n")
    (tree / "notes.txt").write_text("x")
    outcome = StepTester(plugin, workspace_root=workspace).run(
        "scratchy/append", {"file": "linked/notes.txt", "text": "y"}, dry_run=True, scratch=True)
    assert outcome.failure is not None and outcome.failure.kind == "config"
    assert "linked worktree" in outcome.failure.message


def test_discard_removes_one_runs_copy_and_the_sweep_keeps_live_and_young_ones(workspace: Path) -> None:
    base = scratch_base(workspace)
    for run_id in ("done", "live", "crashed", "just-started"):
        (base / run_id).mkdir(parents=True)
    old = time.time() - YOUNG_SECONDS - 5
    for run_id in ("done", "live", "crashed"):
        os.utime(base / run_id, (old, old))
    assert discard(workspace, ["done", "never-there"]) == ["done"]
    assert discard_all_but(workspace, ["live"]) == ["crashed"]
    assert sorted(p.name for p in base.iterdir()) == ["just-started", "live"]


def test_effects_are_declared_and_checked() -> None:
    assert plugin.steps["append"].effects == "local"
    assert plugin.steps["announce"].effects == "remote"
    other = Plugin("bad")
    with pytest.raises(ValueError, match="effects must be one of local, remote, none"):
        other.step("x", effects="sometimes")(lambda ctx: None)  # type: ignore[arg-type]
