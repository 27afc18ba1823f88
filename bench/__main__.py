"""`python -m bench [--size small|large] [--duration S] [--runs N] [--concurrency 16 64]`: the whole benchmark.

1. Seed (or reuse) the dataset's database (bench.dataset) and record its load time.
2. Mint real tokens from a key made for this run; write the JWKS file the gateway trusts (bench.tokens).
3. Check every operation on a development-mode gateway against the floor app: same data and statement counts
   (bench.check). The floor's usage statements are the gateway's own (bench.floor_sql), so they cannot drift.
4. Start the gateway with production settings (2 workers) and the floor (2 workers); for each concurrency and
   operation run the gateway and the floor in turn, `runs` times, for `duration` seconds each, with wrk or the
   Python load generator (bench.wrk, bench.loadgen). Report medians (bench.report).
5. Time `dpor-gateway ingest FILE` on the dataset's rows, fresh and re-sent, in a database of its own
   (bench.ingest).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import check, cpu, dataset, ingest, operations, postgraphile, report, wrk
from bench.operations import Operation, Request
from bench.server import Server, free_port, python_module
from bench.tokens import AUDIENCE, ISSUER, TokenIssuer

RESULTS = Path(__file__).resolve().parent / "results"
WORKERS = 2
POOL_SIZE = 10  # the gateway's default DPOR_DB_POOL_SIZE, per worker; the floor gets the same
# The rate limiter stays on (its cost is part of each request) with a budget the load cannot exhaust.
RATE_LIMIT_POINTS = 10**12
DEFAULTS = {"small": {"duration": 5.0, "runs": 1}, "large": {"duration": 15.0, "runs": 3}}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="large")
    parser.add_argument("--duration", type=float, help="seconds per run (default: 5 small, 15 large)")
    parser.add_argument("--runs", type=int, help="runs per operation and concurrency; medians are reported")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the marker matches")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write results files")
    parser.add_argument(
        "--operations", nargs="+", metavar="KEY", help="only these operations (e.g. node set_dpor ingest)"
    )
    parser.add_argument("--tag", help="suffix of the results files (e.g. usage: <date>-<size>-usage.md)")
    parser.add_argument(
        "--interpreted",
        action="store_true",
        help="serve every read on the interpreter (DPOR_COMPILED_READS=false), to set against a default run",
    )
    parser.add_argument(
        "--no-postgraphile",
        action="store_true",
        help="leave PostGraphile 4 out (by default both variants are checked and measured beside the gateway)",
    )
    parser.add_argument("--report", type=Path, metavar="JSON", help="only render the Markdown of a results JSON")
    return parser.parse_args()


def _log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _gateway(env: dict[str, str], port: int, log: Path) -> Server:
    executable = str(Path(sys.executable).with_name("dpor-gateway"))
    return Server("gateway", [executable, "serve", "--port", str(port), "--workers", str(WORKERS)], env, port, log)


def _floor(url: str, port: int, log: Path) -> Server:
    command = python_module(
        "uvicorn", "bench.floor:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(WORKERS), "--no-access-log", "--log-level", "info",
    )  # fmt: skip
    env = {"DPOR_BENCH_FLOOR_DATABASE_URL": url, "DPOR_BENCH_FLOOR_POOL_SIZE": str(POOL_SIZE)}
    return Server("floor", command, env, port, log)


def _python_load(
    server: Server, operation: Operation, requests: list[Request], concurrency: int, seconds: float
) -> Any:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "concurrency": concurrency,
        "duration_seconds": seconds,
        "scenario": operation.scenario or "replay",
        "requests": [{"path": r.path, "body": r.body.decode(), "token": r.token} for r in requests],
    }
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as file:
        file.write(orjson.dumps(spec))
        file.flush()
        done = subprocess.run(python_module("bench.loadgen", file.name), capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load(tool: str | None, server: Server, operation: Operation, floor: bool, concurrency: int, seconds: float) -> Any:
    requests = operation.floor if floor else operation.graphql
    before = cpu.snapshot()
    if tool is not None and operation.scenario is None:
        # wrk's warm-up: a short unmeasured run, so pools and caches are filled as in the Python generator.
        wrk.run(tool, server.base_url, requests, concurrency=concurrency, seconds=1)
        before = cpu.snapshot()
        result = wrk.run(tool, server.base_url, requests, concurrency=concurrency, seconds=seconds)
    else:
        # The Python generator warms up inside its own run; its CPU figures include that second.
        result = _python_load(server, operation, requests, concurrency, seconds)
    after = cpu.snapshot()
    spent = cpu.usage(before, after, set(server.pids()))
    result["cpu_seconds"] = spent
    result["worker_cpu_shares"] = cpu.worker_shares(before, after, server.worker_pids())
    sent = result.get("http_requests", result["measured"]) + result.get("warmup_http_requests", 0)
    result["server_cpu_ms_per_request"] = 1000 * spent["server"] / max(1, sent)
    return result


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each figure over the runs (each figure separately), plus the runs themselves."""
    keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_request")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    # The busiest worker's share of the workers' CPU in the least even run (issue 13: at most 0.6 for two).
    shares = [run["worker_cpu_shares"][0] for run in runs if run.get("worker_cpu_shares")]
    return {**median, "busiest_worker_share": max(shares) if shares else None, "tool": runs[0]["tool"], "runs": runs}


