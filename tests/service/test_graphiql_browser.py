"""GraphiQL in a real headless browser (Debian's chromium) with no network but loopback: the IDE renders from the
gateway's own assets, runs a query, and a reload of its `?query=` URL (or a shared link) opens the IDE again with
the same document. Skipped, with the reason, only where chromium is not installed (CI installs it with
tests/browser/install-chromium.sh)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import uvicorn

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from db import migrations
from gateway.app import create_app
from gateway.settings import load_settings
from gateway.wiring import auth_config
from tests import databases
from tests.browser.chromium import CHROMIUM_MISSING, find_chromium, open_page

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)

SHARED_QUERY = "query Who {\n  viewer {\n    subject\n    roles\n  }\n}"
EDITED_QUERY = "query Again {\n  viewer {\n    subject\n  }\n}"

# CodeMirror 5 (GraphiQL 3's editor) hangs its instance on the editor's element.
QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESPONSE = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


class Gateway:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A real gateway (dev settings, migrated SQLite) served by uvicorn on a free loopback port."""
    database_url = databases.sqlite_url(tmp_path)
    await asyncio.to_thread(migrations.upgrade, database_url)
    settings = load_settings(env="dev", database_url=database_url, var_dir=tmp_path / "var")
    app = create_app(settings)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        assert not serving.done(), serving.exception()
        await asyncio.sleep(0.02)
    token = mint_dev_token(auth_config(settings), roles=[Role.PLATFORM_ADMIN], subject="browser-test")
    try:
        yield Gateway(f"http://127.0.0.1:{port}/graphql", token)
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def test_graphiql_runs_a_query_offline_and_survives_a_reload(gateway: Gateway, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    async with open_page(CHROMIUM) as page:
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CSP_VIOLATIONS)
        # The token as GraphiQL keeps what its headers editor was given (shouldPersistHeaders): set once on the
        # gateway's origin, from a page that is not the IDE, so the visits below carry no token themselves.
        await page.navigate(gateway.url.replace("/graphql", "/healthz"))
        headers = json.dumps({"Authorization": f"Bearer {gateway.token}"})
        await page.evaluate(f"localStorage.setItem('graphiql:headers', {json.dumps(headers)})")

        # A shared link: the IDE opens with the link's document in the editor.
        await page.navigate(f"{gateway.url}?query={quote(SHARED_QUERY)}")
        await page.wait_for("!!document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror')")
        assert await page.evaluate(f"{QUERY_EDITOR}.getValue()") == SHARED_QUERY

        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        response = json.loads(await page.wait_for(f"{RESPONSE}.includes('browser-test') && {RESPONSE}"))
        assert response["data"] == {"viewer": {"subject": "browser-test", "roles": ["PLATFORM_ADMIN"]}}
        screenshot = await page.screenshot(tmp_path / "graphiql.png")
        print(f"screenshot: {screenshot}")

        # Editing keeps the document in the URL; reloading that URL opens the IDE with it, not a 401.
        await page.evaluate(f"{QUERY_EDITOR}.setValue({json.dumps(EDITED_QUERY)})")
        edited_url = await page.wait_for("location.search.includes('Again') && location.href")
        assert urlsplit(edited_url).query.startswith("query=")
        await page.reload()
        await page.wait_for("!!document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror')")
        assert await page.evaluate("location.href") == edited_url
        assert await page.evaluate(f"{QUERY_EDITOR}.getValue()") == EDITED_QUERY

        assert await page.evaluate("window.__cspViolations") == []
        assert page.exceptions() == []
        assert page.failures() == []
        requested = page.requested_urls()
        assert any("/graphiql/assets/graphiql.min.js" in url for url in requested)
        left_loopback = [
            url for url in requested if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("data:")
        ]
        assert left_loopback == []
