"""/docs (Swagger UI) and /redoc work offline: every script, stylesheet and icon the pages
reference is served by the app itself, none from a CDN."""

from __future__ import annotations

import re

import pytest
from apiclient import Api


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_pages_comes_from_the_app(api: Api, page):
    response = api.client.get(page)
    assert response.status_code == 200
    html = response.text
    assets = set(re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html))
    assets |= set(re.findall(r"""url:\s*['"]([^'"]+)['"]""", html))  # the OpenAPI document
    assert assets, html
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"{page} loads {asset}"
        fetched = api.client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.content, asset
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and all(api.client.get(s).headers["content-type"].startswith(
        ("application/javascript", "text/javascript")) for s in scripts)  # fmt: skip
