"""`python -m bench.profile [--size small] [--operation attributed] [--concurrency 16] [--seconds 10]`: where a
gateway worker's CPU goes under load, by layer.

Starts the production gateway as the benchmark does, drives one operation with wrk, samples one worker with
py-spy (`pip install py-spy` into the venv: a profiling tool, deliberately not in the lock) and attributes
each sample to the innermost frame that belongs to a known layer (inclusive shares per layer are also printed).
Writes the raw samples next to the results for flame graphs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import dataset, operations, targets, wrk
from bench.server import free_port
from bench.tokens import TokenIssuer

# Innermost match wins: a sample in asyncpg called from SQLAlchemy called from a resolver is "asyncpg".
LAYERS = (
    ("asyncpg (driver, wire protocol)", ("asyncpg/",)),
    ("SQLAlchemy (ORM, Core, pool, asyncio adaptation)", ("sqlalchemy/",)),
    ("graphql-core (parse, validate, execute)", ("graphql/",)),
    ("Strawberry (schema, view, extensions framework)", ("strawberry/",)),
    ("gateway extensions (schema/extensions)", ("schema/extensions/",)),
    ("resolvers, schema types, policy (app code)", ("resolvers/", "schema/", "auth/policy", "auth/row_filters")),
    ("auth (token validation, scope)", ("auth/", "joserfc/", "cryptography/")),
    ("gateway HTTP layer, metrics, logging", ("gateway/", "prometheus_client/", "logging/")),
    ("Starlette, uvicorn, httptools", ("starlette/", "uvicorn/", "httptools/")),
    ("asyncio event loop, uvloop", ("asyncio/", "uvloop/")),
    ("JSON (orjson, json)", ("orjson", "json/")),
)


def layer_of(frame: str) -> str | None:
    for name, needles in LAYERS:
        if any(needle in frame for needle in needles):
            return name
    return None


def summarize(raw: Path) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """(samples, innermost-layer shares, inclusive-layer shares) of a py-spy raw (collapsed stacks) file."""
    total = 0
    innermost: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        layers = [layer for layer in map(layer_of, stack.split(";")) if layer is not None]
        innermost[layers[-1] if layers else "other (interpreter, C extensions, unknown)"] += count
        for layer in set(layers):
            inclusive[layer] += count
    return total, innermost, inclusive


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--operation", choices=["attributed", "node"], default="attributed")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, help="where to keep the raw samples (default: a temporary file)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    tool = wrk.available()
    if py_spy is None or tool is None:
        raise SystemExit("needs py-spy (pip install py-spy into the venv) and wrk")

    prepared = asyncio.run(dataset.prepare(dataset.SPECS[args.size], args.admin_url))
    sample = asyncio.run(dataset.sample(prepared.url, random.Random(5)))
    work = Path(tempfile.mkdtemp(prefix="dpor-profile-"))
    issuer = TokenIssuer(work)
    build = {"attributed": operations.attributed_subscriptions, "node": operations.subscription_node}
    operation = build[args.operation](sample, issuer)
    env = targets.production_env(asyncio.run(dataset.app_login(prepared.url)), issuer.write_jwks(), work)
    raw = args.out or work / "samples.raw"
    gateway = targets.gateway(env, free_port(), work / "gateway.log")
    gateway.start()
    try:
        wrk.run(tool, gateway.base_url, operation.graphql, concurrency=args.concurrency, seconds=2)  # warm-up
        worker = gateway.worker_pids()[0]
        recorder = subprocess.Popen(
            [py_spy, "record", "--format", "raw", "--nonblocking", "-r", "250", "-d", str(args.seconds),
             "-o", str(raw), "-p", str(worker)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        result = wrk.run(tool, gateway.base_url, operation.graphql, concurrency=args.concurrency, seconds=args.seconds)
        recorder.wait()
    finally:
        gateway.stop()
    total, innermost, inclusive = summarize(raw)
    print(f"{operation.title}, c={args.concurrency}: {result['requests_per_second']:.0f} req/s under the profiler")
    print(f"{total} samples of worker {worker} (on-CPU only) in {raw}")
    print("\nBy innermost layer (self):")
    for name, count in innermost.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("\nBy layer on the stack (inclusive):")
    for name, count in inclusive.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
