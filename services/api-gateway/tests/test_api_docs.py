"""The API reference pages load nothing from another host: every script, style and icon is the
gateway's own, so /docs and /redoc work without internet (the browser test renders them offline)."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
async def test_the_api_reference_pages_load_only_the_gateways_own_assets(client, page, script) -> None:
    response = await client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    links = [a or b for a, b in ASSET.findall(response.text)]
    assert any(link.endswith(script) for link in links), links
    assert "/openapi.json" in links
    for link in links:
        assert link.startswith("/") and not link.startswith("//"), f"{page} loads {link} from elsewhere"
        asset = await client.get(link)
        assert asset.status_code == 200 and asset.content, link
    assert "fonts.googleapis" not in response.text and "cdn." not in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy and "http" not in policy


async def test_an_unknown_asset_is_a_404_not_a_page(client) -> None:
    response = await client.get("/docs/assets/../../etc/passwd")
    assert response.status_code == 404
    assert (await client.get("/docs/assets/nope.js")).status_code == 404
