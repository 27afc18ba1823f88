"""`python -m bench.capture [--size small]`: the SQL the gateway sends for the usage reads and for (1) attributed
subscriptions (whose nested usage goes through the same aggregates), and whether the floor (bench.floor,
bench.floor_usage) still mirrors it.

Starts a development gateway with DPOR_DB_ECHO=true on the dataset, sends the first request of each of those
reads, prints the statements each one sent (with their parameters) and lists the floor statements no longer found
in them. After a change to resolvers/usage/aggregates.py, paste the new statements into bench.floor_usage (a list
of one parameter per id, `IN ($9::UUID, ...)`, becomes `{ids:B:K}`: see floor_usage.expand). The harness runs the
same comparison on its check step's log and stops when the floor has gone stale.

The usage statements depend on the shape of the window (how its last month is read: whole from the monthly rollup,
from it less the days outside the window, or day by day; resolvers/usage/month_span.py), which changes with the
day: each usage request is also sent with windows of every shape a month back, so all are checked whatever the
day.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import orjson

from bench import check, dataset, floor, floor_usage, operations
from bench.server import Server, free_port
from bench.tokens import AUDIENCE, ISSUER, TokenIssuer

# An echo log line: "<date> <time>,<ms> INFO sqlalchemy.engine.Engine <text>"; a statement may span lines.
_ENGINE_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO sqlalchemy\.engine\.Engine ", re.MULTILINE)
_NOT_STATEMENTS = ("[", "BEGIN", "ROLLBACK", "COMMIT", "select pg_catalog", "select current_schema", "show ")


def normalize(sql: str) -> str:
    return " ".join(sql.split())


def statements(log: str) -> list[str]:
    """The statements in a SQLAlchemy echo log, whitespace-normalized, in order (parameter lines left out)."""
    found = []
    for chunk in _ENGINE_LINE.split(log)[1:]:
        # A chunk runs to the next engine line; uvicorn's own lines after the last one are not SQL.
        text = "\n".join(line for line in chunk.splitlines() if not line.startswith("INFO:"))
        if not text.startswith(_NOT_STATEMENTS):
            found.append(normalize(text))
    return found


def mirrored(key: str, window: tuple[date, date] | None = None) -> dict[str, str]:
    """The floor statements of read `key`; the usage reads' for their window (by default today's)."""
    if key == "attributed":
        first, last = window or tuple(date.fromisoformat(day) for day in operations.current_month())
        return floor.attributed_mirrored(first, last)
    if key in ("partner_usage", "tenant_usage"):
        first, last = window or tuple(date.fromisoformat(day) for day in operations.twelve_months())
        by_window = floor_usage.partner_mirrored if key == "partner_usage" else floor_usage.tenant_mirrored
        return by_window(first, last)
    return floor_usage.MIRRORED.get(key, {})


def _sent(sql: str, sent: set[str]) -> bool:
    if "{ids:" not in sql:
        return normalize(sql) in sent
    # A template: sent with any page size up to the benchmark's.
    return any(normalize(floor_usage.expand(sql, count)) in sent for count in range(1, operations.ATTRIBUTED_PAGE + 1))


def stale(log: str, keys: list[str], window: tuple[date, date] | None = None) -> dict[str, list[str]]:
    """Per read in `keys`: the names of its floor statements the gateway did not send in `log`."""
    sent = set(statements(log))
    missing = {}
    for key in keys:
        names = [name for name, sql in mirrored(key, window).items() if not _sent(sql, sent)]
        if names:
            missing[key] = names
    return missing


def other_windows(key: str, first: date, last: date) -> list[tuple[date, date]]:
    """Windows of every other shape of read `key`'s usage SQL (see floor_usage.month_span), a month back.

    The last month read whole, mostly inside the window (its days outside subtracted), or mostly outside (read
    day by day); op (1)'s window is that one month, the others start a year before it.
    """
    month = (
        (first - timedelta(days=1)).replace(day=1)
        if key == "attributed"
        else (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    )
    ends = [(month + timedelta(days=32)).replace(day=1) - timedelta(days=1), month + timedelta(days=19), month]
    start = month if key == "attributed" else first
    return [(start, end) for end in ends]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capture", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    prepared = asyncio.run(dataset.prepare(dataset.SPECS[args.size], args.admin_url))
    sample = asyncio.run(dataset.sample(prepared.url, random.Random(5)))
    work = Path(tempfile.mkdtemp(prefix="dpor-capture-"))
    issuer = TokenIssuer(work)
    env = {
        "DPOR_ENV": "dev",
        "DPOR_DATABASE_URL": prepared.sqlalchemy_url,
        "DPOR_OAUTH_ISSUER": ISSUER,
        "DPOR_OAUTH_AUDIENCE": AUDIENCE,
        "DPOR_OAUTH_JWKS_FILE": str(issuer.write_jwks()),
        "DPOR_DB_ECHO": "true",
        "DPOR_VAR_DIR": str(work / "var"),
    }
    executable = str(Path(sys.executable).with_name("dpor-gateway"))
    log_path = work / "gateway-dev.log"
    gateway = Server("gateway", [executable, "serve", "--port", str(port := free_port())], env, port, log_path)
    gateway.start()
    stale_any = False
    try:
        requests: list[tuple[str, operations.Request, tuple[date, date] | None]] = []
        for build in (
            operations.attributed_subscriptions,
            operations.tenant_usage,
            operations.partner_attributed_usage,
        ):
            operation = build(sample, issuer)
            requests.append((operation.key, operation.graphql[0], None))
            variables = orjson.loads(operation.graphql[0].body)["variables"]
            names = ("monthStart", "today") if operation.key == "attributed" else ("from", "to")
            first, last = (date.fromisoformat(variables[name]) for name in names)
            for other in other_windows(operation.key, first, last):
                changed = {**variables, names[0]: other[0].isoformat(), names[1]: other[1].isoformat()}
                body = orjson.dumps({"query": operation.document, "variables": changed})
                request = operations.Request("/graphql", body, operation.graphql[0].token)
                requests.append((operation.key, request, other))
        for key, request, window in requests:
            before = log_path.stat().st_size
            check.statements_of(gateway.base_url, request)
            time.sleep(0.5)  # the worker's log lines reach the file after the answer
            with log_path.open("rb") as log:
                log.seek(before)
                text = log.read().decode()
            print(f"== {key}: {request.body.decode()}")
            print(_ENGINE_LINE.sub("", text).strip(), end="\n\n")
            missing = stale(text, [key], window)
            if missing:
                stale_any = True
                print(f"!! {key}: floor statements not sent by the gateway: {missing[key]}")
            else:
                print(f"ok {key}: every floor statement is one the gateway sent")
    finally:
        gateway.stop()
    return 1 if stale_any else 0


if __name__ == "__main__":
    raise SystemExit(main())
