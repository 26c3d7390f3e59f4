"""Handlers of the validator steps. They only read: a dry run does the same checks and plans nothing."""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field
from vwmp_common.icons import glyph
from vwmp_sdk import ConfigError, Plugin, StepContext, StepError
from vwmp_toolkit.files import read_text
from vwmp_toolkit.git import open_git
from vwmp_toolkit.paths import in_repo, rel, repo_dir

from vwmp_plugin_validators.changelog_lint import lint
from vwmp_plugin_validators.rules import RuleError, check_file, compile_rule, matching_files

plugin = Plugin("validators", title="Validators", description="Checks a release must pass before anything changes",
                icon=glyph("M9 12l2 2 4-4M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z", "#16a34a"))

REPO = Field(description="Repository path relative to the workspace root")
FAIL = Field(default=True, description="Fail the step when problems are found (false: only report them)")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    file: str = Field(description="File the problem is in (relative to the repo)")
    line: int | None = Field(default=None, description="1-based line, when the problem has one")
    message: str = Field(description="What is wrong")


class BranchContextConfig(_Config):
    repo: str = REPO
    allowed: list[str] | None = Field(
        default=None,
        description="Branch globs ('*' stays within one '/' level, '**' crosses them); "
        "default: platform release.allowed_branches",
    )
    require_clean: bool = Field(default=False, description="Also require no staged, unstaged or untracked changes")


class BranchContextOutputs(BaseModel):
    branch: str = Field(description="The checked-out branch")


class ChangelogFormatConfig(_Config):
    repo: str = REPO
    file: str = Field(default="CHANGELOG.md", description="Changelog path relative to the repo")
    fail_on_problems: bool = FAIL


class ProblemsOutputs(BaseModel):
    problems: list[Problem] = Field(description="Every problem found (empty: all good)")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: str = Field(description="Glob relative to the repo, e.g. 'src/**/*.py'")
    must_match: str | None = Field(default=None, description="Regex each matched file must contain")
    must_not_match: str | None = Field(default=None, description="Regex no matched file may contain")
    message: str = Field(description="Explanation shown with each violation")


class CustomRulesConfig(_Config):
    repo: str = REPO
    rules: list[Rule] = Field(min_length=1, description="Rules checked in order")
    fail_on_problems: bool = FAIL


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A branch glob as a regex: `*` and `?` stay inside one path level, `**` spans levels."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    return re.compile("^" + "".join(out) + "$")


Outputs = TypeVar("Outputs", bound=BaseModel)


def _result(ctx: StepContext, outputs: Outputs, checked: str) -> Outputs:
    ctx.plan("check", checked)  # a dry run shows what was checked; a check changes nothing
    return outputs


def _report(ctx: StepContext, problems: list[Problem], fail: bool, what: str) -> None:
    for problem in problems:
        ctx.log(f"{problem.file}:{problem.line or '-'}: {problem.message}")
    if problems and fail:
        listed = "; ".join(f"{p.file}" + (f":{p.line}" if p.line else "") + f": {p.message}" for p in problems)
        raise StepError(f"{len(problems)} problem(s) in {what}: {listed}")


@plugin.step("branch-context", effects="none", title="Check branch", description="Current branch matches allowed globs")
def branch_context(ctx: StepContext, config: BranchContextConfig) -> BranchContextOutputs:
    """Runs first in a release so nothing changes on a wrong or dirty branch."""
    allowed = config.allowed
    if allowed is None:
        allowed = (ctx.platform_config.get("release") or {}).get("allowed_branches")
    if not allowed:
        raise ConfigError("allowed: no branch globs given and no platform release.allowed_branches")
    git = open_git(ctx, config.repo)
    branch = git.current_branch()
    if branch is None:
        raise StepError("HEAD is detached: check out a release branch")
    if not any(glob_regex(g).match(branch) for g in allowed):
        raise StepError(f"branch {branch!r} is not allowed for this workflow (allowed: {', '.join(allowed)})")
    if config.require_clean:
        dirty = git.porcelain_status()
        if dirty:
            shown = ", ".join(line[3:] for line in dirty[:10]) + (" ..." if len(dirty) > 10 else "")
            raise StepError(f"the working tree is not clean ({len(dirty)} change(s): {shown})")
    ctx.log(f"branch {branch} allowed by {', '.join(allowed)}" + (", tree clean" if config.require_clean else ""))
    return _result(ctx, BranchContextOutputs(branch=branch), f"branch {branch}")


@plugin.step(
    "changelog-format", title="Lint changelog", description="Keep a Changelog 1.1 format check",
    effects="none",
)
def changelog_format(ctx: StepContext, config: ChangelogFormatConfig) -> ProblemsOutputs:
    """Fails on problems by default, listing them in the error, since a broken changelog breaks the release."""
    root = repo_dir(ctx, config.repo)
    path = in_repo(root, config.file, field="file")
    name = rel(root, path)
    if not path.is_file():
        problems = [Problem(file=config.file, message="file does not exist")]
    else:
        problems = [Problem(file=name, line=line, message=msg) for line, msg in lint(read_text(path))]
    _report(ctx, problems, config.fail_on_problems, config.file)
    ctx.log(f"{config.file}: {len(problems)} problem(s)")
    return _result(ctx, ProblemsOutputs(problems=problems), config.file)


@plugin.step(
    "custom-rules", title="Custom rules", description="Files matching a glob must (not) match a regex",
    effects="none",
)
def custom_rules(ctx: StepContext, config: CustomRulesConfig) -> ProblemsOutputs:
    """Globs stay inside the repo; symlinks leading out and `.git` are never read."""
    root = repo_dir(ctx, config.repo)
    compiled = []
    for i, rule in enumerate(config.rules):
        try:
            compiled.append(compile_rule(i, rule.files, rule.must_match, rule.must_not_match))
        except RuleError as exc:
            raise ConfigError(f"/{exc}") from None
    problems: list[Problem] = []
    for rule, (must, must_not) in zip(config.rules, compiled, strict=True):
        files = matching_files(root, rule.files)
        if not files and must is not None:
            problems.append(Problem(file=rule.files, message=f"no file matches: {rule.message}"))
        for path in files:
            text = path.read_bytes()[: 2 * 1024 * 1024].decode("utf-8", errors="replace")
            for line, what in check_file(text, must, must_not):
                problems.append(Problem(file=rel(root, path), line=line, message=f"{rule.message} ({what})"))
    _report(ctx, problems, config.fail_on_problems, "custom rules")
    ctx.log(f"{len(config.rules)} rule(s) checked, {len(problems)} problem(s)")
    return _result(ctx, ProblemsOutputs(problems=problems), f"{len(config.rules)} rule(s)")
