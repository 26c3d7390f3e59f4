"""forge/release against loopback forges; GitHub's exchanges are checked against its OpenAPI description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from vwmp_plugin_forge import _http
from vwmp_sdk.testing import StepTester
from vwmp_testkit.forge import FakeForge

NOTES = "### Features\n\n- **cart:** pay by card (abc1234) (#12)\n\n### Bug fixes\n\n- rounding (def5678)\n"


def config(forge: FakeForge, **extra: Any) -> dict[str, Any]:
    repository = "acme/team/shop" if forge.kind == "gitlab" else "acme/shop"
    return {"provider": forge.kind, "api_url": forge.api_url, "repository": repository, "tag": "v0.5.0",
            "name": "0.5.0", "notes": NOTES, "token": forge.token, **extra}  # fmt: skip


def notes_of(forge: FakeForge, release: dict[str, Any]) -> str:
    return release["description" if forge.kind == "gitlab" else "body"]


def test_creates_one_release_and_a_retry_changes_nothing(tester: StepTester, forge: FakeForge) -> None:
    out = tester.run("forge/release", config(forge))
    assert out.ok, out.failure
    assert len(forge.releases) == 1 and notes_of(forge, forge.releases[0]) == NOTES
    assert out.outputs["action"] == "created" and out.outputs["url"].startswith(forge.origin)
    writes = len(forge.writes())
    again = tester.run("forge/release", config(forge))
    assert again.ok, again.failure
    assert again.outputs["action"] == "unchanged" and again.outputs["id"] == out.outputs["id"]
    assert len(forge.writes()) == writes and len(forge.releases) == 1
    assert forge.problems == []


def test_an_existing_release_of_the_tag_is_updated_not_duplicated(tester: StepTester, forge: FakeForge) -> None:
    assert tester.run("forge/release", config(forge, notes="old notes")).ok
    out = tester.run("forge/release", config(forge))
    assert out.ok and out.outputs["action"] == "updated"
    assert len(forge.releases) == 1 and notes_of(forge, forge.releases[0]) == NOTES
    assert forge.writes()[-1].method == ("PUT" if forge.kind == "gitlab" else "PATCH")
    assert forge.problems == []


def test_dry_run_shows_every_request_with_the_token_masked(tester: StepTester, forge: FakeForge) -> None:
    out = tester.run("forge/release", config(forge), dry_run=True)
    assert out.ok, out.failure
    assert forge.writes() == [] and forge.releases == []
    assert [p["action"] for p in out.plan] == ["look up release", "create release"]
    create = out.plan[-1]
    assert create["target"].startswith("POST " + forge.api_url)
    header = "PRIVATE-TOKEN" if forge.kind == "gitlab" else "Authorization"
    assert f"{header}: ***" in create["diff"]
    body = json.loads(create["diff"].split("\n\n", 1)[1])
    assert body["tag_name"] == "v0.5.0" and NOTES in body.values()
    assert forge.token not in json.dumps(out.outputs) + "\n".join(out.logs)
    assert forge.problems == []


def test_assets_are_uploaded_once_and_replaced_when_they_change(
    tester: StepTester, forge: FakeForge, workspace: Path
) -> None:
    (workspace / "dist").mkdir()
    wheel = workspace / "dist" / "shop-0.5.0.whl"
    wheel.write_bytes(b"wheel bytes")
    out = tester.run("forge/release", config(forge, assets=["dist/shop-0.5.0.whl"]))
    assert out.ok, out.failure
    assert out.outputs["assets"] == ["shop-0.5.0.whl"]
    writes = len(forge.writes())
    assert tester.run("forge/release", config(forge, assets=["dist/shop-0.5.0.whl"])).ok
    assert len(forge.writes()) == writes
    if forge.kind != "gitlab":  # GitLab links carry no size: a file of the same name is kept
        wheel.write_bytes(b"rebuilt wheel bytes")
        assert tester.run("forge/release", config(forge, assets=["dist/shop-0.5.0.whl"])).ok
        assets = forge.releases[0]["assets"]
        assert [(a["name"], a["size"]) for a in assets] == [("shop-0.5.0.whl", 19)]
    else:
        assert [link["name"] for link in forge.releases[0]["assets"]["links"]] == ["shop-0.5.0.whl"]
        assert forge.releases[0]["assets"]["links"][0]["url"].startswith(forge.origin + "/-/project/")
    assert forge.problems == []


@pytest.mark.parametrize(("path", "kind"), [("../outside.txt", "denied"), ("/etc/passwd", "denied"),
                                            ("missing.whl", "config"), ("repo/.git/config", "denied")])
def test_assets_must_be_files_inside_the_workspace(
    tester: StepTester, forge: FakeForge, workspace: Path, path: str, kind: str
) -> None:
    (workspace / "repo" / ".git").mkdir(parents=True)
    (workspace / "repo" / ".git" / "config").write_text("x")
    (workspace.parent / "outside.txt").write_text("secret")
    out = tester.run("forge/release", config(forge, assets=[path]))
    assert out.failure is not None and out.failure.kind == kind
    assert forge.exchanges == []


@pytest.mark.parametrize(("status", "kind"), [(401, "denied"), (403, "denied"), (422, "config"), (404, "config"),
                                              (500, "error"), (502, "error"), (429, "error")])
def test_forge_errors_are_classified(tester: StepTester, forge: FakeForge, status: int, kind: str) -> None:
    forge.fail_next = [status]
    out = tester.run("forge/release", config(forge))
    if status == 404:  # a lookup's 404 says "no release yet"; the create's 404 says "no such repository"
        assert out.ok and forge.releases
        forge.releases.clear()
        forge.fail_writes = [404]
        out = tester.run("forge/release", config(forge))
    assert out.failure is not None and out.failure.kind == kind, out.failure
    assert forge.token not in out.failure.message


def test_wrong_token_is_denied(tester: StepTester, forge: FakeForge) -> None:
    out = tester.run("forge/release", config(forge, token="not-the-token"))
    assert out.failure is not None and out.failure.kind == "denied" and forge.releases == []
    assert "not-the-token" not in out.failure.message


def test_a_retry_after_a_failed_answer_creates_no_second_release(tester: StepTester, forge: FakeForge) -> None:
    assert tester.run("forge/release", config(forge)).ok
    forge.releases[0]["name"] = "changed meanwhile"
    forge.fail_next = [503]
    failed = tester.run("forge/release", config(forge))
    assert failed.failure is not None and failed.failure.kind == "error"
    assert tester.run("forge/release", config(forge)).ok and len(forge.releases) == 1


def test_unreachable_forge_is_retryable(tester: StepTester, forge: FakeForge) -> None:
    out = tester.run("forge/release", config(forge, api_url="http://127.0.0.1:9/api"))
    assert out.failure is not None and out.failure.kind == "error"


@pytest.mark.parametrize("url", ["http://forge.example.com/api", "ftp://127.0.0.1/x", "https://user:pw@host/api"])
def test_api_url_must_be_https_except_on_loopback(tester: StepTester, url: str) -> None:
    out = tester.run("forge/release", {"provider": "github", "api_url": url, "repository": "a/b", "tag": "v1",
                                       "token": "t0ken"})  # fmt: skip
    assert out.failure is not None and out.failure.kind == "denied"


@pytest.mark.parametrize(("provider", "repository"), [("github", "a"), ("github", "a/b/c"), ("gitlab", "a"),
                                                      ("gitea", "../b"), ("github", "-a/b")])
def test_repository_shape_is_checked(tester: StepTester, provider: str, repository: str) -> None:
    out = tester.run("forge/release", {"provider": provider, "repository": repository, "tag": "v1", "token": "t0k"})
    assert out.failure is not None and out.failure.kind == "config"


def test_github_drafts_are_found_by_listing(tester: StepTester, github_openapi: Any) -> None:
    with FakeForge("github", openapi=github_openapi) as forge:
        assert tester.run("forge/release", config(forge, draft=True)).ok
        again = tester.run("forge/release", config(forge, draft=True))
        assert again.ok and again.outputs["action"] == "unchanged" and len(forge.releases) == 1
        published = tester.run("forge/release", config(forge))
        assert published.outputs["action"] == "updated" and forge.releases[0]["draft"] is False
        assert forge.problems == []


def test_gitlab_has_no_drafts(tester: StepTester) -> None:
    with FakeForge("gitlab") as forge:
        out = tester.run("forge/release", config(forge, prerelease=True))
        assert out.failure is not None and out.failure.kind == "config" and forge.exchanges == []


def test_github_requests_carry_the_api_version_headers(tester: StepTester, github_openapi: Any) -> None:
    with FakeForge("github", openapi=github_openapi) as forge:
        assert tester.run("forge/release", config(forge)).ok
        for exchange in forge.exchanges:
            assert exchange.headers["Accept"] == "application/vnd.github+json"
            assert exchange.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert forge.problems == []


def test_dry_run_plans_each_upload_and_sends_none(tester: StepTester, forge: FakeForge, workspace: Path) -> None:
    (workspace / "dist").mkdir()
    (workspace / "dist" / "shop.tgz").write_bytes(b"12345")
    out = tester.run("forge/release", config(forge, assets=["dist/shop.tgz"]), dry_run=True)
    assert out.ok, out.failure
    actions = [p["action"] for p in out.plan]
    assert actions == ["look up release", "create release", "upload asset"] + (
        ["link asset"] if forge.kind == "gitlab" else [])
    assert "<shop.tgz: 5 bytes" in out.plan[2]["diff"] and out.plan[2]["diff"].count("***") == 1
    assert forge.writes() == [] and forge.problems == []


def test_a_forge_that_does_not_answer_in_time_is_retryable(
    tester: StepTester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "TIMEOUT", httpx.Timeout(0.2))
    with FakeForge("gitea", delay=1.0) as forge:
        out = tester.run("forge/release", config(forge))
    assert out.failure is not None and out.failure.kind == "error" and "timed out" in out.failure.message


def test_delete_release_undoes_forge_release_and_a_redelivery_finds_nothing(
        tester: StepTester, forge: FakeForge) -> None:
    made = tester.run("forge/release", config(forge, draft=forge.kind != "gitlab"))
    assert made.ok, made.failure
    undo = {k: v for k, v in config(forge).items() if k in ("provider", "api_url", "repository", "tag", "token")}
    plan = tester.run("forge/delete-release", undo, dry_run=True)
    assert plan.ok and len(forge.releases) == 1  # a dry run deletes nothing
    out = tester.run("forge/delete-release", {**undo, "id": made.outputs["id"]})
    assert out.ok, out.failure
    assert out.outputs == {"deleted": True, "id": made.outputs["id"]} and forge.releases == []
    again = tester.run("forge/delete-release", undo)
    assert again.ok and again.outputs == {"deleted": False, "id": ""}
    assert forge.token not in json.dumps(out.logs) and forge.problems == []


def test_delete_release_leaves_a_release_made_again_since(tester: StepTester, forge: FakeForge) -> None:
    assert tester.run("forge/release", config(forge)).ok
    undo = {k: v for k, v in config(forge).items() if k in ("provider", "api_url", "repository", "tag", "token")}
    out = tester.run("forge/delete-release", {**undo, "id": "someone-else"})
    assert not out.ok and out.failure.kind == "denied" and len(forge.releases) == 1
