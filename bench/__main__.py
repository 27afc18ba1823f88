"""`python -m bench [--size SIZE] [--duration S] [--runs N] [--concurrency 16 64]`: the whole benchmark.

1. Seed (or reuse) the dataset's database (bench.dataset) and record its load time. A run with write operations
   (set_dpor) drops the reuse marker, so the next run reads the dataset as seeded, not a day of writes later.
2. Mint real tokens from a key made for this run; write the JWKS file the gateway trusts (bench.tokens).
3. Check every operation on a development-mode gateway against the floor app: same data and statement counts
   (bench.check). The floor's usage statements are the gateway's own (bench.floor_sql), so they cannot drift.
4. Start the gateway with production settings (2 workers) and the floor (2 workers); for each concurrency and
   operation run the gateway and the floor in turn, `runs` times, for `duration` seconds each, with wrk or the
   Python load generator (bench.wrk, bench.loadgen). Report medians (bench.report).
5. Time `dpor-gateway ingest FILE` on the dataset's rows, fresh and re-sent, in a database of its own
   (bench.ingest).

This module reads the arguments and writes the report; the parts: bench.targets (the servers and the gateway's
production settings), bench.preflight (step 3), bench.measure and bench.runs (step 4), bench.log.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import dataset, ingest, operations, postgraphile, report, wrk
from bench.log import log
from bench.measure import check_and_measure
from bench.targets import POOL_SIZE, RATE_LIMIT_POINTS, WORKERS, production_env
from bench.tokens import TokenIssuer

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULTS = {
    "small": {"duration": 5.0, "runs": 1},
    "large": {"duration": 15.0, "runs": 3},
    "xlarge": {"duration": 15.0, "runs": 3},
    "xlarge_half": {"duration": 15.0, "runs": 3},
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="large")
    parser.add_argument("--duration", type=float, help="seconds per run (default: 5 small, 15 the others)")
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

    log(f"dataset {spec.database} ...")
    prepared = asyncio.run(dataset.prepare(spec, args.admin_url, force=args.reseed, log=log))
    log(f"dataset ready ({'reused' if prepared.reused else 'seeded'}; seed took {prepared.seed_seconds:.1f} s)")

    tool = None if args.loadgen == "python" else wrk.available()
    if args.loadgen == "wrk" and tool is None:
        raise SystemExit("wrk is not installed and could not be installed")
    log(f"load generator: {'wrk ' + tool if tool else 'python (bench.loadgen)'}")

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

    if writes:
        asyncio.run(dataset.forget(prepared.url))
        log(f"this run writes ({', '.join(operation.key for operation in writes)}): the next run seeds again")
    gateway_url = asyncio.run(dataset.app_login(prepared.url))
    env = production_env(gateway_url, jwks, work, compiled_reads=not args.interpreted)
    checks: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    memory: dict[str, int] | None = None
    if reads or writes:
        checks, results, memory = check_and_measure(
            tool, args.concurrency, env, prepared, work, reads, writes, sample, issuer, duration, runs,
            not args.no_postgraphile,
        )  # fmt: skip
    ingested = None
    if not args.operations or "ingest" in args.operations:
        ingested = asyncio.run(ingest.measure(prepared, args.admin_url, work, log))

    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "size": args.size,
        "spec": {**spec.__dict__, "usage_rows": prepared.usage_rows},
        "seed": {
            "reused": prepared.reused,
            "seconds": prepared.seed_seconds,
            "output": prepared.seed_output,
            "database_bytes": asyncio.run(dataset.database_bytes(prepared.url)),
        },
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
        log(f"wrote {stem}.md and .json")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
