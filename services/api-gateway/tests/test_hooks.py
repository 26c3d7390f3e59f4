"""Webhooks from git forges, through the gateway to a real engine: real payload shapes, signatures, dedupe."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from vwmp_testkit.platform import Backend

SECRET = "It's a Secret to Everybody"
_names = itertools.count()
PARAMETERS = {"type": "object", "required": ["repo", "ref"],
              "properties": {"repo": {"type": "string"}, "ref": {"type": "string", "pattern": "^refs/"},
                             "sha": {"type": "string"}}}
FILTER = "${{ event.ref == 'refs/heads/main' || startsWith(event.ref, 'refs/tags/') }}"
REPO = {"github": "${{ event.repository.full_name }}", "gitea": "${{ event.repository.full_name }}",
        "gitlab": "${{ event.project.path_with_namespace }}", "generic": "${{ event.repository }}"}
SHA = {"github": "${{ event.after }}", "gitea": "${{ event.after }}", "gitlab": "${{ event.checkout_sha }}",
       "generic": "${{ event.sha }}"}
AFTER = "e1e9b4b0b8a47bd5b2b6f5e1f6f8a7c7d3e2f1a0"
BEFORE = "0000000000000000000000000000000000000000"


def push_payload(provider: str, ref: str) -> dict[str, Any]:
    """The parts of each forge's real push (and tag push) payload a trigger reads, in their real places."""
    if provider == "github":  # X-GitHub-Event: push (a tag push is a push of refs/tags/...)
        return {"ref": ref, "before": BEFORE, "after": AFTER, "created": True, "deleted": False, "forced": False,
                "base_ref": None, "compare": "https://github.com/acme/shop/compare/v1.2.2...v1.2.3",
                "commits": [], "head_commit": {"id": AFTER, "message": "Release 1.2.3"},
                "repository": {"id": 1296269, "name": "shop", "full_name": "acme/shop", "private": False,
                               "default_branch": "main"},
                "pusher": {"name": "octocat", "email": "octocat@github.com"},
                "sender": {"login": "octocat", "id": 1}}
    if provider == "gitea":  # X-Gitea-Event: push
        return {"ref": ref, "before": BEFORE, "after": AFTER, "compare_url": "https://gitea.example/acme/shop/compare",
                "commits": [{"id": AFTER, "message": "Release 1.2.3\n", "url": "https://gitea.example/c"}],
                "total_commits": 1, "head_commit": {"id": AFTER},
                "repository": {"id": 3, "name": "shop", "full_name": "acme/shop", "default_branch": "main"},
                "pusher": {"id": 1, "login": "gitea", "username": "gitea"},
                "sender": {"id": 1, "login": "gitea", "username": "gitea"}}
    if provider == "gitlab":  # X-Gitlab-Event: Push Hook / Tag Push Hook
        kind = "tag_push" if ref.startswith("refs/tags/") else "push"
        return {"object_kind": kind, "event_name": kind, "before": BEFORE, "after": AFTER, "ref": ref,
                "ref_protected": True, "checkout_sha": AFTER, "user_id": 4, "user_name": "John Smith",
                "user_username": "jsmith", "project_id": 15,
                "project": {"id": 15, "name": "shop", "path_with_namespace": "acme/shop", "default_branch": "main",
                            "web_url": "https://gitlab.example/acme/shop"},
                "commits": [], "total_commits_count": 0, "repository": {"name": "shop"}}
    return {"ref": ref, "sha": AFTER, "repository": "acme/shop"}


