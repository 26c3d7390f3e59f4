"""Roles on every route (the full matrix), tokens, revocation, audit exactly once, rate limit."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest
from vwmp_gateway.rbac import DENY_ALL, RANK, ROLES, ROUTE_RULES, rule_for

PROBLEM = "application/problem+json"


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "version" else "x", path)


def _operations(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    schema = client.app.openapi()
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


async def test_every_route_has_an_explicit_rule_and_no_rule_is_stale(client) -> None:
    operations = {(method, path) for method, path, _ in _operations(client)}
    for method, path in operations:
        assert rule_for(method, path) is not DENY_ALL, f"{method} {path} is missing from ROUTE_RULES"
    http_rules = {key for key in ROUTE_RULES if key[0] != "WS"}
    assert http_rules == operations


async def test_role_matrix_every_route_times_every_role(client, headers) -> None:
    checked = 0
    for method, path, _ in _operations(client):
        minimum = rule_for(method, path).role
        url = _fill(path)
        for role in (None, *ROLES):
            request_headers = headers(role) if role else {}
            response = await client.request(method, url, headers=request_headers, json={})
            where = f"{method} {path} as {role}: {response.status_code} {response.text[:200]}"
            assert response.status_code < 500, where
            if minimum is None:
                assert response.status_code not in (401, 403), where
            elif role is None:
                assert response.status_code == 401, where
                assert response.headers["content-type"] == PROBLEM, where
                assert response.headers["www-authenticate"].startswith("Bearer"), where
            elif RANK[role] >= RANK[minimum]:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
                assert response.headers["content-type"] == PROBLEM, where
            checked += 1
    assert checked == len(_operations(client)) * 5


@pytest.mark.parametrize("value", ["Bearer", "Basic abc", "Bearer nope", "Bearer " + "x" * 600])
async def test_bad_tokens_are_401(client, value) -> None:
    response = await client.get("/api/v1/runs", headers={"Authorization": value})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


async def test_public_paths_need_no_token(client) -> None:
    for path in ("/api/v1/health", "/openapi.json", "/docs", "/metrics"):
        response = await client.get(path)
        assert response.status_code == 200, path
    assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
    assert "vwmp_http_requests_total" in (await client.get("/metrics")).text


async def test_me_names_the_token_and_its_role(client, headers, backend) -> None:
    created = await client.post("/api/v1/tokens", json={"name": "release-lead", "role": "operator"},
                                headers=headers("admin"))
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {created.json()['token']}"})
    assert me.status_code == 200 and me.json() == {"name": "release-lead", "role": "operator"}
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_token_create_list_revoke_and_revoked_token_is_401_at_once(client, headers) -> None:
    created = await client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer", "expires_in": "1d"},
                                headers=headers("admin"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert {"id", "token", "name", "role", "created_at", "expires_at", "revoked_at", "created_by"} == set(body)
    assert body["expires_at"] is not None and body["revoked_at"] is None
    assert created.headers["cache-control"] == "no-store"
    own = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/api/v1/runs", headers=own)).status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=headers("admin"))).json()["items"]
    assert body["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "secret" not in t for t in listed)
    revoked = await client.delete(f"/api/v1/tokens/{body['id']}", headers=headers("admin"))
    assert revoked.status_code == 204
    after = await client.get("/api/v1/runs", headers=own)
    assert after.status_code == 401 and after.headers["content-type"] == PROBLEM
    missing = await client.delete("/api/v1/tokens/does-not-exist", headers=headers("admin"))
    assert missing.status_code == 404


async def test_revocation_elsewhere_takes_effect_within_the_cache_ttl(make_client, backend) -> None:
    token, secret = backend.storage.tokens.create("elsewhere", "viewer", 0, "tests")
    async with make_client(token_cache_seconds=0.3) as client:
        own = {"Authorization": f"Bearer {secret}"}
        assert (await client.get("/api/v1/runs", headers=own)).status_code == 200
        backend.storage.tokens.revoke(token.id)
        await asyncio.sleep(0.4)
        assert (await client.get("/api/v1/runs", headers=own)).status_code == 401


async def test_expired_token_is_401(client, headers) -> None:
    created = await client.post("/api/v1/tokens", json={"name": "short", "role": "viewer", "expires_in": 1},
                                headers=headers("admin"))
    own = {"Authorization": f"Bearer {created.json()['token']}"}
    await asyncio.sleep(1.3)
    assert (await client.get("/api/v1/runs", headers=own)).status_code == 401


@pytest.mark.parametrize("body", [{"name": "x", "role": "root"}, {"name": "", "role": "viewer"},
                                  {"name": "x", "role": "viewer", "expires_in": "soon"},
                                  {"name": "x", "role": "viewer", "expires_in": -5}])
async def test_bad_token_requests_are_422(client, headers, body) -> None:
    response = await client.post("/api/v1/tokens", json=body, headers=headers("admin"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["pointer"].startswith(("/body", "/expires_in"))


async def test_env_admin_token_is_accepted_as_admin(make_client) -> None:
    async with make_client(admin_token="env-secret-123") as client:
        response = await client.get("/api/v1/audit", headers={"Authorization": "Bearer env-secret-123"})
        assert response.status_code == 200


def _entries(backend: Any, target: str) -> list[Any]:
    return [e for e in backend.audit() if e.target == target]


async def test_mutating_calls_are_audited_exactly_once(client, headers, backend, definition) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    await client.get(f"/api/v1/workflows/{name}", headers=headers("viewer"))
    entries = _entries(backend, f"workflows/{name}")
    assert [(e.actor, e.action, e.outcome) for e in entries] == [("editor-bot", "workflow.create", "ok")]

    run = (await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "patch"}},
                             headers=headers("operator"))).json()
    await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))
    await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))
    await client.post(f"/api/v1/runs/{run['id']}/pause", headers=headers("viewer"))
    controls = [(e.actor, e.action, e.outcome) for e in reversed(_entries(backend, f"runs/{run['id']}"))]
    assert controls == [
        ("operator-bot", "run.cancel", "ok"),
        ("operator-bot", "run.cancel", "error"),
        ("viewer-bot", "run.pause", "denied"),
    ]
    started = _entries(backend, f"workflows/{name}/runs")
    assert [(e.action, e.outcome) for e in started] == [("run.start", "ok")]


async def test_denied_reads_are_audited_and_allowed_reads_are_not(client, headers, backend) -> None:
    before = len(backend.audit("audit.list"))
    await client.get("/api/v1/audit", headers=headers("admin"))
    await client.get("/api/v1/audit", headers=headers("operator"))
    await client.get("/api/v1/audit")
    after = backend.audit("audit.list")[: len(backend.audit("audit.list")) - before]
    assert sorted((e.actor, e.outcome) for e in after) == [("anonymous", "denied"), ("operator-bot", "denied")]


async def test_audit_never_holds_secrets_or_bodies(client, headers, backend) -> None:
    created = (await client.post("/api/v1/tokens", json={"name": "canary", "role": "viewer"},
                                 headers=headers("admin"))).json()
    await client.put("/api/v1/config", json={"document": {"canary": "hunter2-canary"}}, headers=headers("admin"))
    dump = json.dumps([e.__dict__ if hasattr(e, "__dict__") else repr(e) for e in backend.audit()], default=str)
    dump += repr(backend.audit())
    assert created["token"] not in dump
    assert "hunter2-canary" not in dump
    assert [e.action for e in _entries(backend, f"tokens/{created['id']}")] == ["token.create"]


async def test_get_audit_is_newest_first(client, headers) -> None:
    response = await client.get("/api/v1/audit", params={"limit": 5}, headers=headers("admin"))
    items = response.json()["items"]
    assert len(items) <= 5 and set(items[0]) == {"at", "actor", "action", "target", "outcome"}
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)


async def test_rate_limit_is_429_with_retry_after(make_client, headers) -> None:
    async with make_client(rate_limit=1.0, rate_burst=3) as client:
        statuses = [(await client.get("/api/v1/runs", headers=headers("viewer"))).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        limited = await client.get("/api/v1/runs", headers=headers("viewer"))
        assert limited.status_code == 429
        assert limited.headers["content-type"] == PROBLEM
        assert int(limited.headers["retry-after"]) >= 1
        other = await client.get("/api/v1/runs", headers=headers("editor"))
        assert other.status_code == 200  # per token
