"""`vwmp_sdk.resolve_in_workspace`: the one check every plugin uses for user-given paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk import DeniedError, resolve_in_workspace


@pytest.mark.parametrize(
    ("hostile", "why"),
    [
        ("", "empty"),
        ("../x", "'..'"),
        ("a/../b", "'..'"),
        ("a\\..\\b", "'..'"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("C:\\Windows", "absolute"),
        ("C:x", "absolute"),
        ("a\x00b", "NUL"),
    ],
)
def test_hostile_paths_are_denied_naming_the_field(tmp_path: Path, hostile: str, why: str) -> None:
    with pytest.raises(DeniedError, match=why) as raised:
        resolve_in_workspace(tmp_path, hostile, field="files/0")
    assert raised.value.message.startswith("files/0: ")


def test_symlink_out_of_the_root_is_denied_and_inside_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "repo").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "alias").symlink_to(root / "repo")
    with pytest.raises(DeniedError, match="symlink escape"):
        resolve_in_workspace(root, "out/secret", field="repo")
    assert resolve_in_workspace(root, "alias") == (root / "repo").resolve()
    assert resolve_in_workspace(root, ".") == root.resolve()


def test_forbidden_entries_are_denied_by_name_and_through_symlinks(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "config-link").symlink_to(tmp_path / ".git")
    for path in (".git/config", "config-link/config", ".git"):
        with pytest.raises(DeniedError, match=r"\.git"):
            resolve_in_workspace(tmp_path, path, field="file", forbid=[".git"])
    assert resolve_in_workspace(tmp_path, ".gitignore", forbid=[".git"]) == tmp_path.resolve() / ".gitignore"
