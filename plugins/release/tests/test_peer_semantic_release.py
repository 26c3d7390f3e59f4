"""Peer check: python-semantic-release computes the same next version and releasable commits.

python-semantic-release (a dev dependency) runs offline on the same repositories through its own
API: `next_version` with the Conventional Commits parser, `allow_zero_version=True` and
`major_on_zero=False` (the 0.x rule `release/analyze-commits` documents). Its default tag format
`v{version}` is ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from git import Repo
from semantic_release.commit_parser import ConventionalCommitParser, ParsedCommit
from semantic_release.enums import LevelBump
from semantic_release.version.algorithm import next_version
from semantic_release.version.translator import VersionTranslator
from vwmp_plugin_release import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, make_repo

from .history import SCENARIOS, commit, tag


def peer(repo: Path, since: str | None) -> tuple[str, set[str]]:
    """python-semantic-release's next version and the shas of the commits it would release for."""
    parser = ConventionalCommitParser()
    with Repo(repo) as handle:
        version = next_version(
            handle, VersionTranslator(), parser, allow_zero_version=True, major_on_zero=False, prerelease=False
        )
        rev = f"{since}..HEAD" if since else "HEAD"
        shas: set[str] = set()
        for item in handle.iter_commits(rev):
            parsed = parser.parse(item)
            for result in parsed if isinstance(parsed, list) else [parsed]:
                if isinstance(result, ParsedCommit) and result.bump > LevelBump.NO_RELEASE:
                    shas.add(item.hexsha)
    return str(version), shas


def ours(workspace: Path) -> tuple[str, set[str]]:
    out = StepTester(plugin, workspace_root=workspace).run("release/analyze-commits", {"repo": "app"})
    assert out.ok, out.failure
    kinds = {"feat", "fix", "perf"}
    shas = {c["sha"] for c in out.outputs["commits"] if c["breaking"] or c["type"] in kinds}
    return out.outputs["next_version"], shas


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_answers_as_python_semantic_release(workspace: Path, name: str) -> None:
    last, messages, _, expected = SCENARIOS[name]
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    if last:
        tag(repo, last)
    for message in messages:
        commit(repo, message)
    if last is None:  # python-semantic-release reads the initial commit as non-releasable too
        assert git(repo, "log", "--format=%s").splitlines()[-1] == "initial"
    version, shas = ours(workspace)
    assert version == expected
    assert peer(repo, last) == (version, shas)


def test_same_answers_with_merge_commits(workspace: Path) -> None:
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    tag(repo, "v1.0.0")
    git(repo, "switch", "--quiet", "-c", "topic")
    commit(repo, "feat: from a branch", "src/topic.py")
    git(repo, "switch", "--quiet", "main")
    commit(repo, "fix: on main")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    version, shas = ours(workspace)
    assert version == "1.1.0" and len(shas) == 2
    assert peer(repo, "v1.0.0") == (version, shas)


def test_where_the_specification_and_python_semantic_release_differ_the_specification_wins(
    workspace: Path,
) -> None:
    """Conventional Commits 1.0 §15: types are not case sensitive; python-semantic-release matches `feat` only."""
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    tag(repo, "v1.0.0")
    sha = commit(repo, "Feat: upper-case type")
    assert ours(workspace) == ("1.1.0", {sha})
    assert peer(repo, "v1.0.0") == ("1.0.0", set())
