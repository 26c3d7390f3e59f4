"""Hostile request bodies: bad JSON/YAML with line and column, duplicate keys, alias bombs, size."""

from __future__ import annotations

import pytest
from vwmp_gateway.settings import GatewaySettings

PROBLEM = "application/problem+json"
YAML = {"Content-Type": "application/yaml"}


async def post(client, headers, content: str | bytes, yaml: bool = False):
    extra = YAML if yaml else {"Content-Type": "application/json"}
    return await client.post("/api/v1/workflows/validate", content=content, headers={**headers("viewer"), **extra})


async def test_bad_json_is_400_with_line_and_column(client, headers) -> None:
    response = await post(client, headers, '{\n  "a": 1,\n  "b": }')
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["line"], body["column"]) == (3, 8)
    assert "line 3, column 8" in body["detail"]


async def test_bad_yaml_is_400_with_line_and_column(client, headers) -> None:
    response = await post(client, headers, "a: 1\nb: [1, 2\nc: 3\n", yaml=True)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["line"] == 3


@pytest.mark.parametrize(("text", "yaml"), [('{"a": 1, "a": 2}', False), ("a: 1\nb: 2\na: 3\n", True)])
async def test_duplicate_keys_are_refused(client, headers, text, yaml) -> None:
    response = await post(client, headers, text, yaml=yaml)
    assert response.status_code == 400
    assert "duplicate key 'a'" in response.json()["detail"]


async def test_alias_bomb_is_refused(client, headers) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    response = await post(client, headers, "\n".join(lines) + "\n", yaml=True)
    assert response.status_code == 400
    assert "alias bomb" in response.json()["detail"]


async def test_benign_anchors_are_fine_and_dates_stay_text(client, headers, definition) -> None:
    import yaml

    document = definition("anchors")
    text = yaml.safe_dump(document) + "x-defaults: &d {a: 1}\n"
    response = await post(client, headers, text.replace("x-defaults: &d {a: 1}\n", ""), yaml=True)
    assert response.json()["valid"] is True
    dated = await post(client, headers, "metadata: {name: a, description: 2024-01-01}\n", yaml=True)
    assert dated.status_code == 200  # a date is text, not a 500


@pytest.mark.parametrize("text", ["", "   ", "[1, 2]", "42", "NaN", '{"a": NaN}'])
async def test_not_an_object_is_400(client, headers, text) -> None:
    response = await post(client, headers, text)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


async def test_yaml_binary_and_deep_nesting_are_400(client, headers) -> None:
    assert (await post(client, headers, "a: !!binary aGVsbG8=\n", yaml=True)).status_code == 400
    assert (await post(client, headers, "a: " + "[" * 100 + "]" * 100, yaml=True)).status_code == 400
    assert (await post(client, headers, '{"a": ' + "[" * 100000 + "]" * 100000 + "}")).status_code == 400


async def test_not_utf8_is_400(client, headers) -> None:
    assert (await post(client, headers, b"\xff\xfe{}")).status_code == 400


async def test_oversize_body_is_413_problem(client, headers) -> None:
    big = '{"a": "' + "x" * (GatewaySettings.model_fields["max_body_bytes"].default + 10) + '"}'
    response = await post(client, headers, big)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_oversize_body_without_length_is_413(client, headers) -> None:
    async def chunks():
        for _ in range(GatewaySettings.model_fields["max_body_bytes"].default // 100_000 + 2):
            yield b"x" * 100_000

    response = await client.post("/api/v1/workflows", content=chunks(), headers={
        **headers("editor"), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_unknown_api_route_is_404_problem(client, headers) -> None:
    response = await client.get("/api/v1/nothing-here", headers=headers("viewer"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
