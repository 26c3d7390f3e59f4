"""Sample histories for the commit-analysis tests: real repositories built commit by commit."""

from __future__ import annotations

from pathlib import Path

from vwmp_testkit.git import git


def commit(repo: Path, message: str, path: str = "src/app.py") -> str:
    """A commit changing `path` with `message`; returns its sha."""
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("a") as handle:
        handle.write(f"# {message.splitlines()[0]}\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def tag(repo: Path, name: str) -> None:
    git(repo, "tag", "--annotate", "-m", name, name)


# name → (tag of the last release or None, [commit messages after it], expected part, expected next version)
SCENARIOS: dict[str, tuple[str | None, list[str], str, str]] = {
    "feature": ("v0.4.1", ["feat(cart): pay by card (#12)", "fix: rounding of totals\n\nCloses #9"], "minor", "0.5.0"),
    "fix": ("v1.2.3", ["fix(api): timeout on login", "docs: typo"], "patch", "1.2.4"),
    "breaking-bang": ("v1.2.3", ["feat(api)!: drop the v1 endpoints", "fix: a"], "major", "2.0.0"),
    "breaking-footer": (
        "v1.2.3",
        ["fix: config loading\n\nBREAKING CHANGE: the config file moved to ~/.shop.toml"],
        "major",
        "2.0.0",
    ),
    "breaking-on-zero": ("v0.4.1", ["feat!: new storage format"], "minor", "0.5.0"),
    "nothing-releasable": (
        "v1.0.0",
        ["docs: readme", "chore(deps): bump x", "wip things", "ci: cache"],
        "none",
        "1.0.0",
    ),
    "first-release": (None, ["feat: first", "fix: second"], "minor", "0.1.0"),
    "perf": ("v2.0.0", ["perf: faster search", "refactor: tidy"], "patch", "2.0.1"),
    "revert": (
        "v1.1.0",
        ["fix: keep", 'Revert "feat: experimental export"\n\nThis reverts commit 1234567.'],
        "patch",
        "1.1.1",
    ),
    "breaking-chore": ("v1.4.0", ["chore!: drop Python 3.10", "docs: notes"], "major", "2.0.0"),
    "breaking-hyphen-footer": ("v3.0.0", ["feat: y\n\nBREAKING-CHANGE: the y option is gone"], "major", "4.0.0"),
    "revert-type": ("v1.0.0", ["revert: feat: experimental export\n\nRefs: 1234567"], "none", "1.0.0"),
    "scoped-fix-with-footers": (
        "v0.9.9",
        ["fix(db)!: rename the table\n\nReviewed-by: Z\nRefs: #33"],
        "minor",
        "0.10.0",
    ),
}
