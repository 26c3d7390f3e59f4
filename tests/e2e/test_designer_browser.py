"""The designer in a real headless Debian chromium against the real platform (frontend/e2e, playwright-core).

`make test` builds the frontend and installs Debian's chromium first; the browser
scripts drag steps, connect them, save, dry-run, run, approve the gate and watch
the nodes turn green, saving screenshots under frontend/e2e/screenshots/.
Gates are approved by a second person (a token made with POST /tokens) through the
approval dialog, which sends the plan digest it shows: the person who started a run
is told they cannot approve it. The queue script (queue-approval.e2e.test.mjs) sets
a concurrency key in the workflow panel, makes a second run wait "#1 in queue" behind
the first one's gate, and opens that gate with two approvals and the gate's inputs.
The language script (language.e2e.test.mjs) draws a for_each step, a finally lane and workflow
outputs, runs them, and opens items of a 1,000-item fan-out from its per-item grid.
The release script publishes a real sample repository (0.4.1 → 0.5.0) from the
`python-release` template to a bare remote: the repository's path relative to the
workspace and the remote's absolute path reach it as VWMP_E2E_RELEASE_REPO/_REMOTE.
The monorepo script (monorepo.e2e.test.mjs) releases the sample monorepo from the
`monorepo-release` template: one gate shows all five packages and what would be undone, the
remote (moved by someone else) refuses the push, and the run view shows the unwind.
The triggers script (triggers.e2e.test.mjs) adds a schedule and a generic webhook in the
workflow panel, pauses and resumes the schedule, delivers a webhook signed with the
engine's secret E2E_BROWSER_HOOK (its value reaches the script as VWMP_E2E_HOOK_SECRET)
and reads the runs' triggers in the runs list; it also renders release notes as Markdown.
The power-user script (power-user.e2e.test.mjs) searches runs by parameter value, actor and date,
charts duration history, compares two versions on the canvas and checks the split view at 1,440 px;
the parameters script builds run parameters from fields; the YAML editor script completes keys in
CodeMirror and marks validation problems on their lines.
The API docs script (api-docs.e2e.test.mjs) renders Swagger UI and ReDoc with every request for
another host refused, as on a machine without internet.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from vwmp_cli.up import DEFAULT_PLUGINS, Platform

from .conftest import platform_env
from .release_repo import Monorepo, Sample, git_env

HOOK_SECRET = "e2e-browser-hook-secret"

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


@pytest.mark.timeout(900)
def test_the_designer_builds_runs_queues_and_approves_workflows_in_chromium(tmp_path: Path) -> None:
    assert (FRONTEND / "dist" / "index.html").exists(), "frontend/dist is missing: run `make frontend`"
    assert Path("/usr/bin/chromium").exists(), "Debian chromium is missing: run `make browser`"
    npm = shutil.which("npm")
    assert npm, "npm is missing"
    git_isolated = {k: v for k, v in git_env(tmp_path).items() if k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
    env = platform_env(tmp_path, VWMP_PLUGINS=DEFAULT_PLUGINS, VWMP_FRONTEND_DIR=str(FRONTEND / "dist"),
                       VWMP_SECRET_E2E_BROWSER_HOOK=HOOK_SECRET, **git_isolated)
    platform = Platform(env=env)
    platform.start()
    try:
        sample = Sample(platform.workspace, tmp_path, "shop")
        monorepo = Monorepo(platform.workspace, tmp_path, "shop-monorepo")
        monorepo.push_elsewhere(tmp_path)  # the release's push is refused: the run unwinds
        env = {**platform.env, "VWMP_E2E_URL": platform.url,
               "VWMP_E2E_TOKEN": platform.admin_token_file.read_text().strip(),
               "VWMP_E2E_RELEASE_REPO": sample.work.relative_to(platform.workspace).as_posix(),
               "VWMP_E2E_RELEASE_REMOTE": str(sample.remote), "VWMP_E2E_HOOK_SECRET": HOOK_SECRET,
               "VWMP_E2E_MONOREPO_REPO": monorepo.work.relative_to(platform.workspace).as_posix(),
               "VWMP_E2E_MONOREPO_REMOTE": str(monorepo.remote)}
        result = subprocess.run([npm, "run", "e2e"], cwd=FRONTEND, env=env, capture_output=True, text=True,
                                timeout=840)
    finally:
        platform.stop()
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "real platform" in result.stdout, report
    assert "# fail 0" in result.stdout, report
    assert "# skipped 0" in result.stdout, report
    assert "# release: v0.5.0 pushed" in result.stdout, report
    assert "# queue: run " in result.stdout, report
    assert "# language: run " in result.stdout, report
    assert "# language: 1,000-item fan-out " in result.stdout, report
    assert "# triggers: schedule nightly paused and resumed, webhook run " in result.stdout, report
    assert "# triggers: release notes of run " in result.stdout, report
    assert "# api docs: swagger ui offline with " in result.stdout, report
    assert "# power-user: run search by param.repo=shop " in result.stdout, report
    assert "# power-user: split view at 1440x900" in result.stdout, report
    assert "# parameters: " in result.stdout, report
    assert "# yaml editor: completed a step " in result.stdout, report
    assert "# api docs: redoc offline with " in result.stdout, report
    assert "# monorepo: gate of run " in result.stdout, report
    assert sample.remote_git("log", "-1", "--format=%s", "v0.5.0") == "Release 0.5.0"
