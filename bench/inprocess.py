"""`python -m bench.inprocess [--operation node] [--requests 3000] [--concurrency 1] [--interpreted] [--profile]`:
the gateway's own CPU per request, measured inside one process.

The production app (same settings as the benchmark's gateway, bench.targets) is driven through its ASGI
interface with the benchmark's own requests, so no HTTP server, socket or load generator shares the CPU and the
figure is the gateway's alone: process CPU time over the requests, after a warm-up. With `--profile`, cProfile's
top functions follow. A tool for working on per-request overhead; the benchmark (`python -m bench`) stays the
measure of record.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench import dataset, operations
from bench.targets import production_env
from bench.tokens import TokenIssuer


def _scope(request: operations.Request) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(request.body)).encode()),
            (b"authorization", f"Bearer {request.token}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _send_one(app: Any, request: operations.Request) -> bytes:
    body = bytearray()
    status: list[int] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": request.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(_scope(request), receive, send)
    if status != [200] or b'"errors"' in body:
        raise SystemExit(f"request failed ({status}): {bytes(body)[:300]!r}")
    return bytes(body)


async def _drive(app: Any, requests: list[operations.Request], count: int, concurrency: int) -> None:
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            await _send_one(app, requests[index % len(requests)])

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _main(arguments: argparse.Namespace) -> None:
    prepared = await dataset.prepare(dataset.SPECS[arguments.size], arguments.admin_url)
    sample = await dataset.sample(prepared.url, random.Random(7))
    work = Path(tempfile.mkdtemp(prefix="dpor-inprocess-"))
    issuer = TokenIssuer(work)
    jwks = issuer.write_jwks()
    os.environ.update(production_env(prepared.sqlalchemy_url, jwks, work, compiled_reads=not arguments.interpreted))
    builder = {build.__name__: build for build in operations.READS}
    keys = {"attributed": "attributed_subscriptions", "node": "subscription_node"}
    keys |= {"tenant_usage": "tenant_usage", "partner_usage": "partner_attributed_usage"}
    operation = builder[keys[arguments.operation]](sample, issuer)

    from gateway.app import create_app  # after the environment is set: the settings read it

    app = create_app(freeze_heap_at_startup=True)
    async with app.router.lifespan_context(app):
        await _drive(app, operation.graphql, arguments.warmup, arguments.concurrency)
        profiler = cProfile.Profile() if arguments.profile else None
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await _drive(app, operation.graphql, arguments.requests, arguments.concurrency)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started_wall
    mode = "interpreted" if arguments.interpreted else "compiled"
    print(
        f"{operation.title} [{mode}], {arguments.requests} requests at c={arguments.concurrency}:"
        f" {cpu / arguments.requests * 1e3:.3f} ms CPU per request, {wall / arguments.requests * 1e3:.3f} ms wall"
        + (" (under cProfile)" if profiler else "")
    )
    if profiler:
        pstats.Stats(profiler).sort_stats(arguments.sort).print_stats(arguments.top)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--operation", choices=["attributed", "node", "tenant_usage", "partner_usage"], default="node")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--interpreted", action="store_true", help="DPOR_COMPILED_READS=false")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    # uvicorn's loop, as the served gateway runs on.
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
