"""Schemathesis against the app's own OpenAPI (bounded): no 5xx, every error is problem+json."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

MAX_EXAMPLES = 4


def _content_type(headers: Any) -> str:
    value = headers.get("content-type") if hasattr(headers, "get") else None
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def test_no_5xx_and_every_error_is_problem_json(live_gateway, backend) -> None:
    schema = schemathesis.openapi.from_url(f"{live_gateway.url}/openapi.json")
    auth = {"Authorization": f"Bearer {backend.tokens['admin']}"}
    tested: list[str] = []
    failures: list[str] = []

    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.generate, Phase.explicit],
                  suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=auth, timeout=20)
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            if response.status_code >= 500:
                failures.append(where)
            elif response.status_code >= 400 and not _content_type(response.headers).startswith(
                "application/problem+json"
            ):
                failures.append("not problem+json: " + where)

        check()
        tested.append(f"{operation.method.upper()} {operation.path}")

    assert len(tested) >= 30
    assert failures == []
