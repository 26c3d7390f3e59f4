"""Handlers of `project/kb-update`, `project/kanban-update` and `project/run-validator`."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from vwmp_common.icons import glyph
from vwmp_sdk import ConfigError, DeniedError, Plugin, StepContext, StepError
from vwmp_toolkit.changelog import Document, release_date, release_notes
from vwmp_toolkit.files import plan_edit, read_text, write_atomic
from vwmp_toolkit.paths import in_repo, rel, repo_dir
from vwmp_toolkit.semver import checked_version

from vwmp_plugin_project.kanban import BoardError, card_ids, move_cards
from vwmp_plugin_project.kb import index_with, release_page

plugin = Plugin("project", title="Project", description="Knowledge base, Kanban board and operator validators",
                icon=glyph("M3 4h18v16H3zM9 4v16M15 4v16", "#0f766e"))

REPO = Field(description="Repository path relative to the workspace root")
CHANGELOG = Field(default="CHANGELOG.md", description="Changelog the release entries are read from")
VALIDATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REPORT_LIMIT = 65536


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KbUpdateConfig(_Config):
    repo: str = REPO
    version: str = Field(description="The released version (SemVer)")
    kb_dir: str = Field(default="kb", description="Knowledge base folder relative to the repo")
    notes: str | None = Field(default=None, description="Extra Markdown for the release page")
    changelog: str = CHANGELOG
    date: str | None = Field(default=None, description="Release date YYYY-MM-DD (default: the changelog's, else today)")


class KbUpdateOutputs(BaseModel):
    files: list[str] = Field(description="KB files written (relative to the repo)")


class KanbanUpdateConfig(_Config):
    repo: str = REPO
    version: str = Field(description="The released version; its changelog entries name the cards (e.g. KAN-7)")
    board: str | None = Field(
        default=None,
        description="Board YAML relative to the repo (default kanban.yaml; a missing default board is skipped)",
    )
    from_column: str = Field(default="Done", description="Column the released cards are taken from")
    to_column: str = Field(default="Released", description="Column they move to (created when missing)")
    changelog: str = CHANGELOG


class KanbanUpdateOutputs(BaseModel):
    moved: list[str] = Field(description="Ids of the cards moved")


class RunValidatorConfig(_Config):
    repo: str = REPO
    validator: str = Field(description="File name of a validator script in VWMP_VALIDATORS_DIR (not a path)")
    args: list[str] = Field(default_factory=list, description="Arguments passed as a list (no shell)")
    timeout: float = Field(default=300, gt=0, le=3600, description="Seconds before the validator is killed")
    fail_on_failure: bool = Field(
        default=True, description="Fail the step when the validator exits non-zero (false: report passed=false)"
    )
    run_in_dry_run: bool = Field(
        default=False, description="Also run it in a dry run (only for validators that change nothing)"
    )


class RunValidatorOutputs(BaseModel):
    passed: bool = Field(description="The validator exited with status 0")
    report: str = Field(description="What it printed (stdout then stderr, at most 64 KiB)")


def _release_entries(root: Path, changelog: str, version: str) -> tuple[str | None, str | None]:
    """(entries of the release, its date) from the changelog; before `release/changelog` ran (dry run),
    the [Unreleased] entries that will become the release."""
    path = in_repo(root, changelog, field="changelog")
    if not path.is_file():
        return None, None
    text = read_text(path)
    section = Document.parse(text).section(version)
    return release_notes(text, version), section.date if section else None


def _read(path: Path) -> str | None:
    return read_text(path) if path.is_file() else None


@plugin.step(
    "kb-update", title="Update knowledge base", description="Release page and index entry in the repo's KB",
    effects="local",
)
def kb_update(ctx: StepContext, config: KbUpdateConfig) -> KbUpdateOutputs:
    """Rewriting the page and replacing the index entry make a retry harmless."""
    version = checked_version(config.version)
    root = repo_dir(ctx, config.repo)
    entries, changelog_date = _release_entries(root, config.changelog, version)
    date = release_date(config.date) if config.date else changelog_date or release_date(None)
    kb = in_repo(root, config.kb_dir, field="kb_dir")
    page = in_repo(root, f"{rel(root, kb)}/releases/{version}.md", field="kb_dir")
    index = in_repo(root, f"{rel(root, kb)}/index.md", field="kb_dir")
    changes = [
        (page, release_page(version, date, entries or "", config.notes)),
        (index, index_with(_read(index), version, date)),
    ]
    for path, new in changes:
        if _read(path) != new:
            ctx.plan(plan_edit(rel(root, path), _read(path), new))
    files = [rel(root, p) for p, _ in changes]
    if ctx.dry_run:
        return KbUpdateOutputs(files=files)
    for path, new in changes:
        write_atomic(path, new)
    ctx.log(f"KB updated: {', '.join(files)}")
    return KbUpdateOutputs(files=files)


@plugin.step(
    "kanban-update", title="Update Kanban board", description="Move the release's cards between columns",
    effects="local",
)
def kanban_update(ctx: StepContext, config: KanbanUpdateConfig) -> KanbanUpdateOutputs:
    """Cards already moved stay where they are, so a retry moves nothing twice."""
    version = checked_version(config.version)
    root = repo_dir(ctx, config.repo)
    board = in_repo(root, config.board or "kanban.yaml", field="board")
    if not board.is_file():
        if config.board:
            raise ConfigError(f"board {config.board!r} does not exist")
        ctx.log("no kanban.yaml in the repo: nothing to move")
        return KanbanUpdateOutputs(moved=[])
    entries, _ = _release_entries(root, config.changelog, version)
    ids = card_ids(entries or "")
    ctx.log(f"cards named in {version}: {', '.join(ids) or 'none'}")
    text = read_text(board)
    try:
        updated, moved = move_cards(text, ids, config.from_column, config.to_column, version)
    except BoardError as exc:
        raise ConfigError(f"{rel(root, board)}: {exc}") from None
    if not moved and not ctx.dry_run and ctx.progress.get("moved"):  # an earlier delivery of this key moved them
        return KanbanUpdateOutputs(moved=list(ctx.progress["moved"]))
    outputs = KanbanUpdateOutputs(moved=moved)
    if moved:
        ctx.plan(plan_edit(rel(root, board), text, updated))
    if ctx.dry_run:
        return outputs
    if moved:
        ctx.save_progress(moved=moved)
        write_atomic(board, updated)
        ctx.log(f"moved {', '.join(moved)} from {config.from_column} to {config.to_column}")
    return outputs


def validator_path(name: str) -> Path:
    """The operator-registered script `name` in VWMP_VALIDATORS_DIR; a plain file name, never a path."""
    folder = os.environ.get("VWMP_VALIDATORS_DIR")
    if not folder:
        raise ConfigError("VWMP_VALIDATORS_DIR is not set: the operator has registered no validators")
    if not VALIDATOR_NAME.match(name) or name in (".", ".."):
        raise DeniedError(f"validator {name!r} must be a plain file name in the validators folder")
    base = Path(folder).resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise DeniedError(f"validator {name!r} resolves outside the validators folder")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(f"validator {name!r} is not an executable file in the validators folder")
    return path


@plugin.step(
    "run-validator", title="Run validator", description="Run an operator-registered validator script",
    effects="local",
)
def run_validator(ctx: StepContext, config: RunValidatorConfig) -> RunValidatorOutputs:
    """Only scripts from VWMP_VALIDATORS_DIR run, as an argument list with a timeout, output into the log."""
    script = validator_path(config.validator)
    root = repo_dir(ctx, config.repo)
    if (ctx.dry_run or ctx.scratch) and not config.run_in_dry_run:  # a dry run's copy runs it only when asked
        ctx.plan("run validator", config.validator, diff=" ".join([script.name, *config.args]))
        return RunValidatorOutputs(passed=True, report="dry run: validator not executed")
    done = ctx.run([str(script), *config.args], cwd=root, timeout=config.timeout, env={"VWMP_REPO": str(root)})
    report = (done.stdout + done.stderr)[-REPORT_LIMIT:]
    passed = done.returncode == 0
    ctx.log(f"validator {config.validator} {'passed' if passed else f'failed (exit {done.returncode})'}")
    if not passed and config.fail_on_failure:
        tail = report.strip().splitlines()[-20:]
        raise StepError(f"validator {config.validator} failed (exit {done.returncode}):\n" + "\n".join(tail))
    return RunValidatorOutputs(passed=passed, report=report)
