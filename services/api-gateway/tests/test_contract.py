"""Fast checks of the OpenAPI contract (contract.py): what each route declares, the schemas of what
clients send, and the answers the declarations promise. tests/e2e/test_openapi_contract.py runs
schemathesis over all of it against the whole platform."""

from __future__ import annotations

import re
from typing import Any

import pytest
from vwmp_gateway.contract import AllowedMethods
from vwmp_gateway.hardening import FORBIDDEN, SAFE_TEXT_PATTERN
from vwmp_gateway.lifetimes import LIFETIME_PATTERN, MAX_LIFETIME, UNITS, lifetime_seconds, up_to
from vwmp_gateway.openapi import document

PROBLEM = "application/problem+json"


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, methods in document()["paths"].items()
            for method, operation in methods.items()]


def test_every_error_a_route_declares_is_problem_json_and_the_common_ones_are_everywhere() -> None:
    for path, method, operation in operations():
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert "400" in responses, where  # a control character in the URL is refused on every route
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}, (
                    where, status)
        if "{" in path:
            assert "404" in responses, where
        if operation["security"]:
            assert {"401", "403", "429", "503"} <= set(responses), where
        if "requestBody" in operation:
            assert {"413", "422"} <= set(responses), where


def test_the_statuses_routes_are_known_to_answer_are_declared() -> None:
    paths = document()["paths"]
    assert "409" in paths["/api/v1/workflows"]["post"]["responses"]  # already exists
    assert "409" in paths["/api/v1/runs/{run_id}/cancel"]["post"]["responses"]  # already finished
    assert "412" in paths["/api/v1/workflows/{name}"]["put"]["responses"]  # stale If-Match
    assert "412" in paths["/api/v1/config"]["put"]["responses"]
    assert "503" in paths["/api/v1/workflows/{name}/runs"]["post"]["responses"]  # no live plugin host
    assert set(paths["/api/v1/health"]["get"]["responses"]) == {"200", "400"}
    assert "HTTPValidationError" not in document()["components"]["schemas"]


def test_token_routes_name_the_bearer_scheme_and_public_ones_none() -> None:
    doc = document()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    public = {(m, p) for p, m, o in operations() if o["security"] == []}
    assert public == {("get", "/api/v1/health"), ("get", "/api/v1/ready"),
                      ("post", "/api/v1/hooks/{workflow}/{trigger_id}")}


def test_a_created_resource_links_to_what_is_done_with_it_next() -> None:
    links = document()["paths"]["/api/v1/workflows/{name}/runs"]["post"]["responses"]["201"]["links"]
    assert links["GetRun"] == {"operationId": "runs-get_run", "parameters": {"run_id": "$response.body#/id"}}
    ids = {o["operationId"] for _, _, o in operations()}
    for path_item in document()["paths"].values():
        for operation in path_item.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids


def test_optional_query_and_header_parameters_are_never_declared_nullable() -> None:
    for path, method, operation in operations():
        for parameter in operation.get("parameters", []):
            assert "anyOf" not in parameter["schema"], (method, path, parameter["name"])


def test_the_safe_text_pattern_accepts_exactly_what_the_gateway_accepts() -> None:
    safe = re.compile(SAFE_TEXT_PATTERN)
    for code in [*range(0, 0x3000), 0xFEFF, 0x1F600]:
        text = f"a{chr(code)}b"
        assert bool(safe.match(text)) == (FORBIDDEN.search(text) is None), hex(code)


def test_the_free_json_schemas_refuse_control_characters_in_keys_and_strings() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["SafeJsonObject"]["propertyNames"] == {"pattern": SAFE_TEXT_PATTERN}
    assert {"type": "string", "pattern": SAFE_TEXT_PATTERN} in schemas["SafeJsonValue"]["anyOf"]
    parameters = schemas["RunCreate"]["properties"]["parameters"]
    assert parameters["allOf"] == [{"$ref": "#/components/schemas/SafeJsonObject"}]
    email = schemas["ConfigDocument"]["properties"]["git"]["properties"]["author_email"]["pattern"]
    assert re.match(email, "release@example.org") and not re.match(email, "rel\u0004ease@example.org")
    step = schemas["WorkflowDefinition_step"]
    assert step["properties"]["with"] == {"$ref": "#/components/schemas/SafeJsonObject",
                                          "description": step["properties"]["with"]["description"]}


@pytest.mark.parametrize("limit", [1, 9, 10, 99, 100, 521, 3650, 87600])
def test_up_to_matches_exactly_one_to_the_limit(limit: int) -> None:
    pattern = re.compile(f"^{up_to(limit)}$")
    assert [n for n in range(0, limit * 3 + 20) if pattern.match(str(n))] == list(range(1, limit + 1))
    assert not pattern.match(f"0{limit}")


