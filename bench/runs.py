"""One measured run of an operation against one server, and the median over runs.

A run is wrk (after a one-second unmeasured warm-up) or, for scenarios wrk cannot replay, the Python load
generator in its own process (bench.loadgen); either way the server's CPU is read from /proc before and after
(bench.cpu), so CPU per request is the server's own, not the load generator's.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
from typing import Any

import orjson

from bench import cpu, wrk
from bench.operations import Operation, Request
from bench.server import Server, python_module


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


def load(tool: str | None, server: Server, operation: Operation, floor: bool, concurrency: int, seconds: float) -> Any:
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


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each figure over the runs (each figure separately), plus the runs themselves."""
    keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_request")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    # The busiest worker's share of the workers' CPU in the least even run (issue 13: at most 0.6 for two).
    shares = [run["worker_cpu_shares"][0] for run in runs if run.get("worker_cpu_shares")]
    return {**median, "busiest_worker_share": max(shares) if shares else None, "tool": runs[0]["tool"], "runs": runs}