def signed(provider: str, body: bytes, delivery: str, ref: str, secret: str = SECRET) -> dict[str, str]:
    """The headers each forge sends with a delivery."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    tag = ref.startswith("refs/tags/")
    if provider == "github":
        return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": f"sha256={digest}",
                "User-Agent": "GitHub-Hookshot/abc"}
    if provider == "gitea":
        return {"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery, "X-Gitea-Signature": digest}
    if provider == "gitlab":
        return {"X-Gitlab-Event": "Tag Push Hook" if tag else "Push Hook", "X-Gitlab-Event-UUID": delivery,
                "X-Gitlab-Token": secret}
    return {"X-VWMP-Event": "push", "X-VWMP-Delivery": delivery, "X-VWMP-Signature-256": f"sha256={digest}"}


def hooked(provider: str, **webhook: Any) -> dict[str, Any]:
    name = f"hook-{provider}-{next(_names)}"
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"parameters": PARAMETERS, "steps": [{"id": "build", "uses": "core/noop"}],
                     "triggers": [{"id": "on-push",
                                   "webhook": {"provider": provider, "secret": "${{ secrets.HOOK_SECRET }}",
                                               "filter": FILTER, **webhook},
                                   "parameters": {"repo": REPO[provider], "ref": "${{ event.ref }}",
                                                  "sha": SHA[provider]}}]}}


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VWMP_SECRET_HOOK_SECRET", SECRET)


async def create(client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]],
                 definition: dict[str, Any]) -> str:
    response = await client.post("/api/v1/workflows", json=definition, headers=headers("editor"))
    assert response.status_code == 201, response.text
    return str(definition["metadata"]["name"])


async def deliver(client: httpx.AsyncClient, name: str, provider: str, ref: str, delivery: str,
                  secret: str = SECRET, payload: dict[str, Any] | None = None) -> httpx.Response:
    body = json.dumps(payload or push_payload(provider, ref)).encode()
    sent = {"Content-Type": "application/json", **signed(provider, body, delivery, ref, secret)}
    return await client.post(f"/api/v1/hooks/{name}/on-push", content=body, headers=sent)


@pytest.mark.parametrize("provider", ["github", "gitea", "gitlab", "generic"])
async def test_a_signed_push_and_a_tag_push_start_runs_with_the_event_in_their_parameters(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]], provider: str) -> None:
    name = await create(client, headers, hooked(provider))
    pushed = await deliver(client, name, provider, "refs/heads/main", f"{provider}-push-1")
    assert pushed.status_code == 202, pushed.text
    run = pushed.json()
    assert run["parameters"] == {"repo": "acme/shop", "ref": "refs/heads/main", "sha": AFTER}
    assert run["trigger"] == {"id": "on-push", "kind": "webhook", "at": run["trigger"]["at"],
                              "delivery": f"{provider}-push-1", "run_id": None}
    assert pushed.headers["Location"] == f"/api/v1/runs/{run['id']}"
    tagged = await deliver(client, name, provider, "refs/tags/v1.2.3", f"{provider}-tag-1")
    assert tagged.status_code == 202, tagged.text
    assert tagged.json()["parameters"]["ref"] == "refs/tags/v1.2.3"
    listed = await client.get("/api/v1/runs", params={"workflow": name, "trigger": "webhook"},
                              headers=headers("viewer"))
    assert listed.json()["total"] == 2
    by_id = await client.get("/api/v1/runs", params={"workflow": name, "trigger": "on-push"}, headers=headers("viewer"))
    assert by_id.json()["total"] == 2
    assert (await client.get("/api/v1/runs", params={"workflow": name, "trigger": "manual"},
                             headers=headers("viewer"))).json()["total"] == 0


@pytest.mark.parametrize("provider", ["github", "gitea", "gitlab", "generic"])
async def test_a_bad_or_missing_signature_is_401_audited_and_starts_nothing(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]], backend: Backend, provider: str) -> None:
    name = await create(client, headers, hooked(provider))
    bad = await deliver(client, name, provider, "refs/heads/main", "bad-1", secret="not the secret")
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert SECRET not in bad.text
    body = json.dumps(push_payload(provider, "refs/heads/main")).encode()
    missing = await client.post(f"/api/v1/hooks/{name}/on-push", content=body,
                                headers={"Content-Type": "application/json"})
    assert missing.status_code == 401
    denied = [e for e in backend.audit("webhook.deliver") if e.target == f"hooks/{name}/on-push"]
    assert [(e.actor, e.outcome) for e in denied] == [("webhook", "denied"), ("webhook", "denied")]
    runs = await client.get("/api/v1/runs", params={"workflow": name}, headers=headers("viewer"))
    assert runs.json()["total"] == 0


async def test_a_redelivery_returns_the_run_it_started(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    name = await create(client, headers, hooked("github"))
    first = await deliver(client, name, "github", "refs/heads/main", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = await deliver(client, name, "github", "refs/heads/main", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["X-VWMP-Replayed"] == "true"
    runs = await client.get("/api/v1/runs", params={"workflow": name}, headers=headers("viewer"))
    assert runs.json()["total"] == 1


async def test_a_false_filter_is_204_and_starts_nothing(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    name = await create(client, headers, hooked("gitlab"))
    response = await deliver(client, name, "gitlab", "refs/heads/feature/x", "f-1")
    assert response.status_code == 204 and response.content == b""
    runs = await client.get("/api/v1/runs", params={"workflow": name}, headers=headers("viewer"))
    assert runs.json()["total"] == 0


async def test_parameters_that_do_not_match_the_schema_are_422_with_the_pointer(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    definition = hooked("generic", filter="${{ true }}")
    name = await create(client, headers, definition)
    response = await deliver(client, name, "generic", "main", "p-1", payload={"ref": "main", "sha": "x",
                                                                             "repository": "acme/shop"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/parameters/ref"]
    listed = await client.get(f"/api/v1/workflows/{name}/triggers", headers=headers("viewer"))
    assert "/ref" in listed.json()["items"][0]["last_error"]


async def test_an_oversize_body_is_413_and_too_many_deliveries_429(
        make_client: Callable[..., Any], headers: Callable[[str], dict[str, str]]) -> None:
    async with make_client(hook_max_body_bytes=2048, hook_rate_limit=0.01, hook_rate_burst=2) as client:
        name = await create(client, headers, hooked("github"))
        payload = {**push_payload("github", "refs/heads/main"), "commits": [{"message": "x" * 4096}]}
        oversize = await deliver(client, name, "github", "refs/heads/main", "big-1", payload=payload)
        assert oversize.status_code == 413
        statuses = [(await deliver(client, name, "github", "refs/heads/main", f"r-{i}")).status_code for i in range(3)]
        assert statuses == [202, 202, 429]


async def test_unknown_webhooks_are_404(client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    name = await create(client, headers, hooked("github"))
    body = b"{}"
    for path in (f"/api/v1/hooks/{name}/nope", "/api/v1/hooks/no-such-workflow/on-push"):
        response = await client.post(path, content=body, headers=signed("github", body, "d", "refs/heads/main"))
        assert response.status_code == 404, response.text


async def test_triggers_are_listed_and_paused_and_resumed_by_an_operator_with_audit(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]], backend: Backend) -> None:
    definition = hooked("github")
    definition["spec"]["triggers"].append({"id": "nightly", "schedule": {"cron": "0 3 * * 1-5",
                                                                          "timezone": "Europe/Berlin"},
                                           "parameters": {"repo": "acme/shop", "ref": "refs/heads/main"}})
    name = await create(client, headers, definition)
    await deliver(client, name, "github", "refs/heads/main", "l-1")
    listed = (await client.get(f"/api/v1/workflows/{name}/triggers", headers=headers("viewer"))).json()
    hook, nightly = listed["items"]
    assert (hook["id"], hook["kind"], hook["webhook_url"]) == ("on-push", "webhook", f"/api/v1/hooks/{name}/on-push")
    assert hook["last_fire_at"] and hook["last_run_id"] and hook["next_fire_at"] is None
    assert (nightly["kind"], nightly["paused"]) == ("schedule", False) and nightly["next_fire_at"]
    assert nightly["definition"]["schedule"]["timezone"] == "Europe/Berlin"
    refused = await client.post(f"/api/v1/workflows/{name}/triggers/nightly/pause", headers=headers("editor"))
    assert refused.status_code == 403
    paused = await client.post(f"/api/v1/workflows/{name}/triggers/nightly/pause", headers=headers("operator"))
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] and paused.json()["paused_by"] == "operator-bot"
    assert paused.json()["next_fire_at"] is None
    resumed = await client.post(f"/api/v1/workflows/{name}/triggers/nightly/resume", headers=headers("operator"))
    assert not resumed.json()["paused"] and resumed.json()["next_fire_at"]
    missing = await client.post(f"/api/v1/workflows/{name}/triggers/ghost/pause", headers=headers("operator"))
    assert missing.status_code == 404
    actions = [(e.action, e.outcome) for e in backend.audit() if e.target == f"workflows/{name}/triggers/nightly"]
    assert ("trigger.pause", "ok") in actions and ("trigger.resume", "ok") in actions
    assert ("trigger.pause", "denied") in actions
    # a paused webhook starts nothing
    await client.post(f"/api/v1/workflows/{name}/triggers/on-push/pause", headers=headers("operator"))
    assert (await deliver(client, name, "github", "refs/heads/main", "l-2")).status_code == 204


async def test_every_run_shows_how_it_was_started(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    name = await create(client, headers, hooked("github"))
    started = await client.post(f"/api/v1/workflows/{name}/runs",
                                json={"parameters": {"repo": "r", "ref": "refs/heads/x"}}, headers=headers("operator"))
    assert started.status_code == 201, started.text
    trigger = started.json()["trigger"]
    assert trigger["kind"] == "manual" and trigger["id"] is None and trigger["at"]


async def test_bad_triggers_are_422_with_pointers_and_a_completion_loop_is_refused(
        client: httpx.AsyncClient, headers: Callable[[str], dict[str, str]]) -> None:
    bad = hooked("github")
    bad["spec"]["triggers"].append({"id": "on-push", "schedule": {"cron": "0 25 * * *", "timezone": "Europe/Nowhere"}})
    response = await client.post("/api/v1/workflows", json=bad, headers=headers("editor"))
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/spec/triggers/1/id", "/spec/triggers/1/schedule/cron", "/spec/triggers/1/schedule/timezone"} <= pointers
    first = hooked("github")
    first["spec"]["triggers"] = [{"id": "after-b", "on_run": {"workflow": f"{first['metadata']['name']}-b"},
                                  "parameters": {"repo": "r", "ref": "refs/heads/main"}}]
    await create(client, headers, first)
    closing = hooked("github")
    closing["metadata"]["name"] = f"{first['metadata']['name']}-b"
    closing["spec"]["triggers"] = [{"id": "after-a", "on_run": {"workflow": first["metadata"]["name"]},
                                    "parameters": {"repo": "r", "ref": "refs/heads/main"}}]
    refused = await client.post("/api/v1/workflows", json=closing, headers=headers("editor"))
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/spec/triggers/0/on_run/workflow" and "completion triggers loop" in error["message"]
