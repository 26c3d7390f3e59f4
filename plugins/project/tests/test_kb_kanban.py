"""project/kb-update and project/kanban-update."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_project.kanban import BoardError, move_cards
from vwmp_plugin_project.kb import index_with
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import snapshot


def test_kb_update_writes_page_and_index_and_is_idempotent(tester: StepTester, repo: Path) -> None:
    config = {"repo": "app", "version": "0.5.0", "notes": "Upgrade with `make up`.", "date": "2024-06-02"}
    out = tester.run("project/kb-update", config)
    assert out.ok, out.failure
    assert out.outputs["files"] == ["kb/releases/0.5.0.md", "kb/index.md"]
    page = (repo / "kb/releases/0.5.0.md").read_text()
    assert page.startswith("# Release 0.5.0\n\nReleased: 2024-06-02\n\n## Notes\n\nUpgrade with `make up`.\n")
    assert "- Cards move on release (KAN-7, KAN-12)" in page
    index = (repo / "kb/index.md").read_text()
    assert index == "# Knowledge base\n\n## Releases\n\n- [0.5.0](releases/0.5.0.md) - 2024-06-02\n"
    assert tester.run("project/kb-update", config).ok
    assert (repo / "kb/index.md").read_text() == index
    tester.run("project/kb-update", {**config, "version": "0.6.0"})
    assert (repo / "kb/index.md").read_text().splitlines()[4:6] == [
        "- [0.6.0](releases/0.6.0.md) - 2024-06-02",
        "- [0.5.0](releases/0.5.0.md) - 2024-06-02",
    ]


def test_index_keeps_other_content() -> None:
    text = "# KB\n\nIntro.\n\n## Releases\n\n- [0.1.0](releases/0.1.0.md) - 2024-01-01\n\n## Other\n\nx\n"
    assert index_with(text, "0.2.0", "2024-02-01") == text.replace(
        "\n- [0.1.0]", "\n- [0.2.0](releases/0.2.0.md) - 2024-02-01\n- [0.1.0]"
    )
    assert (
        index_with("# KB\n", "0.1.0", "2024-01-01")
        == "# KB\n\n## Releases\n\n- [0.1.0](releases/0.1.0.md) - 2024-01-01\n"
    )


def test_kanban_moves_named_cards_keeping_comments(tester: StepTester, repo: Path) -> None:
    out = tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0"})
    assert out.ok, out.failure
    assert out.outputs["moved"] == ["KAN-7"]
    board = (repo / "kanban.yaml").read_text()
    assert "# finished work" in board and 'title: "Move cards"' in board
    assert board.index("KAN-8") < board.index("- name: Released") < board.index("KAN-7")
    assert "released_in: 0.5.0" in board
    again = tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0"})
    assert again.ok and again.outputs["moved"] == []


def test_kanban_creates_the_target_column_and_honours_names(tester: StepTester, repo: Path) -> None:
    out = tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0", "to_column": "Shipped"})
    assert out.outputs["moved"] == ["KAN-7"]
    assert "- name: Shipped" in (repo / "kanban.yaml").read_text()


def test_missing_default_board_is_skipped_but_named_board_is_required(tester: StepTester, repo: Path) -> None:
    (repo / "kanban.yaml").unlink()
    assert tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0"}).outputs["moved"] == []
    out = tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0", "board": "board.yaml"})
    assert out.failure is not None and out.failure.kind == "config"


def test_invalid_board_is_a_config_error() -> None:
    with pytest.raises(BoardError):
        move_cards("columns: 3\n", ["KAN-1"], "Done", "Released", "1.0.0")
    with pytest.raises(BoardError):
        move_cards("columns: [\n", ["KAN-1"], "Done", "Released", "1.0.0")


def test_dry_runs_change_nothing(tester: StepTester, repo: Path) -> None:
    before = snapshot(repo)
    kb = tester.run("project/kb-update", {"repo": "app", "version": "0.5.0"}, dry_run=True)
    assert [p["action"] for p in kb.plan] == ["create file", "create file"]
    assert "+# Release 0.5.0" in kb.plan[0]["diff"]
    board = tester.run("project/kanban-update", {"repo": "app", "version": "0.5.0"}, dry_run=True)
    assert board.outputs["moved"] == ["KAN-7"] and "+        released_in: 0.5.0" in board.plan[0]["diff"]
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("step", "config"),
    [
        ("project/kb-update", {"repo": "../outside", "version": "1.0.0"}),
        ("project/kb-update", {"repo": "app", "version": "1.0.0", "kb_dir": "../../outside"}),
        ("project/kb-update", {"repo": "app", "version": "1.0.0", "kb_dir": "/tmp/kb"}),
        ("project/kb-update", {"repo": "app", "version": "1.0.0", "kb_dir": "link"}),
        ("project/kb-update", {"repo": "app", "version": "1.0.0", "kb_dir": ".git"}),
        ("project/kb-update", {"repo": "app", "version": "../../x"}),
        ("project/kanban-update", {"repo": "app", "version": "1.0.0", "board": "link/board.yaml"}),
        ("project/kanban-update", {"repo": "app", "version": "1.0.0", "board": "/etc/passwd"}),
        ("project/kanban-update", {"repo": "app", "version": "1.0.0", "changelog": "../../outside/c.md"}),
    ],
)
def test_paths_outside_the_repo_are_refused(tester: StepTester, repo: Path, tmp_path: Path, step: str, config) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "board.yaml").write_text("columns: []\n")
    (repo / "link").symlink_to(outside)
    before = (snapshot(repo), snapshot(outside))
    out = tester.run(step, config)
    assert out.failure is not None and out.failure.kind in ("denied", "config"), out.failure
    assert (snapshot(repo), snapshot(outside)) == before
