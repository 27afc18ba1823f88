"""GraphiQL, served entirely by the gateway (development only: production serves neither the page nor its assets).

The page names no other origin: React, ReactDOM and GraphiQL are pinned copies from npm in gateway/static/graphiql/
(manifest.json records versions and hashes; refresh.py re-fetches and checks them), served under ASSETS_PATH. Each
script and style carries its Subresource Integrity hash from the manifest, and the Content-Security-Policy allows
this origin only, so the IDE works with no internet and a changed file is refused by the browser.

A visit is a GET of the GraphQL path that accepts HTML, with or without `?query=`: the page keeps the document in
`?query=&variables=&operationName=` (a shared link), so a reload or a link opens the IDE with that document loaded.
The bearer middleware lets a visit through without a token (the page runs nothing on the server) by the same rule
the view uses to answer it with the page, `is_visit`; the operations the page sends carry the token from its
headers editor.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from collections.abc import Collection
from pathlib import Path

from starlette.datastructures import Headers, QueryParams
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS_DIR = STATIC_DIR / "assets"
ASSETS_PATH = "/graphiql/assets"

# Loaded in this order; the last two are ours (not from npm), hashed from the files themselves.
_SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "dpor-graphiql.js")
_STYLES = ("graphiql.min.css", "dpor-graphiql.css")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # GraphiQL's components set style attributes and insert <style> elements of their own.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def is_visit(method: str, accept: str, parameters: Collection[str]) -> bool:
    """A browser opening the IDE (a navigation accepts text/html; API clients ask for JSON). A GET that names a
    persisted query (`extensions`) or a trusted document (`documentId`) is an operation even from a browser: it
    carries no document to edit."""
    return (
        method == "GET" and "text/html" in accept and "extensions" not in parameters and "documentId" not in parameters
    )


def is_visit_scope(scope: Scope) -> bool:
    """`is_visit` for an ASGI scope (what the bearer middleware sees). Read with Starlette's own Headers and
    QueryParams, exactly as the view's request reads them (a repeated Accept header counts by its first value in
    both), so the middleware never lets through without a token a request the view would execute."""
    if scope["type"] != "http":
        return False
    accept = Headers(scope=scope).get("accept", "")
    return is_visit(scope["method"], accept, QueryParams(scope["query_string"]))


def assets() -> StaticFiles:
    return StaticFiles(directory=ASSETS_DIR)


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@functools.cache
def integrity() -> dict[str, str]:
    """Asset name -> SRI hash: the manifest's for npm's files (so a file changed on disk is refused), computed
    for ours."""
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    hashes = {asset["name"]: asset["sri"] for package in manifest["packages"] for asset in package["files"]}
    for name in ("dpor-graphiql.js", "dpor-graphiql.css"):
        hashes.setdefault(name, _sri((ASSETS_DIR / name).read_bytes()))
    return hashes


def page_html(root_path: str = "") -> str:
    base = html.escape(root_path + ASSETS_PATH, quote=True)
    hashes = integrity()
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{base}/{name}" integrity="{hashes[name]}">' for name in _STYLES
    )
    scripts = "\n".join(f'    <script src="{base}/{name}" integrity="{hashes[name]}"></script>' for name in _SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>GraphiQL · dpor-gateway</title>
    <link rel="icon" href="data:,">
{styles}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
{scripts}
  </body>
</html>
"""


def page(root_path: str = "") -> HTMLResponse:
    return HTMLResponse(
        page_html(root_path),
        headers={
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            # The GraphQL path answers HTML or JSON by the Accept header: caches must keep them apart.
            "vary": "Accept",
            "cache-control": "no-store",
        },
    )
