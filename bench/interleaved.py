"""`python -m bench.interleaved DIR_A DIR_B [--operation node] [--rounds 5] [--seconds 5]`: two versions of the
gateway's code side by side under wrk, runs interleaved (A, B, A, B...), so that a busy shared host weighs on both
alike.

Each directory holds a copy of the code (`git archive <commit> | tar -x -C DIR`); each version is served as the
benchmark serves it (bench.targets: production settings, 2 workers, the app role), both at once on their own ports,
and driven in turn with the benchmark's requests. Per run: req/s, and the server's CPU per request from /proc
(supervisor and workers, user and system time). Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
from pathlib import Path

from bench import cpu, dataset, operations, targets, wrk
from bench.server import Server, free_port
from bench.tokens import TokenIssuer


def _server_ticks(server: Server) -> int:
    ticks = 0
    for pid in server.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks


def directory_of(args: argparse.Namespace, index: int) -> Path:
    directory: Path = args.directories[index]
    return directory


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.interleaved", description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs=2, type=Path)
    parser.add_argument("--size", choices=sorted(dataset.SPECS), default="small")
    parser.add_argument("--operation", choices=["attributed", "node"], default="node")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    tool = wrk.available()
    if tool is None:
        raise SystemExit("needs wrk")
    prepared = asyncio.run(dataset.prepare(dataset.SPECS[args.size], args.admin_url))
    sample = asyncio.run(dataset.sample(prepared.url, random.Random(5)))
    work = Path(tempfile.mkdtemp(prefix="dpor-interleaved-"))
    issuer = TokenIssuer(work)
    build = {"attributed": operations.attributed_subscriptions, "node": operations.subscription_node}
    operation = build[args.operation](sample, issuer)
    env = targets.production_env(asyncio.run(dataset.app_login(prepared.url)), issuer.write_jwks(), work)
    here = os.getcwd()
    servers: list[Server] = []
    try:
        for index, directory in enumerate(args.directories):
            os.chdir(directory)  # the served code is the directory's (the workers import from their cwd)
            server = targets.gateway(env, free_port(), work / f"gateway-{index}.log")
            server.start()
            servers.append(server)
            os.chdir(here)
            wrk.run(tool, server.base_url, operation.graphql, concurrency=args.concurrency, seconds=2)  # warm-up
        figures: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
        for round_number in range(1, args.rounds + 1):
            for index, server in enumerate(servers):
                before = _server_ticks(server)
                result = wrk.run(
                    tool, server.base_url, operation.graphql, concurrency=args.concurrency, seconds=args.seconds
                )
                spent = (_server_ticks(server) - before) / cpu.TICKS
                if result["not_200"]:
                    raise SystemExit(f"{directory_of(args, index)} answered {result['not_200']} requests without 200")
                figures[index].append((result["requests_per_second"], spent / result["measured"] * 1e3))
                rate, per_request = figures[index][-1]
                name = directory_of(args, index)
                print(f"round {round_number} {name}: {rate:,.0f} req/s, {per_request:.3f} ms CPU/req", flush=True)
    finally:
        os.chdir(here)
        for server in servers:
            server.stop()
    print(f"\n{operation.title}, c={args.concurrency}, {args.rounds} x {args.seconds} s interleaved, medians:")
    for index, directory in enumerate(args.directories):
        rates = [rate for rate, _ in figures[index]]
        costs = [cost for _, cost in figures[index]]
        print(f"  {directory}: {statistics.median(rates):,.0f} req/s, {statistics.median(costs):.3f} ms CPU/req")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
