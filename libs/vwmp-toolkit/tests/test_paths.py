"""repo_dir and in_repo: the SDK's workspace check, with the repository as root and `.git` off limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk import DeniedError, StepContext
from vwmp_toolkit.paths import in_repo, rel, repo_dir


def test_files_inside_the_repository_resolve(ctx: StepContext, repo: tuple[Path, Path]) -> None:
    root = repo_dir(ctx, "app")
    assert rel(root, in_repo(root, "docs/a.md", field="file")) == "docs/a.md"
    assert rel(root, in_repo(root, ".", field="paths/0")) == "."


@pytest.mark.parametrize("hostile", ["../README.md", "/etc/passwd", ".git/config", "git-link/config", "out/x", ""])
def test_hostile_files_are_denied_naming_the_field(
    ctx: StepContext, repo: tuple[Path, Path], tmp_path: Path, hostile: str
) -> None:
    work, _ = repo
    (work / "git-link").symlink_to(work / ".git")
    (work / "out").symlink_to(tmp_path)
    with pytest.raises(DeniedError, match=r"^files/2: "):
        in_repo(repo_dir(ctx, "app"), hostile, field="files/2")
