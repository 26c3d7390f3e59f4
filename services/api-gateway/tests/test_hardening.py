"""Hostile input: control and bidi characters, nesting, step counts, Origin on both WebSockets.

Every case is refused with a pointed 4xx problem or stored and returned JSON-escaped; never a 500.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import httpx
import pytest
from vwmp_gateway.hardening import MAX_PARAMETER_DEPTH, MAX_STEPS
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

PROBLEM = "application/problem+json"
HOSTILE = ["\u202e", "\u0000", "\u0007", "\u001b[31m", "\u2066", "\u0085", "\u007f"]


def _name() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def _assert_pointed(response: httpx.Response, pointer: str, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert pointer in [e["pointer"] for e in body["errors"]], body
    return body


def _where(definition: dict[str, Any], place: str, bad: str) -> tuple[dict[str, Any], str]:
    changed = copy.deepcopy(definition)
    if place == "name":
        changed["metadata"]["name"] += bad
        return changed, "/metadata/name"
    if place == "description":
        changed["metadata"]["description"] = f"harmless{bad}txt.exe"
        return changed, "/metadata/description"
    if place == "step-id":
        changed["spec"]["steps"][0]["id"] = f"build{bad}"
        return changed, "/spec/steps/0/id"
    if place == "with":
        changed["spec"]["steps"][1]["with"] = {"message": f"approve{bad}"}
        return changed, "/spec/steps/1/with/message"
    changed["spec"]["steps"][1]["with"] = {f"mess{bad}age": "x"}
    return changed, "/spec/steps/1/with"


@pytest.mark.parametrize("bad", HOSTILE, ids=lambda c: f"U+{ord(c[0]):04X}")
@pytest.mark.parametrize("place", ["name", "description", "step-id", "with", "key"])
async def test_control_and_bidi_characters_in_definitions_are_refused_with_a_pointer(
    client, headers, definition, bad, place
) -> None:
    document, pointer = _where(definition(_name()), place, bad)
    created = await client.post("/api/v1/workflows", json=document, headers=headers("editor"))
    body = _assert_pointed(created, pointer)
    assert f"U+{ord(bad[0]):04X}" in json.dumps(body)
    assert bad not in created.text  # the character itself is never echoed raw
    validated = await client.post("/api/v1/workflows/validate", json=document, headers=headers("viewer"))
    assert validated.status_code == 200
    assert validated.json()["valid"] is False
    assert pointer in [e["pointer"] for e in validated.json()["errors"]]


async def test_bidi_characters_in_yaml_are_refused_and_raw_controls_are_bad_yaml(client, headers) -> None:
    name = _name()
    escaped = f'apiVersion: vwmp/v1\nkind: Workflow\nmetadata: {{name: {name}}}\nspec:\n  steps:\n' \
              '    - {id: "b\\u202Eexe", uses: core/noop}\n'
    yaml_headers = {**headers("editor"), "Content-Type": "application/yaml"}
    _assert_pointed(await client.post("/api/v1/workflows", content=escaped, headers=yaml_headers),
                    "/spec/steps/0/id")
    raw = escaped.replace("\\u202E", "\x00")
    refused = await client.post("/api/v1/workflows", content=raw.encode(), headers=yaml_headers)
    assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
    assert "line" in refused.json()
    assert (await client.get(f"/api/v1/workflows/{name}", headers=headers("viewer"))).status_code == 404


async def test_tabs_newlines_and_right_to_left_text_are_stored_and_returned_escaped(
    client, headers, definition
) -> None:
    document = definition(_name())
    document["metadata"]["description"] = "line one\n\tline two — مرحبا \u200f(RLM is a mark, not an override)"
    created = await client.post("/api/v1/workflows", json=document, headers=headers("editor"))
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["metadata"]["description"] == document["metadata"]["description"]
    assert "\n" not in created.text and "\t" not in created.text  # JSON-escaped on the wire


@pytest.mark.parametrize("bad", HOSTILE, ids=lambda c: f"U+{ord(c[0]):04X}")
async def test_control_characters_in_parameters_are_refused_with_a_pointer(client, headers, definition, bad) -> None:
    name = _name()
    assert (await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))).status_code == 201
    for parameters, pointer in (({"part": f"patch{bad}"}, "/parameters/part"),
                                ({"part": "patch", "notes": [1, {"x": bad}]}, "/parameters/notes/1/x")):
        started = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": parameters},
                                    headers=headers("operator"))
        _assert_pointed(started, pointer)


async def test_nesting_limits_for_parameters_with_and_configuration(client, headers, definition) -> None:
    name = _name()
    assert (await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))).status_code == 201
    deep = {"part": "patch", "deep": _nested(MAX_PARAMETER_DEPTH + 5)}
    started = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": deep},
                                headers=headers("operator"))
    assert started.status_code == 422 and "nested deeper" in started.text
    assert started.json()["errors"][0]["pointer"].startswith("/parameters/deep/a/a")
    shallow = {"part": "patch", "ok": _nested(5)}
    ok = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": shallow},
                           headers=headers("operator"))
    assert ok.status_code == 201, ok.text

    document = definition(_name())
    document["spec"]["steps"][1]["with"] = {"message": "x", "deep": _nested(80)}
    refused = await client.post("/api/v1/workflows", json=document, headers=headers("editor"))
    assert refused.status_code == 422 and "nested deeper than 64" in refused.text
    assert refused.json()["errors"][0]["pointer"].startswith("/spec/steps/1/with/deep/a")
    very_deep = '{"a":' * 5000 + "1" + "}" * 5000
    crushed = await client.post("/api/v1/workflows", content=very_deep, headers=headers("editor"))
    assert crushed.status_code in (400, 422) and crushed.headers["content-type"] == PROBLEM

    config = await client.put("/api/v1/config", json={"document": {"x": _nested(40)}}, headers=headers("admin"))
    assert config.status_code == 422 and config.json()["errors"][0]["pointer"].startswith("/document/x")
    nul = await client.put("/api/v1/config", json={"document": {"git": {"author_name": "a\u0000b"}}},
                           headers=headers("admin"))
    _assert_pointed(nul, "/document/git/author_name")


async def test_more_steps_than_the_limit_are_refused_at_spec_steps(client, headers, definition) -> None:
    steps = [{"id": f"s{i}", "uses": "core/noop"} for i in range(MAX_STEPS + 1)]
    document = definition(_name(), steps)
    _assert_pointed(await client.post("/api/v1/workflows", json=document, headers=headers("editor")), "/spec/steps")
    validated = await client.post("/api/v1/workflows/validate", json=document, headers=headers("viewer"))
    assert validated.json()["valid"] is False
    assert "/spec/steps" in [e["pointer"] for e in validated.json()["errors"]]


async def test_control_characters_in_a_decision_comment_are_refused(client, headers) -> None:
    refused = await client.post("/api/v1/runs/some-run/steps/approve/approve",
                                json={"comment": "ok\u202e"}, headers=headers("operator"))
    _assert_pointed(refused, "/comment")


@pytest.mark.parametrize("url", [
    "/api/v1/runs/%E2%80%AE", "/api/v1/runs/a%00b/events", "/api/v1/runs/x/steps/b%1B/logs",
    "/api/v1/runs?workflow=%00", "/api/v1/workflows/a%E2%81%A6b",
])
async def test_control_characters_in_urls_are_400(client, headers, url) -> None:
    response = await client.get(url, headers=headers("viewer"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "control or bidi character" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/runs/{run}/stream", "/api/v1/stream"])
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example"])
async def test_both_websockets_check_the_origin(live_gateway, backend, definition, path, origin) -> None:
    admin = {"Authorization": f"Bearer {backend.tokens['admin']}"}
    async with httpx.AsyncClient(base_url=live_gateway.url) as http:
        name = _name()
        await http.post("/api/v1/workflows", json=definition(name), headers=admin)
        run = (await http.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "patch"}},
                               headers=admin)).json()
    url = live_gateway.url.replace("http://", "ws://") + path.format(run=run["id"])
    protocols: Any = ["vwmp.v1", f"bearer.{backend.tokens['viewer']}"]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, subprotocols=protocols, origin=origin):
            pass
    assert refused.value.response.status_code == 403
    async with connect(url, subprotocols=protocols, origin=live_gateway.url):
        pass  # the gateway's own origin is accepted on the same socket
