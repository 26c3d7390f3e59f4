"""The designer in a real headless Debian chromium against the real platform (frontend/e2e, playwright-core).

`make test` builds the frontend and installs Debian's chromium first; the browser
scripts drag steps, connect them, save, dry-run, run, approve the gate and watch
the nodes turn green, saving screenshots under frontend/e2e/screenshots/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from vwmp_cli.up import DEFAULT_PLUGINS, Platform

from .conftest import platform_env

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_the_designer_builds_runs_and_approves_a_workflow_in_chromium(tmp_path: Path) -> None:
    assert (FRONTEND / "dist" / "index.html").exists(), "frontend/dist is missing: run `make frontend`"
    assert Path("/usr/bin/chromium").exists(), "Debian chromium is missing: run `make browser`"
    npm = shutil.which("npm")
    assert npm, "npm is missing"
    env = platform_env(tmp_path, VWMP_PLUGINS=DEFAULT_PLUGINS, VWMP_FRONTEND_DIR=str(FRONTEND / "dist"))
    platform = Platform(env=env)
    platform.start()
    try:
        env = {**platform.env, "VWMP_E2E_URL": platform.url,
               "VWMP_E2E_TOKEN": platform.admin_token_file.read_text().strip()}
        result = subprocess.run([npm, "run", "e2e"], cwd=FRONTEND, env=env, capture_output=True, text=True,
                                timeout=540)
    finally:
        platform.stop()
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "real platform" in result.stdout, report
    assert "# fail 0" in result.stdout, report
