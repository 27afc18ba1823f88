"""The servers the benchmark measures: the gateway (`dpor-gateway serve`) and the floor app, and the production
settings the gateway runs with.

Shared by `python -m bench` and `python -m bench.profile`, so a profile runs the gateway exactly as the
benchmark does: same workers, pool size, rate-limit budget and environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.server import Server, python_module
from bench.tokens import AUDIENCE, ISSUER

WORKERS = 2
POOL_SIZE = 10  # the gateway's default DPOR_DB_POOL_SIZE, per worker; the floor gets the same
# The rate limiter stays on (its cost is part of each request) with a budget the load cannot exhaust.
RATE_LIMIT_POINTS = 10**12


def production_env(database_url: str, jwks: Path, work: Path, *, compiled_reads: bool = True) -> dict[str, str]:
    """The gateway's environment under measurement: production mode, the run's own keys and var directory."""
    return {
        "DPOR_ENV": "production",
        "DPOR_DATABASE_URL": database_url,
        "DPOR_OAUTH_ISSUER": ISSUER,
        "DPOR_OAUTH_AUDIENCE": AUDIENCE,
        "DPOR_OAUTH_JWKS_FILE": str(jwks),
        "DPOR_DB_POOL_SIZE": str(POOL_SIZE),
        "DPOR_RATE_LIMIT_POINTS": str(RATE_LIMIT_POINTS),
        # Two workers without Redis: each keeps its own (practically unlimited) budget, which serve refuses in
        # production unless told it is meant.
        "DPOR_RATE_LIMIT_PER_PROCESS": "true",
        "DPOR_LOG_LEVEL": "WARNING",
        "DPOR_VAR_DIR": str(work / "var"),
        "DPOR_COMPILED_READS": "true" if compiled_reads else "false",
    }


def gateway(env: dict[str, str], port: int, log: Path) -> Server:
    executable = str(Path(sys.executable).with_name("dpor-gateway"))
    return Server("gateway", [executable, "serve", "--port", str(port), "--workers", str(WORKERS)], env, port, log)


def floor(url: str, port: int, log: Path) -> Server:
    command = python_module(
        "uvicorn", "bench.floor:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(WORKERS), "--no-access-log", "--log-level", "info",
    )  # fmt: skip
    env = {"DPOR_BENCH_FLOOR_DATABASE_URL": url, "DPOR_BENCH_FLOOR_POOL_SIZE": str(POOL_SIZE)}
    return Server("floor", command, env, port, log)
