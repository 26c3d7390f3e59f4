"""`vwmp triggers`: list a workflow's triggers, pause and resume one; runs show their trigger."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from typer.testing import CliRunner
from vwmp_cli.main import app
from vwmp_testkit.platform import definition

runner = CliRunner()


def test_triggers_lists_pauses_and_resumes(env: dict[str, str], tmp_path: Path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    document = definition(name)
    document["spec"]["triggers"] = [{"id": "nightly", "schedule": {"cron": "0 3 * * 1-5", "timezone": "Europe/Berlin"},
                                     "parameters": {"part": "patch"}}]
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(document))
    assert runner.invoke(app, ["apply", "-f", str(path)], env=env).exit_code == 0
    listed = runner.invoke(app, ["triggers", name], env=env, terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "nightly" in listed.output and "schedule" in listed.output and "active" in listed.output
    paused = runner.invoke(app, ["triggers", "pause", name, "nightly"], env=env)
    assert paused.exit_code == 0 and f"trigger nightly of {name} is paused" in paused.output
    assert "paused by" in runner.invoke(app, ["triggers", name], env=env, terminal_width=200).output
    resumed = runner.invoke(app, ["triggers", "resume", name, "nightly"], env=env)
    assert resumed.exit_code == 0 and "is active, next fire" in resumed.output
    missing = runner.invoke(app, ["triggers", "pause", name, "ghost"], env=env)
    assert missing.exit_code == 1 and "no trigger 'ghost'" in missing.output
    wrong = runner.invoke(app, ["triggers", "pause", name], env=env)
    assert wrong.exit_code == 1 and "usage" in wrong.output
    runs = runner.invoke(app, ["runs", "--workflow", name, "--trigger", "manual"], env=env, terminal_width=200)
    assert runs.exit_code == 0, runs.output
