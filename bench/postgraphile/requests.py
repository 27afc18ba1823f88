"""The gateway's benchmark requests as PostGraphile requests: same variables, same tokens, index for index.

Global ids become the UUIDs PostGraphile's schema takes. For (1) the no_auth variant passes the partner as an
argument: the MPN id the gateway reads from the token's `partner_id` claim (read here without verification: the
harness minted the token). jwt_rls sends only the token, which PostGraphile verifies and hands to the database.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson

from bench.operations import Operation, Request
from bench.postgraphile.documents import DOCUMENTS
from bench.postgraphile.server import NO_AUTH, VARIANTS
from schema import global_id

# The reads PostGraphile serves (bench.operations keys); the DPOR mutation (4) has no PostGraphile side.
OPERATIONS = frozenset(DOCUMENTS)


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (RFC 7519 section 3), not verified."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def _attributed(variables: dict[str, Any], token: str, variant: str) -> dict[str, Any]:
    translated = {key: variables[key] for key in ("first", "monthStart", "today")}
    if variant == NO_AUTH:
        translated["partnerMpnId"] = token_claims(token)["partner_id"]
    return translated


def _node(variables: dict[str, Any], token: str, variant: str) -> dict[str, Any]:
    return {"id": str(global_id.decode(variables["id"], "Subscription"))}


def _usage_of(type_name: str) -> Callable[[dict[str, Any], str, str], dict[str, Any]]:
    def translate(variables: dict[str, Any], token: str, variant: str) -> dict[str, Any]:
        row_id = global_id.decode(variables["id"], type_name)
        return {"id": str(row_id), "from": variables["from"], "to": variables["to"]}

    return translate


_VARIABLES: dict[str, Callable[[dict[str, Any], str, str], dict[str, Any]]] = {
    "attributed": _attributed,
    "node": _node,
    "tenant_usage": _usage_of("Tenant"),
    "partner_usage": _usage_of("Partner"),
}


def translate(key: str, variant: str, request: Request) -> Request:
    """One gateway request of operation `key` as the PostGraphile request of `variant` for the same read."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PostGraphile variant {variant!r}")
    variables = orjson.loads(request.body)["variables"]
    body = {"query": DOCUMENTS[key], "variables": _VARIABLES[key](variables, request.token, variant)}
    return Request("/graphql", orjson.dumps(body), request.token)


def requests(operation: Operation, variant: str) -> list[Request]:
    """Every GraphQL request of `operation` (one of OPERATIONS) as PostGraphile's, in the same order."""
    return [translate(operation.key, variant, request) for request in operation.graphql]
