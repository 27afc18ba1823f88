"""GraphiQL over HTTP: the page and its assets come from the gateway (pinned, hashed, no other origin), a reload
or a shared link of `/graphql?query=...` opens the IDE, and nothing of it exists in production. The browser test
(tests/service/test_graphiql_browser.py) shows the page actually works offline."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlencode

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from gateway import graphiql
from gateway.wiring import auth_config
from tests.auth_support import assert_refused, client, dev_settings, gateway, production_settings

# What chromium sends when it navigates (a reload, a link typed or clicked).
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
SHARED = {"query": "query Who { viewer { subject } }", "variables": '{"a": 1}', "operationName": "Who"}


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _manifest_files() -> list[dict[str, str]]:
    manifest = json.loads((graphiql.STATIC_DIR / "manifest.json").read_text())
    return [asset for package in manifest["packages"] for asset in package["files"]]


async def test_a_reload_or_shared_link_of_the_ide_opens_the_ide_without_a_token(tmp_path: Path) -> None:
    async with client(gateway(dev_settings(tmp_path))) as http:
        visit = await http.get(f"/graphql?{urlencode(SHARED)}", headers={"accept": BROWSER_ACCEPT})
        plain = await http.get("/graphql", headers={"accept": BROWSER_ACCEPT})
    for response in (visit, plain):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "dpor-graphiql.js" in response.text
        assert "accept" in response.headers["vary"].lower()
    # The page runs nothing on the server: no statement was sent for it.
    assert "x-dpor-sql-statements" not in visit.headers


async def test_api_clients_still_send_queries_over_get_and_still_need_a_token(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    token = mint_dev_token(auth_config(settings), roles=[Role.PLATFORM_ADMIN])
    query = {"query": "{ __typename }"}
    persisted = {"extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})}
    async with client(gateway(settings)) as http:
        with_token = await http.get(
            "/graphql", params=query, headers={"accept": "application/json", "authorization": f"Bearer {token}"}
        )
        without = await http.get("/graphql", params=query, headers={"accept": "application/graphql-response+json"})
        any_type = await http.get("/graphql", params=query, headers={"accept": "*/*"})
        # A persisted-query GET from a browser is an operation, not a visit: it names no document to edit.
        persisted_visit = await http.get("/graphql", params=persisted, headers={"accept": BROWSER_ACCEPT})
    assert with_token.json()["data"] == {"__typename": "Query"}
    for refused in (without, any_type, persisted_visit):
        assert_refused(refused, 401, None)


async def test_a_repeated_accept_header_is_read_the_same_by_the_middleware_and_the_view(tmp_path: Path) -> None:
    """The middleware lets a visit through without a token and the view answers it with the page: they must agree
    on what a visit is, or an operation would run without a token."""
    url = "/graphql?query=%7B__typename%7D"
    async with client(gateway(dev_settings(tmp_path))) as http:
        json_first = await http.get(url, headers=[("accept", "application/json"), ("accept", "text/html")])
        html_first = await http.get(url, headers=[("accept", "text/html"), ("accept", "application/json")])
    assert_refused(json_first, 401, None)
    assert html_first.status_code == 200
    assert html_first.headers["content-type"].startswith("text/html")


async def test_the_page_names_no_other_origin_and_pins_every_asset(tmp_path: Path) -> None:
    async with client(gateway(dev_settings(tmp_path))) as http:
        page = await http.get("/graphql", headers={"accept": BROWSER_ACCEPT})
        references = re.findall(r'<(script|link)\b[^>]*?(?:src|href)="([^"]*)"([^>]*)>', page.text)
        served = {url: await http.get(url) for _, url, _ in references if not url.startswith("data:")}
    assert "://" not in page.text  # no absolute URL at all, so no other origin
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert set(served) >= {f"{graphiql.ASSETS_PATH}/graphiql.min.js", f"{graphiql.ASSETS_PATH}/react.production.min.js"}
    for tag, url, rest in references:
        if url.startswith("data:"):
            continue
        assert url.startswith(graphiql.ASSETS_PATH + "/"), url
        response = served[url]
        assert response.status_code == 200, url
        # The browser checks this hash and refuses the file if it differs.
        integrity = re.search(r'integrity="([^"]+)"', f"{tag} {rest}")
        assert integrity is not None, url
        assert integrity.group(1) == _sri(response.content), url


def test_the_committed_assets_are_the_pinned_npm_files() -> None:
    """manifest.json records what refresh.py took from npm; the files beside it must be exactly those."""
    files = _manifest_files()
    assert {asset["name"] for asset in files} >= {
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "LICENSE.graphiql.txt",
        "LICENSE.react.txt",
        "LICENSE.react-dom.txt",
    }
    for asset in files:
        data = (graphiql.ASSETS_DIR / asset["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == asset["sha256"], asset["name"]
        assert _sri(data) == asset["sri"], asset["name"]
    assert "MIT License" in (graphiql.ASSETS_DIR / "LICENSE.graphiql.txt").read_text()


def test_the_page_follows_the_mount_prefix() -> None:
    assert f'src="/api{graphiql.ASSETS_PATH}/graphiql.min.js"' in graphiql.page_html("/api")


async def test_production_serves_neither_the_page_nor_its_assets(tmp_path: Path) -> None:
    async with client(gateway(production_settings(tmp_path))) as http:
        asset = await http.get(f"{graphiql.ASSETS_PATH}/graphiql.min.js")
        visit = await http.get(f"/graphql?{urlencode(SHARED)}", headers={"accept": BROWSER_ACCEPT})
    assert asset.status_code == 404
    assert_refused(visit, 401, None)