def main() -> int:
    args = _arguments()
    if args.report is not None:
        text = report.markdown(orjson.loads(args.report.read_bytes()))
        args.report.with_suffix(".md").write_text(text, encoding="utf-8")
        print(text)
        return 0
    spec = dataset.SPECS[args.size]
    duration = args.duration or DEFAULTS[args.size]["duration"]
    runs = args.runs or int(DEFAULTS[args.size]["runs"])
    started = time.perf_counter()

    _log(f"dataset {spec.database} ...")
    prepared = asyncio.run(dataset.prepare(spec, args.admin_url, force=args.reseed, log=_log))
    _log(f"dataset ready ({'reused' if prepared.reused else 'seeded'}; seed took {prepared.seed_seconds:.1f} s)")

    tool = None if args.loadgen == "python" else wrk.available()
    if args.loadgen == "wrk" and tool is None:
        raise SystemExit("wrk is not installed and could not be installed")
    _log(f"load generator: {'wrk ' + tool if tool else 'python (bench.loadgen)'}")

    rng = random.Random(5)
    sample = asyncio.run(dataset.sample(prepared.url, rng))
    work = Path(tempfile.mkdtemp(prefix="dpor-bench-"))
    issuer = TokenIssuer(work)
    jwks = issuer.write_jwks()
    reads = [build(sample, issuer) for build in operations.READS]
    writes = [build(sample, issuer, rng) for build in operations.WRITES]
    if args.operations:
        reads = [operation for operation in reads if operation.key in args.operations]
        writes = [operation for operation in writes if operation.key in args.operations]

    env = {
        "DPOR_ENV": "production",
        "DPOR_DATABASE_URL": prepared.sqlalchemy_url,
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
        "DPOR_COMPILED_READS": "false" if args.interpreted else "true",
    }
    checks: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    memory: dict[str, int] | None = None
    if reads or writes:
        checks, results, memory = _servers(
            tool, args.concurrency, env, prepared, work, reads, writes, sample, issuer, duration, runs,
            not args.no_postgraphile,
        )  # fmt: skip
    ingested = None
    if not args.operations or "ingest" in args.operations:
        ingested = asyncio.run(ingest.measure(prepared, args.admin_url, work, _log))

    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "size": args.size,
        "spec": {**spec.__dict__, "usage_rows": prepared.usage_rows},
        "seed": {"reused": prepared.reused, "seconds": prepared.seed_seconds, "output": prepared.seed_output},
        "settings": {
            "workers": WORKERS,
            "pool_size_per_worker": POOL_SIZE,
            "duration_seconds": duration,
            "runs": runs,
            "concurrency": args.concurrency,
            "load_generator": "wrk" if tool else "python",
            "rate_limit_points": RATE_LIMIT_POINTS,
            "cpus": _cpus(),
            "current_month": operations.current_month(),
            "twelve_months": operations.twelve_months(),
        },
        "checks": checks,
        "results": results,
        "memory": memory,
        "ingest": ingested,
        "pending": report.PENDING,
        "postgraphile": None
        if args.no_postgraphile
        else {
            "version": postgraphile.version(postgraphile.install()),
            "workers": WORKERS,
            "pool_size_per_worker": POOL_SIZE,
        },
        "harness_seconds": time.perf_counter() - started,
    }
    text = report.markdown(document)
    print(text)
    if not args.no_write:
        stem = RESULTS / (f"{datetime.now(UTC):%Y-%m-%d}-{args.size}" + (f"-{args.tag}" if args.tag else ""))
        stem.with_suffix(".json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        stem.with_suffix(".md").write_text(text, encoding="utf-8")
        _log(f"wrote {stem}.md and .json")
    return 0


def _servers(
    tool: str | None,
    concurrency: list[int],
    env: dict[str, str],
    prepared: dataset.Prepared,
    work: Path,
    reads: list[Operation],
    writes: list[Operation],
    sample: dataset.Sample,
    issuer: TokenIssuer,
    duration: float,
    runs: int,
    with_postgraphile: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, int]]:
    """Check every operation on a development gateway against the floor, then measure both."""
    floor = _floor(prepared.url, free_port(), work / "floor.log")
    floor.start()
    try:
        _log("checking answers and statement counts on a development-mode gateway ...")
        dev_env = {**env, "DPOR_ENV": "dev", "DPOR_LOG_LEVEL": "INFO"}
        dev = _gateway(dev_env, free_port(), work / "gateway-dev.log")
        dev.start()
        try:
            checks = _checks(dev, floor, reads, writes, sample, issuer)
            if with_postgraphile:
                peers_dir = postgraphile.install()
                postgraphile.prepare_database(prepared.url)
                found = postgraphile.check_all(
                    reads, dev.base_url, prepared.url, work, install_dir=peers_dir, jwks=issuer.jwks_path
                )
                for key, by_variant in postgraphile.as_json(found).items():
                    checks[key]["postgraphile"] = by_variant
        finally:
            dev.stop()
        gateway = _gateway(env, free_port(), work / "gateway.log")
        gateway.start()
        try:
            with contextlib.ExitStack() as stack:
                peers: dict[str, Server] = {}
                if with_postgraphile:
                    peers = stack.enter_context(
                        postgraphile.running(
                            prepared.url,
                            work,
                            install_dir=peers_dir,
                            jwks=issuer.jwks_path,
                            workers=WORKERS,
                            pool_size=POOL_SIZE,
                        )
                    )
                results = _measure(tool, gateway, floor, peers, reads, writes, concurrency, duration, runs)
                memory = {
                    "gateway_peak_rss_bytes": gateway.peak_rss_bytes(),
                    "floor_peak_rss_bytes": floor.peak_rss_bytes(),
                    **{f"postgraphile_{v}_peak_rss_bytes": peer.peak_rss_bytes() for v, peer in peers.items()},
                }
        finally:
            gateway.stop()
    finally:
        floor.stop()
    return checks, results, memory


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _checks(
    dev: Server,
    floor: Server,
    reads: list[Operation],
    writes: list[Operation],
    sample: dataset.Sample,
    issuer: TokenIssuer,
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for operation in reads:
        compared = check.compare(operation, dev.base_url, floor.base_url)
        found[operation.key] = {
            "compared_with_floor": compared.compared,
            "statements": sorted(set(compared.statements)),
            "nesting_depth": report.nesting_depth(operation.document),
        }
    if "attributed" in found:
        found["attributed"]["statements_by_page_size"] = _statements_by_page(dev, sample, issuer)
    for operation in writes:
        found.update(_mutation_statements(dev, operation))
    return found


def _statements_by_page(dev: Server, sample: dataset.Sample, issuer: TokenIssuer) -> dict[str, int]:
    """Statements must not grow with the page: the same partner at 1, 10 and 50 items."""
    partner = sample.partners[0]
    by_page: dict[str, int] = {}
    for first in (1, 10, 50):
        request = operations.attributed_subscriptions(dataset.Sample([partner], []), issuer, first=first).graphql[0]
        by_page[str(first)] = check.steady_statements(dev.base_url, request)[0]
    return by_page


def _mutation_statements(dev: Server, operation: Operation) -> dict[str, Any]:
    """Read the version, set a DPOR with it, and count the statements of each."""
    request = operation.graphql[0]
    variables = orjson.loads(request.body)
    del variables["partnerIds"]
    read = Request(
        "/graphql",
        orjson.dumps({"query": operations.SUBSCRIPTION_VERSION, "variables": {"id": variables["subscriptionId"]}}),
        request.token,
    )
    version = check.statements_of(dev.base_url, read)[1]["data"]["node"]["version"]
    body = orjson.dumps(
        {"query": operations.SET_DPOR, "variables": {"input": {**variables, "expectedVersion": version}}}
    )
    return {
        operation.key: {
            "statements": [check.statements_of(dev.base_url, request, body)[0]],
            "nesting_depth": report.nesting_depth(operation.document),
        },
        "version_read": {"statements": [check.statements_of(dev.base_url, read)[0]]},
    }


def _measure(
    tool: str | None,
    gateway: Server,
    floor: Server,
    peers: dict[str, Server],
    reads: list[Operation],
    writes: list[Operation],
    concurrencies: list[int],
    duration: float,
    runs: int,
) -> list[dict[str, Any]]:
    results = []
    for concurrency in concurrencies:
        for operation in [*reads, *writes]:
            gateway_runs, floor_runs = [], []
            peer_runs: dict[str, list[dict[str, Any]]] = {}
            for run in range(runs):
                # Interleaved, so drift (autovacuum, page cache, thermal) hits both sides alike.
                _log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: gateway")
                gateway_runs.append(_load(tool, gateway, operation, False, concurrency, duration))
                if operation.floor:
                    _log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: floor")
                    floor_runs.append(_load(tool, floor, operation, True, concurrency, duration))
                for variant, peer in peers.items() if operation.key in postgraphile.OPERATIONS else ():
                    _log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: postgraphile {variant}")
                    translated = postgraphile.operation(operation, variant)
                    peer_runs.setdefault(variant, []).append(
                        _load(tool, peer, translated, False, concurrency, duration)
                    )
            results.append(
                {
                    "operation": operation.key,
                    "title": operation.title,
                    "concurrency": concurrency,
                    "gateway": _median_run(gateway_runs),
                    "floor": _median_run(floor_runs) if floor_runs else None,
                    "postgraphile": {variant: _median_run(found) for variant, found in peer_runs.items()},
                    "gateway_rss_bytes": gateway.rss_bytes(),
                }
            )
    return results


if __name__ == "__main__":
    raise SystemExit(main())
