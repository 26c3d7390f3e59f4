"""Readiness, and what a client sees while storage or its database is away: 503 + Retry-After, never 500."""

from __future__ import annotations

from vwmp_common.ports import free_port
from vwmp_gateway.openapi import document

PROBLEM = "application/problem+json"


async def test_ready_is_200_without_a_token_while_storage_and_its_database_answer(client) -> None:
    response = await client.get("/api/v1/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


async def test_with_storage_away_ready_and_every_route_are_503_with_retry_after_not_401_or_500(
        make_client, headers) -> None:
    async with make_client(storage_address=f"127.0.0.1:{free_port()}") as client:
        assert (await client.get("/api/v1/health")).status_code == 200  # alive: nothing to restart
        answers = {
            "ready": await client.get("/api/v1/ready"),
            # the token cannot be checked either: that is not "your token is invalid"
            "runs": await client.get("/api/v1/runs", headers=headers("viewer")),
            "start": await client.post("/api/v1/workflows/any/runs", json={"parameters": {}},
                                       headers=headers("operator")),
        }
    for name, response in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM, name
        assert response.headers["retry-after"] == "1", name
        body = response.json()
        assert body["status"] == 503 and body["detail"] == "A backend service is unavailable; try again", name
        assert "127.0.0.1" not in response.text, name  # no internal address in the answer


def test_the_openapi_declares_503_with_retry_after_on_every_operation_that_needs_a_backend() -> None:
    paths = document()["paths"]
    operations = [(path, method, operation) for path, item in paths.items() for method, operation in item.items()]
    assert len(operations) > 30
    # Liveness answers from the gateway alone: it never says 503 (contract.py declares what really occurs).
    assert "503" not in paths["/api/v1/health"]["get"]["responses"]
    for path, method, operation in operations:
        if path == "/api/v1/health":
            continue
        unavailable = operation["responses"].get("503")
        assert unavailable is not None, f"{method.upper()} {path} does not declare 503"
        assert "Retry-After" in unavailable["headers"], f"{method.upper()} {path}"
        assert PROBLEM in unavailable["content"], f"{method.upper()} {path}"