def test_a_lifetime_is_accepted_by_the_pattern_exactly_when_it_is_at_most_ten_years() -> None:
    pattern = re.compile(LIFETIME_PATTERN)
    for unit, seconds in UNITS.items():
        most = MAX_LIFETIME // seconds
        assert pattern.match(f"{most}{unit}") and lifetime_seconds(f"{most}{unit}") == most * seconds
        assert not pattern.match(f"{most + 1}{unit}") and lifetime_seconds(f"{most + 1}{unit}") is None
    assert lifetime_seconds("45") == 45 and lifetime_seconds("0s") is None and lifetime_seconds("soon") is None


def test_allow_names_the_methods_of_the_most_specific_path() -> None:
    allowed = AllowedMethods(document())
    assert allowed.of("/api/v1/config") == ["GET", "PUT"]
    assert allowed.of("/api/v1/tokens") == ["GET", "POST"]
    assert allowed.of("/api/v1/workflows/validate") == ["POST"]
    assert allowed.of("/api/v1/workflows/hello") == ["DELETE", "GET", "PUT"]
    assert allowed.of("/api/v1/nothing-here") == []


async def test_a_405_lists_every_method_of_the_path_in_allow(client, headers) -> None:
    for path, allow in (("/api/v1/config", "GET, PUT"), ("/api/v1/tokens", "GET, POST")):
        answer = await client.request("PATCH", path, headers=headers())
        assert answer.status_code == 405, answer.text
        assert answer.headers["allow"] == allow
        assert answer.headers["content-type"] == PROBLEM
        assert allow in answer.json()["detail"]


@pytest.mark.parametrize("value", ["tT", "", "null", '"0"', "-1", "1.5", "9999999999"])
async def test_a_malformed_if_match_is_a_422_naming_the_header(client, headers, definition, value: str) -> None:
    answer = await client.put("/api/v1/workflows/contract-if-match", json=definition("contract-if-match"),
                              headers={**headers(), "If-Match": value})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"pointer": "/header/If-Match",
                                        "message": 'must be a workflow version number, e.g. "3"'}]


async def test_a_malformed_config_if_match_is_a_422_too(client, headers) -> None:
    answer = await client.put("/api/v1/config", json={"document": {}}, headers={**headers(), "If-Match": "tT"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["pointer"] == "/header/If-Match"


@pytest.mark.parametrize("body, pointer", [
    ({"dry_run": 0}, "/body/dry_run"),
    ({"version": "1"}, "/body/version"),
    ({"version": True}, "/body/version"),
    ({"version": 1.5}, "/body/version"),
])
async def test_a_run_start_refuses_what_the_schema_calls_the_wrong_type(client, headers, body, pointer) -> None:
    answer = await client.post("/api/v1/workflows/no-such-workflow/runs", json=body, headers=headers())
    assert answer.status_code == 422, answer.text
    assert pointer in [error["pointer"] for error in answer.json()["errors"]]


async def test_an_integral_float_is_an_integer_as_json_schema_says(client, headers) -> None:
    answer = await client.post("/api/v1/workflows/no-such-workflow/runs", json={"version": 1.0}, headers=headers())
    assert answer.status_code == 404, answer.text  # accepted as version 1, and there is no such workflow
    created = await client.post("/api/v1/tokens", json={"name": "contract-float", "role": "viewer",
                                                        "expires_in": 3600.0}, headers=headers())
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("lifetime", ["3651d", "522w", " 30m", "0030m", "0", -5, 315360001, True, 1.5, [], {}])
async def test_a_lifetime_over_ten_years_or_malformed_is_refused_naming_the_field(client, headers, lifetime) -> None:
    answer = await client.post("/api/v1/tokens", json={"name": "contract-life", "role": "viewer",
                                                       "expires_in": lifetime}, headers=headers())
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/expires_in"], answer.text


async def test_a_comment_with_a_bidi_override_is_refused_with_the_character_named(client, headers) -> None:
    answer = await client.post("/api/v1/runs/some-run/steps/approve/reject", json={"comment": "ok\u202e"},
                               headers=headers("operator"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0] == {"pointer": "/comment",
                                          "message": "control or bidi character U+202E at character 2 is not allowed"}


@pytest.mark.parametrize("moment", ["0.5", "1733220000", "2026-12-03", "yesterday"])
async def test_a_run_search_moment_must_be_a_date_time(client, headers, moment: str) -> None:
    answer = await client.get("/api/v1/runs", params={"until": moment}, headers=headers())
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["pointer"] == "/query/until"
    assert "ISO 8601 date-time" in answer.json()["errors"][0]["message"]


async def test_a_run_search_moment_in_rfc_3339_is_accepted(client, headers) -> None:
    for moment in ("2026-12-03T10:00:00Z", "2026-12-03T10:00:00.5+01:00", "2026-12-03T10:00"):
        answer = await client.get("/api/v1/runs", params={"since": moment}, headers=headers())
        assert answer.status_code == 200, (moment, answer.text)
