"""Before any load: every operation must answer correctly, and the gateway must answer what the floor does.

Runs against a development-mode gateway (the same database, keys and settings but DPOR_ENV=dev), because only
development answers carry `x-dpor-sql-statements`, the per-request statement count the benchmark reports.
Production and development run the same resolvers and SQL; only error masking and the header differ.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from bench.operations import Operation, Request

STATEMENTS_HEADER = "x-dpor-sql-statements"
CHECKED_PER_OPERATION = 20


class CheckFailed(Exception):
    pass


def post(base_url: str, request: Request, *, body: bytes | None = None) -> tuple[int, dict[str, Any], Any]:
    prepared = urllib.request.Request(
        base_url + request.path,
        data=body if body is not None else request.body,
        headers={"authorization": f"Bearer {request.token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(prepared, timeout=30) as answer:
        return answer.status, dict(answer.headers.items()), orjson.loads(answer.read())


@dataclass(frozen=True)
class Checked:
    key: str
    compared: int
    statements: list[int]  # x-dpor-sql-statements of each checked request


def compare(operation: Operation, gateway_url: str, floor_url: str) -> Checked:
    """The first requests of `operation` on both servers: no errors, equal `data`; statement counts kept."""
    statements = []
    if not operation.floor:
        # No floor endpoint: the gateway's answers must still be error-free and not empty.
        for graphql in operation.graphql[:CHECKED_PER_OPERATION]:
            _, _, answer = post(gateway_url, graphql)
            if answer.get("errors") or not _has_rows(answer.get("data")):
                raise CheckFailed(f"{operation.key}: gateway answered {answer}")
            statements.append(steady_statements(gateway_url, graphql)[0])
        return Checked(operation.key, 0, statements)
    pairs = list(zip(operation.graphql, operation.floor, strict=True))[:CHECKED_PER_OPERATION]
    for graphql, floor in pairs:
        _, _, answer = post(gateway_url, graphql)
        if answer.get("errors"):
            raise CheckFailed(f"{operation.key}: gateway answered errors {answer['errors']}")
        _, _, floor_answer = post(floor_url, floor)
        if answer["data"] != floor_answer["data"]:
            raise CheckFailed(
                f"{operation.key}: gateway and floor differ\n"
                f"  gateway {answer['data']}\n  floor   {floor_answer['data']}"
            )
        statements.append(steady_statements(gateway_url, graphql)[0])
    return Checked(operation.key, len(pairs), statements)


def steady_statements(base_url: str, request: Request, body: bytes | None = None) -> tuple[int, Any]:
    """The statements of `request` once the gateway knows the caller: the fewest of three sends.

    A worker looks up a caller's tenant or partner id the first time it sees the token and remembers it
    (auth/scope.py), so that first request sends one statement more. The measured servers run two workers, so
    at most two of three sends can be a worker's first: the fewest is the steady state the load measures.
    """
    return min((statements_of(base_url, request, body) for _ in range(3)), key=lambda counted: counted[0])


def statements_of(base_url: str, request: Request, body: bytes | None = None) -> tuple[int, Any]:
    status, headers, answer = post(base_url, request, body=body)
    if status != 200 or answer.get("errors"):
        raise CheckFailed(f"{request.path}: {status} {answer}")
    return int({k.lower(): v for k, v in headers.items()}[STATEMENTS_HEADER]), answer


def _has_rows(data: Any) -> bool:
    """Whether an answer holds some non-empty list (a usage read that found nothing measures nothing)."""
    if isinstance(data, list):
        return bool(data)
    if isinstance(data, dict):
        return any(_has_rows(value) for value in data.values())
    return False
