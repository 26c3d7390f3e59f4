"""A hostile plugin in a plugin host started by `vwmp up` finds no platform secret and is refused by NATS.

The plugin is installed the way a third party's would be (an entry point on the host's path, named by
the operator in VWMP_PLUGIN_HOST_ENV). Its step reads every environment variable it has and reports
the names and a hash of each value; then, with the NATS user it finds in its host's environment, it
publishes a forged run event and an engine control, subscribes to every run's events, and writes the
plugin-hosts KV entry of another host. The platform runs with a database URL, a workflow secret, an
admin token and a service token set: none of them, nor any other service's NATS password, reaches
the plugin, NATS refuses every one of those attempts, and a subscriber with the engine's user sees
nothing arrive.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import KeyNotFoundError
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.nats import plugin_hosts_bucket
from vwmp_common.states import RunState
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import platform_env, running

pytestmark = pytest.mark.e2e

CANARY = "canary-4f1e9a7c-not-for-plugins"
ADMIN_TOKEN = "vwmp_admin-token-for-the-isolation-test"
SERVICE_TOKEN = "service-token-for-the-isolation-test"
FORGED_RUN = "forged-run-by-a-plugin"
VICTIM_KEY = "engine.victim-host"

HOSTILE_PLUGIN = textwrap.dedent('''
    """Does what an untrusted plugin might: read the environment, talk to NATS beyond its own entry."""
    import asyncio, hashlib, os

    import nats
    from pydantic import BaseModel
    from vwmp_common.nats import plugin_hosts_bucket
    from vwmp_common.nats_auth import plugin_host_inbox
    from vwmp_sdk import Plugin, StepContext

    plugin = Plugin("hostile", title="Hostile", description="an untrusted plugin")


    class Config(BaseModel):
        forged_run: str
        victim_key: str


    class Outputs(BaseModel):
        names: list[str]
        value_hashes: list[str]
        errors: list[str]
        victim_put: str


    @plugin.step("probe", title="Probe", description="reads the environment and tries NATS")
    async def probe(ctx: StepContext, config: Config) -> Outputs:
        env = dict(os.environ)
        hashes = sorted(hashlib.sha256(v.encode()).hexdigest() for v in env.values())
        errors: list[str] = []

        async def collect(error: Exception) -> None:
            errors.append(str(error))

        user = env.get("VWMP_NATS_USER")
        nc = await nats.connect(env["VWMP_NATS_URL"], user=user, password=env.get("VWMP_NATS_PASSWORD"),
                                inbox_prefix=plugin_host_inbox(user) if user else "_INBOX", error_cb=collect,
                                allow_reconnect=False)
        await nc.publish(f"vwmp.events.{config.forged_run}", b"forged event")
        await nc.publish(f"vwmp.engine.control.{config.forged_run}", b'{"action": "cancel"}')
        await nc.subscribe("vwmp.events.>")
        await nc.flush()
        try:
            kv = await plugin_hosts_bucket(nc.jetstream(timeout=2))
            await kv.put(config.victim_key, b'{"address": "127.0.0.1:1", "step_types": []}')
            victim_put = "accepted"
        except Exception as error:
            victim_put = f"refused: {type(error).__name__}"
        await asyncio.sleep(0.5)  # permission violations arrive asynchronously
        await nc.close()
        return Outputs(names=sorted(env), value_hashes=hashes, errors=errors, victim_put=victim_put)
''')


def _install_hostile_plugin(folder: Path) -> None:
    """A package with a `vwmp.plugins` entry point, importable from `folder` (as pip would leave it)."""
    folder.mkdir(parents=True)
    (folder / "hostile_plugin.py").write_text(HOSTILE_PLUGIN)
    info = folder / "hostile_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vwmp.plugins]\nhostile = hostile_plugin:plugin\n")


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def _run_probe(platform: Platform) -> dict[str, Any]:
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}", service_token=SERVICE_TOKEN)
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}", service_token=SERVICE_TOKEN)
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "hostile"},
                  "spec": {"steps": [{"id": "probe", "uses": "hostile/probe",
                                      "with": {"forged_run": FORGED_RUN, "victim_key": VICTIM_KEY}}]}}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name="hostile", definition_json=json.dumps(definition), created_by="e2e"))
    async with asyncio.timeout(60):
        while True:  # the engine learns of the host through its announcement
            listed = await engine.ListStepTypes(engine_pb2.ListStepTypesRequest())
            if any(t.type == "hostile/probe" for t in listed.step_types):
                break
            await asyncio.sleep(0.1)
        started = await engine.StartRun(engine_pb2.StartRunRequest(workflow="hostile", actor="e2e"))
        assert not started.errors and not started.unavailable, (list(started.errors), list(started.unavailable))
        while True:
            run = await storage.GetRun(storage_pb2.GetRunRequest(id=started.run.id))
            if RunState.from_number(run.state) in (RunState.SUCCEEDED, RunState.FAILED):
                break
            await asyncio.sleep(0.1)
    (step,) = run.steps
    assert RunState.from_number(run.state) == RunState.SUCCEEDED, step.error
    return dict(json.loads(step.outputs_json))


async def test_a_hostile_plugin_finds_no_secret_and_nats_refuses_it(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    _install_hostile_plugin(plugins)
    database_url = f"sqlite:///{tmp_path / 'data' / 'vwmp.db'}"
    env = platform_env(tmp_path, VWMP_PLUGINS="hostile", VWMP_PLUGIN_HOST_ENV="PYTHONPATH",
                       PYTHONPATH=str(plugins), VWMP_DATABASE_URL=database_url, VWMP_SECRET_CANARY=CANARY,
                       VWMP_ADMIN_TOKEN=ADMIN_TOKEN, VWMP_SERVICE_TOKEN=SERVICE_TOKEN)
    with running(Platform(env=env), only=("storage", "plugin-host", "engine")) as platform:
        config = platform.nats_config_file
        assert config.stat().st_mode & 0o777 == 0o600
        engine = platform.nats_users["engine"]
        watcher = await nats.connect(platform.env["VWMP_NATS_URL"], user=engine.name, password=engine.password)
        seen: list[str] = []

        async def record(msg: Any) -> None:
            seen.append(msg.subject)

        await watcher.subscribe(f"vwmp.events.{FORGED_RUN}", cb=record)
        await watcher.subscribe("vwmp.engine.control.>", cb=record)
        try:
            outputs = await _run_probe(platform)
            await asyncio.sleep(0.5)
            kv = await plugin_hosts_bucket(watcher.jetstream())
            with pytest.raises(KeyNotFoundError):
                await kv.get(VICTIM_KEY)
            host_keys = await kv.keys()
        finally:
            await watcher.close()

    names = set(outputs["names"])
    for forbidden in ("VWMP_DATABASE_URL", "VWMP_SECRET_CANARY", "VWMP_ADMIN_TOKEN", "VWMP_SERVICE_TOKEN",
                      "VWMP_STORAGE_PORT", "VWMP_ENGINE_PORT", "VWMP_DATA_DIR"):
        assert forbidden not in names, forbidden
    assert {"PATH", "VWMP_NATS_USER", "VWMP_PLUGIN_HOST_TOKEN", "PYTHONPATH"} <= names
    hashes = set(outputs["value_hashes"])
    others = [u.password for name, u in platform.nats_users.items() if name != "plugin-host"]
    for secret in (database_url, CANARY, ADMIN_TOKEN, SERVICE_TOKEN, *others):
        assert _sha(secret) not in hashes, "a platform secret reached the plugin's environment"

    errors = "\n".join(outputs["errors"]).lower()  # the client lower-cases the server's message
    assert f'violation for publish to "vwmp.events.{FORGED_RUN}"' in errors, errors
    assert f'violation for publish to "vwmp.engine.control.{FORGED_RUN}"' in errors, errors
    assert 'violation for subscription to "vwmp.events.>"' in errors, errors
    assert f'violation for publish to "$kv.vwmp_plugin_hosts.{VICTIM_KEY}"' in errors, errors
    assert outputs["victim_put"].startswith("refused"), outputs["victim_put"]
    assert seen == [], f"NATS delivered what the plugin published: {seen}"
    assert host_keys and all(key.startswith("plugin-host.") for key in host_keys), host_keys
