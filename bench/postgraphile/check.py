"""Before any load: PostGraphile's answers, reshaped, must equal the gateway's, request for request.

Like bench.check for the floor: the same requests (variables and tokens) go to a development-mode gateway and,
translated, to PostGraphile; each answer must be free of errors and PostGraphile's `data`, through
answers.to_gateway_data, must equal the gateway's exactly (same strings for amounts, quantities, dates and ids).
The PostGraphile servers checked here count their statements (server.js, x-dpor-sql-statements), so the check also
says how many each request sent; the servers measured under load do not count.
"""

from __future__ import annotations

import dataclasses
import random
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.check import CheckFailed, post
from bench.operations import Operation, Request
from bench.postgraphile.answers import to_gateway_data
from bench.postgraphile.requests import OPERATIONS, requests, token_claims, translate
from bench.postgraphile.server import JWT_RLS, VARIANTS, server
from bench.server import free_port

CHECKED_PER_OPERATION = 20
STATEMENTS_HEADER = "x-dpor-sql-statements"


@dataclass(frozen=True)
class Compared:
    key: str
    variant: str
    compared: int
    # Usage rows among the compared answers (subscriptions for (3)): equal empty answers would prove little.
    rows: int
    statements: list[int]  # per compared request, as PostGraphile's server counted them
    # jwt_rls: requests sent with another caller's token that found nothing, as the gateway finds nothing.
    refused: int = 0


def as_json(found: dict[str, dict[str, Compared]]) -> dict[str, dict[str, dict[str, Any]]]:
    """check_all's result as plain data for the results document: {key: {variant: {compared, rows, statements,
    refused}}}, the statement counts as the distinct values seen (as bench's checks record the gateway's)."""
    return {
        key: {
            variant: {
                "compared": compared.compared,
                "rows": compared.rows,
                "statements": sorted(set(compared.statements)),
                "refused": compared.refused,
            }
            for variant, compared in by_variant.items()
        }
        for key, by_variant in found.items()
    }


def operation(gateway_operation: Operation, variant: str) -> Operation:
    """The gateway's operation with PostGraphile's requests (of `variant`) as its GraphQL requests and no floor,
    for the harness's load functions."""
    return dataclasses.replace(gateway_operation, graphql=requests(gateway_operation, variant), floor=[])


def _rows(key: str, data: dict[str, Any]) -> int:
    if key == "attributed":
        return sum(len(edge["node"]["usage"]) for edge in data["attributedSubscriptions"]["edges"])
    if key == "node":
        return int(data["node"] is not None)
    parent = data["tenant"] if key == "tenant_usage" else data["node"]
    return 0 if parent is None else len(next(iter(parent.values())))


def _answer(base_url: str, request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    try:
        status, headers, answer = post(base_url, request)
    except urllib.error.HTTPError as error:  # PostGraphile answers a GraphQL validation error with 400
        raise CheckFailed(f"{base_url}{request.path}: {error.code} {error.read().decode(errors='replace')}") from None
    if status != 200 or answer.get("errors") or "data" not in answer:
        raise CheckFailed(f"{base_url}{request.path}: {status} {answer}")
    return {name.lower(): value for name, value in headers.items()}, answer["data"]


def compare(
    gateway_operation: Operation,
    variant: str,
    gateway_url: str,
    postgraphile_url: str,
    *,
    count: int = CHECKED_PER_OPERATION,
    rng: random.Random | None = None,
) -> Compared:
    """`count` requests of the operation (the first ones, or drawn by `rng`) on both servers: equal `data`."""
    pairs = list(zip(gateway_operation.graphql, requests(gateway_operation, variant), strict=True))
    chosen = pairs[:count] if rng is None else rng.sample(pairs, min(count, len(pairs)))
    rows, statements = 0, []
    for gateway_request, postgraphile_request in chosen:
        _, expected = _answer(gateway_url, gateway_request)
        headers, found = _answer(postgraphile_url, postgraphile_request)
        reshaped = to_gateway_data(gateway_operation.key, found)
        if reshaped != expected:
            raise CheckFailed(
                f"{gateway_operation.key}: gateway and PostGraphile ({variant}) differ\n"
                f"  gateway      {expected}\n  postgraphile {reshaped}\n  request {postgraphile_request.body!r}"
            )
        rows += _rows(gateway_operation.key, expected)
        if STATEMENTS_HEADER in headers:
            statements.append(int(headers[STATEMENTS_HEADER]))
    return Compared(gateway_operation.key, variant, len(chosen), rows, statements)


# Reads of one row by id (the root is null when the row is not the caller's): the ones a foreign token tests.
_BY_ID = ("node", "tenant_usage", "partner_usage")


def _caller(token: str) -> tuple[object, object]:
    claims = token_claims(token)
    return claims.get("tid"), claims.get("partner_id")


def refuses_other_callers(gateway_operation: Operation, postgraphile_url: str, *, count: int = 10) -> int:
    """jwt_rls: the first `count` requests of a read by id, each sent with the token of another tenant or
    partner, must find nothing (row-level security hides the row); how many were sent. Raises CheckFailed."""
    if gateway_operation.key not in _BY_ID:
        return 0
    pool = gateway_operation.graphql
    refused = 0
    for request in pool[:count]:
        other = next((r.token for r in pool if _caller(r.token) != _caller(request.token)), None)
        if other is None:
            continue
        crossed = translate(gateway_operation.key, JWT_RLS, Request(request.path, request.body, other))
        _, found = _answer(postgraphile_url, crossed)
        if any(value is not None for value in found.values()):
            raise CheckFailed(f"{gateway_operation.key}: jwt_rls answered another caller's row: {found}")
        refused += 1
    return refused


def check_all(
    reads: list[Operation],
    gateway_url: str,
    url: str,
    work: Path,
    *,
    install_dir: Path,
    jwks: Path,
    variants: tuple[str, ...] = VARIANTS,
    count: int = CHECKED_PER_OPERATION,
    rng: random.Random | None = None,
) -> dict[str, dict[str, Compared]]:
    """Every read PostGraphile serves, in every variant, against the gateway at `gateway_url`: {key: {variant:
    Compared}}; jwt_rls must also refuse other callers' rows. Starts (and stops) a statement-counting PostGraphile
    per variant on the database `url`."""
    found: dict[str, dict[str, Compared]] = {}
    for variant in variants:
        checked = server(
            variant, url, free_port(), work / f"postgraphile-{variant}-check.log",
            install_dir=install_dir, jwks=jwks, workers=1, count_statements=True,
        )  # fmt: skip
        checked.start()
        try:
            for read in reads:
                if read.key in OPERATIONS:
                    compared = compare(read, variant, gateway_url, checked.base_url, count=count, rng=rng)
                    if variant == JWT_RLS:
                        compared = dataclasses.replace(compared, refused=refuses_other_callers(read, checked.base_url))
                    found.setdefault(read.key, {})[variant] = compared
        finally:
            checked.stop()
    return found
