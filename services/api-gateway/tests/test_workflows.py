"""Workflow definitions over REST: JSON and YAML, versions, If-Match, archive, validation, shapes."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

PROBLEM = "application/problem+json"


def unique(prefix: str = "wf") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create(client: Any, headers: Any, body: dict[str, Any]) -> Any:
    response = await client.post("/api/v1/workflows", json=body, headers=headers("editor"))
    assert response.status_code == 201, response.text
    return response


async def test_create_from_json_returns_the_workflow_shape(client, headers, definition) -> None:
    name = unique()
    response = await create(client, headers, definition(name))
    body = response.json()
    assert set(body) == {"name", "version", "definition", "created_at", "created_by"}
    assert body["name"] == name and body["version"] == 1
    assert body["definition"] == definition(name)
    assert body["created_by"] == "editor-bot"
    assert body["created_at"].endswith("Z")
    assert response.headers["location"] == f"/api/v1/workflows/{name}"
    assert response.headers["etag"] == '"1"'


async def test_create_from_yaml(client, headers, definition) -> None:
    name = unique()
    text = yaml.safe_dump(definition(name))
    response = await client.post("/api/v1/workflows", content=text,
                                 headers={**headers("editor"), "Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    assert response.json()["definition"]["spec"]["steps"][0]["id"] == "build"


async def test_create_twice_is_409(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    again = await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM


async def test_invalid_definition_is_422_with_pointers(client, headers, definition) -> None:
    bad = definition(unique())
    bad["spec"]["steps"][1]["needs"] = ["nope"]
    response = await client.post("/api/v1/workflows", json=bad, headers=headers("editor"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [{"pointer": "/spec/steps/1/needs/0",
                                         "message": "needs unknown step 'nope'"}]


async def test_missing_name_is_422_at_metadata_name(client, headers, definition) -> None:
    bad = definition("x")
    del bad["metadata"]["name"]
    response = await client.post("/api/v1/workflows", json=bad, headers=headers("editor"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/metadata/name"


async def test_get_list_versions_and_one_version(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    changed = definition(name)
    changed["metadata"]["description"] = "second"
    put = await client.put(f"/api/v1/workflows/{name}", json=changed, headers={**headers("editor"), "If-Match": '"1"'})
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    latest = await client.get(f"/api/v1/workflows/{name}", headers=headers("viewer"))
    assert latest.json()["version"] == 2 and latest.headers["etag"] == '"2"'
    versions = await client.get(f"/api/v1/workflows/{name}/versions", headers=headers("viewer"))
    assert [w["version"] for w in versions.json()["items"]] == [1, 2]
    first = await client.get(f"/api/v1/workflows/{name}/versions/1", headers=headers("viewer"))
    assert first.json()["definition"]["metadata"]["description"] == "test"
    listed = await client.get("/api/v1/workflows", headers=headers("viewer"))
    assert name in [w["name"] for w in listed.json()["items"]]
    assert listed.json()["total"] == len(listed.json()["items"])


async def test_stale_if_match_is_412(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    ok = await client.put(f"/api/v1/workflows/{name}", json=definition(name),
                          headers={**headers("editor"), "If-Match": "1"})
    assert ok.status_code == 200
    stale = await client.put(f"/api/v1/workflows/{name}", json=definition(name),
                             headers={**headers("editor"), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["status"] == 412


async def test_put_without_if_match_saves_a_new_version(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    put = await client.put(f"/api/v1/workflows/{name}", json=definition(name), headers=headers("editor"))
    assert put.json()["version"] == 2


async def test_put_with_another_name_is_422(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    put = await client.put(f"/api/v1/workflows/{name}", json=definition("other"), headers=headers("editor"))
    assert put.status_code == 422
    assert put.json()["errors"][0]["pointer"] == "/metadata/name"


async def test_archive_hides_from_list_but_keeps_versions(client, headers, definition) -> None:
    name = unique()
    await create(client, headers, definition(name))
    deleted = await client.delete(f"/api/v1/workflows/{name}", headers=headers("editor"))
    assert deleted.status_code == 204
    listed = await client.get("/api/v1/workflows", headers=headers("viewer"))
    assert name not in [w["name"] for w in listed.json()["items"]]
    versions = await client.get(f"/api/v1/workflows/{name}/versions", headers=headers("viewer"))
    assert versions.status_code == 200


async def test_unknown_workflow_is_404_problem(client, headers, definition) -> None:
    response = await client.get("/api/v1/workflows/does-not-exist", headers=headers("viewer"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)


async def test_validate_lists_errors_with_pointers(client, headers, definition) -> None:
    good = await client.post("/api/v1/workflows/validate", json=definition("ok"), headers=headers("viewer"))
    assert good.json() == {"valid": True, "errors": []}
    bad = definition("ok")
    bad["spec"]["steps"][0]["uses"] = "Not A Type"
    response = await client.post("/api/v1/workflows/validate", json=bad, headers=headers("viewer"))
    body = response.json()
    assert response.status_code == 200 and body["valid"] is False
    assert body["errors"][0]["pointer"] == "/spec/steps/0/uses"


async def test_validate_reports_the_plugins_own_rules_at_the_field(client, headers, definition) -> None:
    """A pydantic validator of the step's config model runs on the plugin host at validate and save time."""
    bad = definition("own-rules")
    bad["spec"]["steps"] = [{"id": "boom", "uses": "testkit/fail", "with": {"kind": "explode"}},
                            {"id": "later", "uses": "testkit/fail", "with": {"kind": "${{ params.kind }}"}}]
    bad["spec"]["parameters"] = {"type": "object", "properties": {"kind": {"type": "string"}}}
    response = await client.post("/api/v1/workflows/validate", json=bad, headers=headers("viewer"))
    assert response.status_code == 200
    assert response.json()["errors"] == [
        {"pointer": "/spec/steps/0/with/kind", "message": "must be error, config or denied"}]
    saved = await client.post("/api/v1/workflows", json=bad, headers=headers("editor"))
    assert saved.status_code == 422 and saved.json()["errors"][0]["pointer"] == "/spec/steps/0/with/kind"
    bad["spec"]["steps"][0]["with"]["kind"] = "denied"
    assert (await client.post("/api/v1/workflows/validate", json=bad, headers=headers("viewer"))).json()["valid"]


async def test_validate_accepts_yaml(client, headers, definition) -> None:
    response = await client.post("/api/v1/workflows/validate", content=yaml.safe_dump(definition("ok")),
                                 headers={**headers("viewer"), "Content-Type": "application/yaml"})
    assert response.json()["valid"] is True
