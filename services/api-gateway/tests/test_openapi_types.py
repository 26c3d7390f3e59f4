"""The OpenAPI document is the contract the designer is typed from: it must carry the run vocabulary,
depend on the code alone, and match the committed frontend/src/api/schema.d.ts and enums.ts."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from vwmp_common.states import TERMINAL_RUN_STATES, TERMINAL_STEP_STATES, EventType, RunState, StepState
from vwmp_gateway.openapi import document

FRONTEND = Path(__file__).resolve().parents[3] / "frontend"
GENERATED = ("schema.d.ts", "enums.ts")


def test_the_openapi_document_lists_every_state_event_type_and_role_and_which_states_are_final() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["RunState"]["enum"] == [state.value for state in RunState]
    assert schemas["StepState"]["enum"] == [state.value for state in StepState]
    assert schemas["EventType"]["enum"] == [kind.value for kind in EventType]
    assert schemas["Role"]["enum"] == ["viewer", "editor", "operator", "admin"]
    assert schemas["RunPublic"]["properties"]["state"] == {"$ref": "#/components/schemas/RunState"}
    assert schemas["StepRunPublic"]["properties"]["state"] == {"$ref": "#/components/schemas/StepState"}
    assert schemas["EventPublic"]["properties"]["type"] == {"$ref": "#/components/schemas/EventType"}
    assert set(schemas["RunState"]["x-terminal"]) == TERMINAL_RUN_STATES
    assert set(schemas["StepState"]["x-terminal"]) == TERMINAL_STEP_STATES


def _dump(**env: str) -> str:
    done = subprocess.run([sys.executable, "-m", "vwmp_gateway.openapi"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_the_openapi_document_depends_on_the_code_alone() -> None:
    # Set iteration order changes with the hash seed; settings come from the environment.
    first = _dump(PYTHONHASHSEED="1")
    assert _dump(PYTHONHASHSEED="2", VWMP_RATE_LIMIT="1", VWMP_ADMIN_TOKEN="x" * 32) == first


def _diff(committed: Path, fresh: Path) -> str:
    lines = difflib.unified_diff(committed.read_text().splitlines(), fresh.read_text().splitlines(),
                                 str(committed), "regenerated", lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def test_the_designer_api_types_are_generated_from_the_current_openapi_document(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (FRONTEND / "node_modules" / ".bin" / "openapi-typescript").exists():
        pytest.skip("needs node and frontend/node_modules (make frontend)")
    env = {**os.environ, "VWMP_API_OUT": str(tmp_path), "VWMP_PYTHON": sys.executable}
    done = subprocess.run([node, "scripts/gen-api.mjs"], cwd=FRONTEND, env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    stale = {name: _diff(FRONTEND / "src" / "api" / name, tmp_path / name) for name in GENERATED
             if (FRONTEND / "src" / "api" / name).read_text() != (tmp_path / name).read_text()}
    assert not stale, "run `npm run gen:api` in frontend/ and commit the result:\n" + "\n".join(stale.values())
