"""`python -m bench.row_security [--size small] [--requests 2000] [--concurrency 1 16]`: what row-level security costs
per request (issue 16's target: at most 15%, the compiled path included).

For each read of the benchmark (compiled, and the interpreter) and each concurrency, the production app is driven
in process (bench.inprocess's driver: no sockets, no load generator) twice, alternating runs:

- `off`: connected as the superuser that owns the tables, telling the database nothing (row_security=False): what
  the gateway did before revision 0012_rls_policies;
- `on`: connected as a login role IN ROLE dpor_app, so the policies hold, each transaction told its caller
  (reads: `BEGIN; SELECT set_config(...)`, the statements, `COMMIT`).

Both run today's code: compiled statements on generic plans (db.engine.DriverPool), the interpreter's as
PostgreSQL chooses. The figures before revision 0014_rls_reach_once are in bench/results/2026-12-03-small-rls.md.

It prints CPU per request (the gateway process's) and wall time per request (at c=16: the database's share and the
extra round trips included, 1/throughput of one process). Its own database (`dpor_bench_<size>_rls`, kept for the
next run) and login role (`dpor_bench_rls_app`), never the benchmark's shared one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench import dataset, operations
from bench.inprocess import _drive
from bench.targets import production_env
from bench.tokens import TokenIssuer

APP_LOGIN = "dpor_bench_rls_app"
READS = {
    "attributed": "attributed_subscriptions",
    "node": "subscription_node",
    "tenant_usage": "tenant_usage",
    "partner_usage": "partner_attributed_usage",
}


async def _measure(
    url: str, *, row_security: bool, compiled: bool, requests: Any, count: int, concurrency: int
) -> tuple[float, float]:
    from db.engine import Database
    from gateway.app import create_app
    from gateway.settings import load_settings

    os.environ["DPOR_COMPILED_READS"] = "true" if compiled else "false"
    os.environ["DPOR_DATABASE_URL"] = url
    settings = load_settings()
    database = Database.from_url(
        settings.database_url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        row_security=row_security,
    )
    app = create_app(settings, database)
    try:
        async with app.router.lifespan_context(app):
            await _drive(app, requests, 200, concurrency)
            cpu, wall = time.process_time(), time.perf_counter()
            await _drive(app, requests, count, concurrency)
            return (time.process_time() - cpu) / count * 1e3, (time.perf_counter() - wall) / count * 1e3
    finally:
        await database.dispose()


async def _main(arguments: argparse.Namespace) -> None:
    spec = dataclasses.replace(dataset.SPECS[arguments.size], name=f"{arguments.size}_rls")
    prepared = await dataset.prepare(spec, arguments.admin_url)
    variants = {
        "off": (prepared.sqlalchemy_url, False),
        "on": (await dataset.app_login(prepared.url, APP_LOGIN), True),
    }
    sample = await dataset.sample(prepared.url, random.Random(7))
    work = Path(tempfile.mkdtemp(prefix="dpor-rls-bench-"))
    issuer = TokenIssuer(work)
    os.environ.update(production_env(prepared.sqlalchemy_url, issuer.write_jwks(), work))
    builders = {build.__name__: build for build in operations.READS}
    print("| read | path | c | variant | CPU ms/request | vs off | wall ms/request | vs off |")
    print("|---|---|---|---|---|---|---|---|")
    for name in arguments.reads:
        key = READS[name]
        graphql = builders[key](sample, issuer).graphql
        for compiled in (path == "compiled" for path in arguments.paths):
            for concurrency in arguments.concurrency:
                runs: dict[str, list[tuple[float, float]]] = {variant: [] for variant in variants}
                for _ in range(arguments.rounds):
                    for variant, (url, on) in variants.items():
                        measured = await _measure(
                            url,
                            row_security=on,
                            compiled=compiled,
                            requests=graphql,
                            count=arguments.requests,
                            concurrency=concurrency,
                        )
                        runs[variant].append(measured)
                cpu = {v: statistics.median(r[0] for r in runs[v]) for v in runs}
                wall = {v: statistics.median(r[1] for r in runs[v]) for v in runs}
                for variant in variants:
                    print(
                        f"| {name} | {'compiled' if compiled else 'interpreted'} | {concurrency} | {variant} |"
                        f" {cpu[variant]:.3f} | {cpu[variant] / cpu['off'] - 1:+.1%} |"
                        f" {wall[variant]:.3f} | {wall[variant] / wall['off'] - 1:+.1%} |",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.row_security", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on runs; medians are reported")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--paths", nargs="+", choices=("compiled", "interpreted"), default=["compiled", "interpreted"])
    parser.add_argument("--reads", nargs="+", choices=sorted(READS), default=list(READS))
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
