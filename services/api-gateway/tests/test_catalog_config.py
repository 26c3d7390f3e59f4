"""Catalog, schemas, configuration, the bootstrap admin token and the designer's static files."""

from __future__ import annotations

import os
import stat

from vwmp_common.schemas import workflow_schema
from vwmp_gateway.app import create_app
from vwmp_gateway.auth import TokenVerifier
from vwmp_gateway.bootstrap import ensure_admin_token

PROBLEM = "application/problem+json"


async def test_palette_is_the_core_step_types_plus_what_live_plugin_hosts_announce(client, headers) -> None:
    types = (await client.get("/api/v1/step-types", headers=headers("viewer"))).json()
    by_type = {item["type"]: item for item in types["items"]}
    assert types["total"] == len(types["items"])
    assert {"core/noop", "core/sleep", "core/approval", "testkit/echo", "testkit/slow"} <= set(by_type)
    for item in types["items"]:
        assert set(item) == {"type", "plugin", "title", "description", "config_schema", "outputs_schema", "icon",
                             "effects"}
    assert by_type["core/approval"]["plugin"] == "core"
    assert by_type["core/sleep"]["config_schema"]["required"] == ["seconds"]
    echo = by_type["testkit/echo"]
    assert echo["plugin"] == "testkit" and "value" in echo["config_schema"]["properties"]
    assert "value" in echo["outputs_schema"]["properties"]


async def test_templates_come_from_the_plugin_hosts(client, headers) -> None:
    templates = (await client.get("/api/v1/templates", headers=headers("viewer"))).json()["items"]
    template = next(t for t in templates if t["name"] == "testkit-echo")
    assert set(template) == {"name", "plugin", "workflow_type", "title", "description", "definition"}
    assert (template["plugin"], template["workflow_type"]) == ("testkit", "testkit")
    assert template["definition"]["spec"]["steps"][0]["uses"] == "testkit/echo"
    valid = await client.post("/api/v1/workflows/validate", json=template["definition"], headers=headers("viewer"))
    assert valid.json() == {"valid": True, "errors": []}


async def test_workflow_schema_is_the_published_one(client, headers) -> None:
    response = await client.get("/api/v1/schemas/workflow", headers=headers("viewer"))
    assert response.json() == workflow_schema()


async def test_config_get_put_if_match_and_invalid(client, headers) -> None:
    current = await client.get("/api/v1/config", headers=headers("viewer"))
    assert current.status_code == 200
    body = current.json()
    assert set(body) == {"version", "document", "updated_at", "updated_by"}
    schema = await client.get("/api/v1/config/schema", headers=headers("viewer"))
    assert schema.status_code == 200 and schema.json().get("type") == "object"
    first = await client.put("/api/v1/config", json={"document": body["document"]}, headers=headers("admin"))
    assert first.status_code == 200, first.text
    saved = await client.put("/api/v1/config", json={"document": body["document"]},
                             headers={**headers("admin"), "If-Match": first.headers["etag"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == first.json()["version"] + 1 and saved.json()["updated_by"] == "admin-bot"
    stale = await client.put("/api/v1/config", json={"document": body["document"]},
                             headers={**headers("admin"), "If-Match": first.headers["etag"]})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    invalid = await client.put("/api/v1/config", json={"document": {"no_such_setting": 1}}, headers=headers("admin"))
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["pointer"] == "/no_such_setting"
    denied = await client.put("/api/v1/config", json={"document": {}}, headers=headers("operator"))
    assert denied.status_code == 403


async def test_bootstrap_writes_an_admin_token_once_with_mode_0600(backend, tmp_path) -> None:
    import grpc
    from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

    path = tmp_path / "data" / "admin-token"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.storage_port}") as channel:
        storage = StorageServiceStub(channel)
        assert await ensure_admin_token(storage, path) is True
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        secret = path.read_text().strip()
        principal = await TokenVerifier(storage, 0, None).verify(secret)
        assert principal.role == "admin"
        assert await ensure_admin_token(storage, path) is False
        assert path.read_text().strip() == secret


async def test_frontend_is_served_with_spa_fallback(settings, tmp_path) -> None:
    import httpx

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>designer</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("nope")
    app = create_app(settings.model_copy(update={"frontend_dir": dist}))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert "designer" in (await client.get("/")).text
        assert (await client.get("/assets/app.js")).text == "console.log(1)"
        assert "designer" in (await client.get("/runs/123")).text
        assert "nope" not in (await client.get("/../secret.txt")).text
        assert "nope" not in (await client.get("/%2e%2e/secret.txt")).text
        api = await client.get("/api/v1/nope")
        assert api.status_code == 404 and api.headers["content-type"] == PROBLEM
        assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
