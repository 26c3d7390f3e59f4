"""Idempotency-Key on POST /workflows/{name}/runs against the real engine and storage: one run per key
(concurrent POSTs included), replays marked, a different body or a malformed key refused with a pointer,
an expired key taken by a new run.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from vwmp_storage.models import runs
from vwmp_storage.runs import IDEMPOTENCY_TTL

PROBLEM = "application/problem+json"
BODY = {"parameters": {"part": "minor"}}


async def workflow(client: Any, headers: Any, definition: Any) -> str:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    created = await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    assert created.status_code == 201, created.text
    return name


async def post(client: Any, headers: Any, name: str, key: str, body: dict[str, Any] | None = None,
               role: str = "operator") -> Any:
    return await client.post(f"/api/v1/workflows/{name}/runs", json=body or BODY,
                             headers={**headers(role), "Idempotency-Key": key})


async def test_concurrent_posts_with_one_key_start_one_run(client, headers, definition) -> None:
    name = await workflow(client, headers, definition)
    answers = await asyncio.gather(*(post(client, headers, name, "retry-1") for _ in range(12)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed") for a in answers if a.headers.get("Idempotent-Replayed")) \
        == ["true"] * 11
    listed = (await client.get("/api/v1/runs", params={"workflow": name}, headers=headers("viewer"))).json()
    assert listed["total"] == 1


async def test_a_retry_with_the_key_returns_the_same_run_marked_replayed(client, headers, definition) -> None:
    name = await workflow(client, headers, definition)
    first = await post(client, headers, name, '"sf-string-key"')  # the IETF draft's quoted form
    again = await post(client, headers, name, "sf-string-key")
    assert (first.status_code, again.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]


async def test_the_key_is_per_actor(client, headers, definition) -> None:
    name = await workflow(client, headers, definition)
    mine, theirs = await post(client, headers, name, "k"), await post(client, headers, name, "k", role="admin")
    assert mine.json()["id"] != theirs.json()["id"] and "Idempotent-Replayed" not in theirs.headers


async def test_the_same_key_with_a_different_body_is_a_422_pointing_at_the_header(client, headers, definition) -> None:
    name = await workflow(client, headers, definition)
    assert (await post(client, headers, name, "k-body")).status_code == 201
    other = await post(client, headers, name, "k-body", {"parameters": {"part": "major"}})
    assert other.status_code == 422 and other.headers["content-type"].startswith(PROBLEM)
    assert [e["pointer"] for e in other.json()["errors"]] == ["/header/Idempotency-Key"]
    dry = await post(client, headers, name, "k-body", {**BODY, "dry_run": True})
    assert dry.status_code == 422


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "quote\"inside", "ünïcode", '"unclosed'])
async def test_a_malformed_key_is_a_422_pointing_at_the_header(client, headers, definition, key) -> None:
    name = await workflow(client, headers, definition)
    answer = await client.post(f"/api/v1/workflows/{name}/runs", json=BODY,
                               headers={**headers("operator"), "Idempotency-Key": key.encode()})
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/header/Idempotency-Key"]


async def test_an_expired_key_starts_a_new_run(client, headers, definition, backend) -> None:
    name = await workflow(client, headers, definition)
    old = (await post(client, headers, name, "k-old")).json()
    created_at = backend.storage.runs.get(old["id"]).created_at
    with backend.storage.database.write() as conn:
        conn.execute(update(runs).where(runs.c.id == old["id"]).values(
            created_at=created_at - IDEMPOTENCY_TTL - timedelta(seconds=1)))
    new = await post(client, headers, name, "k-old", {"parameters": {"part": "major"}})
    assert new.status_code == 201 and "Idempotent-Replayed" not in new.headers
    assert new.json()["id"] != old["id"]
