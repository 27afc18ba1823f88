"""`python -m bench.capture [--size small]`: the SQL the gateway sends for the usage reads, and whether the
floor (bench.floor_usage) still mirrors it.

Starts a development gateway with DPOR_DB_ECHO=true on the dataset, sends the first request of each usage read,
prints the statements each one sent (with their parameters) and lists the floor statements no longer found in
them. After a change to resolvers/usage/aggregates.py, paste the new statements into bench.floor_usage. The
harness runs the same comparison on its check step's log and stops when the floor has gone stale.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from bench import check, dataset, floor_usage, operations
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


def stale(log: str, keys: list[str]) -> dict[str, list[str]]:
    """Per usage read in `keys`: the names of its floor statements the gateway did not send in `log`."""
    sent = set(statements(log))
    missing = {}
    for key in keys:
        names = [name for name, sql in floor_usage.MIRRORED.get(key, {}).items() if normalize(sql) not in sent]
        if names:
            missing[key] = names
    return missing


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
        for build in (operations.tenant_usage, operations.partner_attributed_usage):
            operation = build(sample, issuer)
            before = log_path.stat().st_size
            check.statements_of(gateway.base_url, operation.graphql[0])
            time.sleep(0.5)  # the worker's log lines reach the file after the answer
            with log_path.open("rb") as log:
                log.seek(before)
                text = log.read().decode()
            print(f"== {operation.key}: {operation.graphql[0].body.decode()}")
            print(_ENGINE_LINE.sub("", text).strip(), end="\n\n")
            missing = stale(text, [operation.key])
            if missing:
                stale_any = True
                print(f"!! {operation.key}: floor statements not sent by the gateway: {missing[operation.key]}")
            else:
                print(f"ok {operation.key}: every floor statement is one the gateway sent")
    finally:
        gateway.stop()
    return 1 if stale_any else 0


if __name__ == "__main__":
    raise SystemExit(main())
