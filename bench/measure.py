"""The benchmark's servers and rounds: check on a development gateway, then measure the production gateway, the
floor and (optionally) PostGraphile, operation by operation and concurrency by concurrency.

Runs are interleaved (gateway, floor, PostGraphile, then again), so drift over the minutes of a benchmark
(autovacuum, page cache, thermal throttling) hits every side alike.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from bench import dataset, postgraphile, preflight, targets
from bench.log import log
from bench.operations import Operation
from bench.runs import load, median_run
from bench.server import Server, free_port
from bench.targets import POOL_SIZE, WORKERS
from bench.tokens import TokenIssuer


def check_and_measure(
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
    floor = targets.floor(prepared.url, free_port(), work / "floor.log")
    floor.start()
    try:
        log("checking answers and statement counts on a development-mode gateway ...")
        dev_env = {**env, "DPOR_ENV": "dev", "DPOR_LOG_LEVEL": "INFO"}
        dev = targets.gateway(dev_env, free_port(), work / "gateway-dev.log")
        dev.start()
        try:
            checks = preflight.checks(dev, floor, reads, writes, sample, issuer)
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
        gateway = targets.gateway(env, free_port(), work / "gateway.log")
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
                results = measure(tool, gateway, floor, peers, reads, writes, concurrency, duration, runs)
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


def measure(
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
                log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: gateway")
                gateway_runs.append(load(tool, gateway, operation, False, concurrency, duration))
                if operation.floor:
                    log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: floor")
                    floor_runs.append(load(tool, floor, operation, True, concurrency, duration))
                for variant, peer in peers.items() if operation.key in postgraphile.OPERATIONS else ():
                    log(f"c={concurrency} {operation.key} run {run + 1}/{runs}: postgraphile {variant}")
                    translated = postgraphile.operation(operation, variant)
                    peer_runs.setdefault(variant, []).append(load(tool, peer, translated, False, concurrency, duration))
            results.append(
                {
                    "operation": operation.key,
                    "title": operation.title,
                    "concurrency": concurrency,
                    "gateway": median_run(gateway_runs),
                    "floor": median_run(floor_runs) if floor_runs else None,
                    "postgraphile": {variant: median_run(found) for variant, found in peer_runs.items()},
                    "gateway_rss_bytes": gateway.rss_bytes(),
                }
            )
    return results
