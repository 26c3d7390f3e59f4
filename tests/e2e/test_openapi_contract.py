"""The OpenAPI document tells the truth: `schemathesis run --checks all` (every phase, the stateful one
included) against the whole platform finds nothing, and the same run does catch an undocumented status.

Generated clients (the designer's schema.d.ts among them) trust the document: every status a route
answers with is declared, every schema-valid request is accepted (save where schemathesis.toml names a
state-dependent refusal) and every schema-violating one refused, a 405's Allow lists the path's methods.
The number of examples is bounded so the run stays around a minute or two (docs/api.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from vwmp_cli.up import Platform

from .conftest import platform_env, running

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Examples per operation and phase, and a fixed seed so that CI runs the same cases each time;
# `make test-contract VWMP_CONTRACT_EXAMPLES=50 VWMP_CONTRACT_SEED=` digs deeper with fresh ones.
EXAMPLES = os.environ.get("VWMP_CONTRACT_EXAMPLES", "5")
# One worker: with two, hypothesis (describing the strategy of the recursive SafeJsonValue) hit CPython
# 3.11's "AST constructor recursion depth mismatch" in ast.parse from two threads at once.
SEED = os.environ.get("VWMP_CONTRACT_SEED", "20261203")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running(Platform(env=platform_env(tmp_path_factory.mktemp("platform"), VWMP_PLUGINS="hello"))) as platform:
        yield platform


def schemathesis(platform: Platform, schema: str, workdir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` as a developer types it, with the repository's schemathesis.toml."""
    token = platform.admin_token_file.read_text().strip()
    command = [str(SCHEMATHESIS), "--config-file", str(ROOT / "schemathesis.toml"), "--no-color", "run", schema,
               "--url", f"{platform.url}", "-H", f"Authorization: Bearer {token}",
               "--max-examples", EXAMPLES, *(["--seed", SEED] if SEED else []), *arguments]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=400, check=False)


def _summary(done: subprocess.CompletedProcess[str]) -> str:
    """What a developer needs to see when the run failed: the failures and the summary, not the progress."""
    output = done.stdout + done.stderr
    start = output.find("FAILURES")
    return output[start:] if start >= 0 else output[-6000:]


def test_schemathesis_with_every_check_and_phase_finds_nothing(platform: Platform, tmp_path: Path) -> None:
    done = schemathesis(platform, f"{platform.url}/openapi.json", tmp_path, "--checks", "all")
    assert done.returncode == 0, _summary(done)
    assert "No issues found" in done.stdout or " passed" in done.stdout, done.stdout[-3000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in done.stdout, (phase, done.stdout[-3000:])


def test_the_same_run_catches_a_status_the_document_leaves_out(platform: Platform, tmp_path: Path) -> None:
    """The check can fail: with 404 struck from GET /runs/{run_id}, an unknown run id is reported."""
    document = httpx.get(f"{platform.url}/openapi.json", timeout=30).json()
    del document["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]["404"]
    broken = tmp_path / "broken-openapi.json"
    broken.write_text(json.dumps(document))
    done = schemathesis(platform, str(broken), tmp_path, "--checks", "status_code_conformance",
                        "--include-operation-id", "runs-get_run", "--phases", "examples,coverage,fuzzing")
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Undocumented status code" in done.stdout and "Received: 404" in done.stdout, done.stdout[-3000:]
