"""`python -m bench.postgraphile check [--size small] [--load SECONDS]`: PostGraphile's answers against the gateway's.

1. Reuse (or seed) the dataset's database, as `python -m bench` does; install PostGraphile (npm ci into the cache,
   once) and apply its schema (bench/postgraphile/schema.sql).
2. Start a development-mode gateway with the harness's keys, and each PostGraphile variant in turn; for `--count`
   requests drawn from each read's pool, assert the reshaped `data` equal to the gateway's, and record the
   statements PostGraphile sent.
3. With --load: a short wrk run per read on each variant (2 workers, as the harness runs them), to see that the
   req/s are sane. This is a smoke test, not the benchmark (`python -m bench` measures).
Run it under the shared lock (flock /work/wt/test.lock ...): it loads the machine's two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import cpu, dataset, operations, wrk
from bench.postgraphile.check import check_all, operation
from bench.postgraphile.database import prepare_database
from bench.postgraphile.install import install, version
from bench.postgraphile.requests import OPERATIONS
from bench.postgraphile.server import VARIANTS, running
from bench.server import Server, free_port
from bench.tokens import AUDIENCE, ISSUER, TokenIssuer


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.postgraphile", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check"])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--count", type=int, default=20, help="requests compared per read and variant")
    parser.add_argument("--load", type=float, default=0.0, metavar="SECONDS", help="then load each read briefly")
    parser.add_argument("--concurrency", type=int, default=16)
    return parser.parse_args()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _dev_gateway(prepared: dataset.Prepared, jwks: Path, work: Path) -> Server:
    env = {
        "DPOR_ENV": "dev",
        "DPOR_DATABASE_URL": prepared.sqlalchemy_url,
        "DPOR_OAUTH_ISSUER": ISSUER,
        "DPOR_OAUTH_AUDIENCE": AUDIENCE,
        "DPOR_OAUTH_JWKS_FILE": str(jwks),
        "DPOR_RATE_LIMIT_POINTS": str(10**12),
        "DPOR_LOG_LEVEL": "WARNING",
        "DPOR_VAR_DIR": str(work / "var"),
    }
    executable = str(Path(sys.executable).with_name("dpor-gateway"))
    port = free_port()
    command = [executable, "serve", "--port", str(port), "--workers", "1"]
    return Server("gateway-dev", command, env, port, work / "gateway-dev.log")


def _load(
    reads: list[operations.Operation], url: str, work: Path, install_dir: Path, jwks: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    tool = wrk.available()
    if tool is None:
        raise SystemExit("--load needs wrk")
    results = []
    with running(url, work, install_dir=install_dir, jwks=jwks, variants=tuple(args.variants)) as servers:
        for variant, measured in servers.items():
            for read in reads:
                translated = operation(read, variant).graphql
                wrk.run(tool, measured.base_url, translated, concurrency=args.concurrency, seconds=1)
                before = cpu.snapshot()
                result = wrk.run(tool, measured.base_url, translated, concurrency=args.concurrency, seconds=args.load)
                spent = cpu.usage(before, cpu.snapshot(), set(measured.pids()))
                result["server_cpu_ms_per_request"] = 1000 * spent["server"] / max(1, result["measured"])
                results.append({"operation": read.key, "variant": variant, **result})
    return results


def main() -> int:
    args = _arguments()
    spec = dataset.SPECS[args.size]
    prepared = asyncio.run(dataset.prepare(spec, args.admin_url, log=_log))
    rng = random.Random(5)
    sample = asyncio.run(dataset.sample(prepared.url, rng))
    work = Path(tempfile.mkdtemp(prefix="dpor-bench-postgraphile-"))
    issuer = TokenIssuer(work)
    jwks = issuer.write_jwks()
    reads = [build(sample, issuer) for build in operations.READS]
    reads = [read for read in reads if read.key in OPERATIONS]
    install_dir = install()
    _log(f"PostGraphile {version(install_dir)} in {install_dir}; applying its schema to {spec.database}")
    prepare_database(prepared.url)

    gateway = _dev_gateway(prepared, jwks, work)
    gateway.start()
    try:
        found = check_all(
            reads, gateway.base_url, prepared.url, work, install_dir=install_dir, jwks=jwks,
            variants=tuple(args.variants), count=args.count, rng=random.Random(13),
        )  # fmt: skip
    finally:
        gateway.stop()
    for key, by_variant in found.items():
        for variant, compared in by_variant.items():
            counts = sorted(set(compared.statements))
            print(
                f"{key:14} {variant:8} equal to the gateway on {compared.compared} requests"
                f" ({compared.rows} rows); statements per request {counts}"
                + (f"; refused {compared.refused} foreign-token requests" if compared.refused else "")
            )
    if args.load:
        print(f"\nsmoke load: wrk c={args.concurrency}, {args.load:.0f} s per read after 1 s of warm-up")
        for result in _load(reads, prepared.url, work, install_dir, jwks, args):
            print(
                f"{result['operation']:14} {result['variant']:8} {result['requests_per_second']:8,.0f} req/s"
                f"  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms"
                f"  server CPU {result['server_cpu_ms_per_request']:.2f} ms/req  not 200: {result['not_200']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
