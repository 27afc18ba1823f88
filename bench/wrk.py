"""Drive wrk (Debian's `wrk` package) with a Lua script that replays a pool of requests, and read its
percentiles back as JSON.

wrk is a C load generator: at the request rates of the floor endpoint a Python client would saturate before
the server does, on a machine where both share two cores. The Lua script picks a request at random per call,
counts answers that are not 200 (wrk reports non-2xx/3xx only) and prints p50/p95/p99 from wrk's own
histogram in `done`. GraphQL error bodies are not inspected under load (that would slow wrk); the harness checks
every operation's answers before the runs (bench.check).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.operations import Request

RESULT_MARK = "BENCH-RESULT "


def available() -> str | None:
    """Path of wrk, installing Debian's package when possible (root and apt present), else None."""
    found = shutil.which("wrk")
    if found is not None:
        return found
    if shutil.which("apt-get") is not None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/{}(),$!=+@")


def _lua_string(value: str) -> str:
    # A quoted Lua string with every other byte as a decimal escape (\ddd): safe for any UTF-8 content.
    return '"' + "".join(chr(byte) if byte in _PLAIN else f"\\{byte:03d}" for byte in value.encode()) + '"'


def script(requests: Sequence[Request]) -> str:
    items = ",\n".join(
        "{" + f"{_lua_string(r.path)}, {_lua_string(r.body.decode())}, {_lua_string('Bearer ' + r.token)}" + "}"
        for r in requests
    )
    return f"""
local pool = {{
{items}
}}
bad = 0  -- global: done() reads it from each thread with thread:get
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
end

function request()
  local r = pool[math.random(#pool)]
  return wrk.format("POST", r[1], {{["Content-Type"] = "application/json", ["Authorization"] = r[3]}}, r[2])
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local not_ok = 0
  for _, thread in ipairs(threads) do not_ok = not_ok + thread:get("bad") end
  io.write("{RESULT_MARK}" .. string.format(
    '{{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "not_200": %d,'
    .. ' "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    not_ok, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


def run(wrk: str, base_url: str, requests: Sequence[Request], *, concurrency: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "replay.lua"
        path.write_text(script(requests), encoding="utf-8")
        # Two threads: the machine has two cores, and wrk's threads are cheap next to the server's workers.
        threads = min(2, concurrency)
        done = subprocess.run(
            [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", str(path), base_url + requests[0].path],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    line = next((line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line[len(RESULT_MARK) :])
    seconds_run = raw["duration_us"] / 1e6
    return {
        "tool": "wrk",
        "seconds": seconds_run,
        "measured": raw["requests"],
        "requests_per_second": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "not_200": raw["not_200"],
        "socket_errors": {k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")},
    }
