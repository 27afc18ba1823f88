"""The Python load generator: a separate process holding `concurrency` keep-alive HTTP/1.1 connections, each
sending requests back to back for a fixed time (a closed loop, like wrk).

`python -m bench.loadgen SPEC.json` reads the target, the requests and the scenario from the file and prints
one JSON result line. Used when wrk is not installed, and always for read-modify-write scenarios (wrk cannot
carry a version read from one answer into the next request).

The client is hand-written on asyncio streams rather than httpx: httpx spends more CPU per request than the
server being measured, on a machine where the client and the server share two cores. This client does only
what the benchmark needs (Content-Length bodies, keep-alive) and refuses anything else loudly.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.operations import SET_DPOR, SUBSCRIPTION_VERSION
from resolvers.codes import Code


class ProtocolError(Exception):
    pass


@dataclass
class Outcomes:
    latencies: list[float] = field(default_factory=list)  # seconds, of measured requests
    statuses: dict[int, int] = field(default_factory=dict)
    # GraphQL outcomes by name: "ok", an error code, or for set_dpor "changed" / "unchanged" / "conflict".
    results: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # every HTTP request sent, measured or not (set_dpor also sends reads)

    def count(self, name: str) -> None:
        self.results[name] = self.results.get(name, 0) + 1


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("ascii")
        self.writer.write(head + body)
        header_block = await self.reader.readuntil(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length: int | None = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "transfer-encoding":
                raise ProtocolError("chunked answers are not supported by this client")
        if length is None:
            raise ProtocolError("answer without Content-Length")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _graphql_outcome(status: int, body: bytes) -> tuple[str, Any]:
    if status != 200:
        return f"http_{status}", None
    answer = orjson.loads(body)
    errors = answer.get("errors")
    if errors:
        return str((errors[0].get("extensions") or {}).get("code", "error")), answer
    return "ok", answer


async def _replay(connection: Connection, requests: list[dict[str, str]], rng: random.Random, out: Outcomes) -> None:
    request = rng.choice(requests)
    body = request["body"].encode()
    started = time.perf_counter()
    status, answer = await connection.post(request["path"], body, request["token"])
    out.latencies.append(time.perf_counter() - started)
    out.requests += 1
    out.statuses[status] = out.statuses.get(status, 0) + 1
    if request["path"] == "/graphql":
        out.count(_graphql_outcome(status, answer)[0])
    else:
        out.count("ok" if status == 200 else f"http_{status}")


async def _read_version(connection: Connection, subscription_id: str, token: str, out: Outcomes) -> int | None:
    body = orjson.dumps({"query": SUBSCRIPTION_VERSION, "variables": {"id": subscription_id}})
    status, answer = await connection.post("/graphql", body, token)
    out.requests += 1
    outcome, data = _graphql_outcome(status, answer)
    if outcome != "ok" or data["data"]["node"] is None:
        out.count(f"read_{outcome}")
        return None
    return int(data["data"]["node"]["version"])


async def _set_dpor(connection: Connection, requests: list[dict[str, str]], rng: random.Random, out: Outcomes) -> None:
    """Read the version, set the DPOR with it; on CONFLICT (someone changed it in between) read again and
    retry once. Latency is the mutation's own round trip; every outcome is counted."""
    request = rng.choice(requests)
    variables = orjson.loads(request["body"])
    variables["partnerId"] = rng.choice(variables.pop("partnerIds"))
    token = request["token"]
    for attempt in range(2):
        version = await _read_version(connection, variables["subscriptionId"], token, out)
        if version is None:
            return
        body = orjson.dumps({"query": SET_DPOR, "variables": {"input": {**variables, "expectedVersion": version}}})
        started = time.perf_counter()
        status, answer = await connection.post("/graphql", body, token)
        out.latencies.append(time.perf_counter() - started)
        out.requests += 1
        out.statuses[status] = out.statuses.get(status, 0) + 1
        outcome, data = _graphql_outcome(status, answer)
        if outcome == "ok":
            changed = data["data"]["setDigitalPartnerOfRecord"]["changed"]
            out.count("changed" if changed else "unchanged")
            return
        out.count("conflict" if outcome == Code.CONFLICT else outcome)
        if outcome != Code.CONFLICT or attempt == 1:
            return
        out.count("conflict_retried")


SCENARIOS = {"replay": _replay, "set_dpor": _set_dpor}


async def _worker(host: str, port: int, spec: dict[str, Any], seed: int, stop_at: float, out: Outcomes) -> None:
    scenario = SCENARIOS[spec["scenario"]]
    rng = random.Random(seed)
    connection = await Connection.open(host, port)
    try:
        while time.perf_counter() < stop_at:
            await scenario(connection, spec["requests"], rng, out)
    finally:
        connection.close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    out = Outcomes()
    host, port = spec["host"], int(spec["port"])
    # A warm-up (not measured) fills the pools and caches of both servers, as wrk's first second would.
    warm_until = time.perf_counter() + float(spec.get("warmup_seconds", 1.0))
    warm = Outcomes()
    await asyncio.gather(*(_worker(host, port, spec, i, warm_until, warm) for i in range(spec["concurrency"])))
    started = time.perf_counter()
    stop_at = started + float(spec["duration_seconds"])
    await asyncio.gather(*(_worker(host, port, spec, 1000 + i, stop_at, out) for i in range(spec["concurrency"])))
    elapsed = time.perf_counter() - started
    latencies = sorted(out.latencies)

    def percentile(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "tool": "python",
        "seconds": elapsed,
        "measured": len(latencies),
        "requests_per_second": len(latencies) / elapsed,
        "http_requests": out.requests,
        "warmup_http_requests": warm.requests,
        "p50_ms": percentile(50),
        "p95_ms": percentile(95),
        "p99_ms": percentile(99),
        "statuses": {str(k): v for k, v in out.statuses.items()},
        "results": out.results,
    }


def main() -> None:
    with open(sys.argv[1], "rb") as file:
        spec = orjson.loads(file.read())
    try:
        import uvloop  # the gateway's uvicorn runs on uvloop too (uvicorn[standard])
    except ImportError:
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
