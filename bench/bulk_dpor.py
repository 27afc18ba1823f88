"""`python -m bench.bulk_dpor [--items 500] [--runs 7]`: bulk DPOR changes of 500 subscriptions in one call, timed
on PostgreSQL (issue 14: under 1 s; a benchmark, not a timed test).

1. A database of its own, `dpor_bench_bulk`, created by each run and dropped after it (these calls write history,
   and the read datasets of `python -m bench` must stay as seeded): migrated, then seeded with `dpor-gateway seed`
   (4 tenants of 600 subscriptions, 50 partners, 30 days of usage), so the tables the batch locks, reads and
   writes also hold other tenants' rows, and the synthetic DPOR history.
2. The gateway runs as in `python -m bench` (bench.targets: production settings, 2 workers, real RS256 tokens
   from bench.tokens); requests go over HTTP on loopback, one at a time, as the tenant's owner.
3. One warm-up round (not counted) removes the seeded DPORs. Then each run makes three calls on the same
   `--items` subscriptions, reading their versions first (outside the timing): `set` (every item gets a DPOR: a
   new row, a version bump and an audit event each), `replace` (every DPOR replaced by another partner's: one
   more executemany UPDATE ending the old rows), `remove` (every DPOR ended). Each answer must be without errors
   and report every item changed.
4. Per call: the wall time the client saw (the figure the 1 s target is about), and the CPU seconds the gateway's
   workers and PostgreSQL spent on it (robust to the shared host's other jobs, bench.cpu). Medians over the runs
   go to `bench/results/<date>-bulk-dpor.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
import orjson

from bench import cpu, dataset
from bench.log import log
from bench.server import free_port
from bench.targets import WORKERS, gateway, production_env
from bench.tokens import TokenIssuer
from resolvers.bulk_associations import MAX_ITEMS
from schema import global_id

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "dpor_bench_bulk"
TARGET_SECONDS = 1.0
SEED = {"tenants": 4, "subscriptions_per_tenant": 600, "partners": 50, "days": 30}
OPERATIONS = ("set", "replace", "remove")

CHANGES = "correlationId changes { changed subscription { version } association { validFrom } }"
BULK_SET = f"""
mutation BulkSet($input: BulkSetDigitalPartnerOfRecordInput!) {{
  bulkSetDigitalPartnerOfRecord(input: $input) {{ {CHANGES} }}
}}
"""
BULK_REMOVE = f"""
mutation BulkRemove($input: BulkRemoveDigitalPartnerOfRecordInput!) {{
  bulkRemoveDigitalPartnerOfRecord(input: $input) {{ {CHANGES} }}
}}
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_dpor", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=MAX_ITEMS, help=f"subscriptions per call (1-{MAX_ITEMS})")
    parser.add_argument("--runs", type=int, default=7, help="runs of set, replace, remove; medians are reported")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write results files")
    return parser.parse_args()


async def _prepare(admin_url: str) -> tuple[str, float]:
    """The bench database, migrated and seeded afresh; (its asyncpg URL, seed seconds)."""
    await dataset.drop_and_create(admin_url, DATABASE)
    url = f"{dataset.server_url(admin_url)}/{DATABASE}"
    sqlalchemy_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    dataset.run_gateway(["migrate"], sqlalchemy_url)
    started = time.perf_counter()
    seed = [f"--{key.replace('_', '-')}={value}" for key, value in SEED.items()]
    dataset.run_gateway(["seed", *seed], sqlalchemy_url)
    return url, time.perf_counter() - started


async def _targets(url: str, items: int) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    """(the tenant's external id, `items` of its ACTIVE subscriptions, two partner ids)."""
    connection = await asyncpg.connect(url)
    try:
        tenant = await connection.fetchrow(
            "SELECT t.id, t.external_id FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id"
            " WHERE t.status = 'ACTIVE' AND s.status = 'ACTIVE' GROUP BY t.id ORDER BY count(*) DESC, t.id LIMIT 1"
        )
        subscriptions = await connection.fetch(
            "SELECT id FROM subscriptions WHERE tenant_id = $1 AND status = 'ACTIVE' ORDER BY external_id LIMIT $2",
            tenant["id"],
            items,
        )
        partners = await connection.fetch("SELECT id FROM partners ORDER BY mpn_id LIMIT 2")
    finally:
        await connection.close()
    if len(subscriptions) < items:
        raise SystemExit(f"the seeded tenant has {len(subscriptions)} active subscriptions, fewer than {items}")
    return tenant["external_id"], [row["id"] for row in subscriptions], [row["id"] for row in partners]


async def _versions(url: str, subscriptions: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id, version FROM subscriptions WHERE id = ANY($1::uuid[])", subscriptions)
    finally:
        await connection.close()
    return {row["id"]: row["version"] for row in rows}


def _variables(
    operation: str, subscriptions: list[uuid.UUID], versions: dict[uuid.UUID, int], partner: uuid.UUID
) -> dict[str, Any]:
    items = [
        {"subscriptionId": global_id.encode("Subscription", sub), "expectedVersion": versions[sub]}
        for sub in subscriptions
    ]
    if operation == "remove":
        return {"input": {"subscriptions": items}}
    return {"input": {"partnerId": global_id.encode("Partner", partner), "subscriptions": items}}


async def _call(
    client: httpx.AsyncClient,
    token: str,
    operation: str,
    variables: dict[str, Any],
    workers: set[int],
    items: int | None,
) -> dict[str, float]:
    """One timed call; `items`: how many subscriptions it must report changed (None: any, for the warm-up)."""
    document = BULK_REMOVE if operation == "remove" else BULK_SET
    body = orjson.dumps({"query": document, "variables": variables})
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    before = cpu.snapshot()
    started = time.perf_counter()
    response = await client.post("/graphql", content=body, headers=headers)
    wall = time.perf_counter() - started
    after = cpu.snapshot()
    answer = response.json()
    if response.status_code != 200 or "errors" in answer:
        raise SystemExit(f"{operation} failed ({response.status_code}): {response.text[:500]}")
    (result,) = answer["data"].values()
    changed = sum(1 for change in result["changes"] if change["changed"])
    if items is not None and changed != items:
        raise SystemExit(f"{operation} changed {changed} of {items} subscriptions")
    spent = cpu.usage(before, after, workers)
    return {"wall_seconds": wall, "gateway_cpu_seconds": spent["server"], "postgres_cpu_seconds": spent["postgres"]}


async def _measure(url: str, items: int, runs: int, work: Path) -> dict[str, Any]:
    tenant, subscriptions, (first, second) = await _targets(url, items)
    issuer = TokenIssuer(work)
    jwks = issuer.write_jwks()
    token = issuer.owner(tenant)
    env = production_env(await dataset.app_login(url), jwks, work)
    server = gateway(env, free_port(), work / "gateway.log")
    server.start()
    samples: dict[str, list[dict[str, float]]] = {operation: [] for operation in OPERATIONS}
    try:
        workers = set(server.pids())
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            # Warm-up: both workers' pools and statement caches, and the seeded DPORs out of the way.
            for _ in range(WORKERS):
                for operation, partner in (("set", first), ("remove", first)):
                    versions = await _versions(url, subscriptions)
                    variables = _variables(operation, subscriptions, versions, partner)
                    await _call(client, token, operation, variables, workers, None)
            for run in range(runs):
                for operation, partner in zip(OPERATIONS, (first, second, second), strict=True):
                    versions = await _versions(url, subscriptions)
                    variables = _variables(operation, subscriptions, versions, partner)
                    samples[operation].append(await _call(client, token, operation, variables, workers, items))
                log(
                    f"run {run + 1}/{runs}: "
                    + ", ".join(f"{op} {samples[op][-1]['wall_seconds']:.3f} s" for op in OPERATIONS)
                )
    finally:
        server.stop()
    return samples


async def _drop(admin_url: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await connection.close()


def _summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    walls = [sample["wall_seconds"] for sample in samples]
    return {
        "median_wall_seconds": statistics.median(walls),
        "max_wall_seconds": max(walls),
        "min_wall_seconds": min(walls),
        "median_gateway_cpu_seconds": statistics.median(s["gateway_cpu_seconds"] for s in samples),
        "median_postgres_cpu_seconds": statistics.median(s["postgres_cpu_seconds"] for s in samples),
        "runs": samples,
    }


def markdown(document: dict[str, Any]) -> str:
    items, target, spec = document["items"], document["target_seconds"], document["seed"]["spec"]
    lines = [
        f"# Bulk DPOR changes, {items} subscriptions per call ({document['date'][:10]})",
        "",
        f"Commit {document['commit'][:7]}. `python -m bench.bulk_dpor`: database `{DATABASE}` seeded with"
        f" {spec['tenants']} tenants of {spec['subscriptions_per_tenant']} subscriptions, {spec['partners']} partners"
        f" and {spec['days']} days of usage ({document['seed']['seconds']:.1f} s); the gateway in production mode with"
        f" {WORKERS} workers, real RS256 tokens, one call at a time over loopback HTTP as the tenant's owner;"
        f" {document['runs']} runs after a warm-up round; {document['cpus']} CPUs, shared.",
        "",
        f"| call | median wall | min / max wall | gateway CPU (median) | PostgreSQL CPU (median) | < {target:.0f} s |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for operation in OPERATIONS:
        summary = document["results"][operation]
        lines.append(
            f"| {operation} | {summary['median_wall_seconds'] * 1e3:.0f} ms"
            f" | {summary['min_wall_seconds'] * 1e3:.0f} / {summary['max_wall_seconds'] * 1e3:.0f} ms"
            f" | {summary['median_gateway_cpu_seconds'] * 1e3:.0f} ms"
            f" | {summary['median_postgres_cpu_seconds'] * 1e3:.0f} ms"
            f" | {'yes' if summary['median_wall_seconds'] < target else 'NO'} |"
        )
    lines += [
        "",
        "`set`: every subscription gets a DPOR (500 new rows, version bumps, audit events); `replace`: every DPOR"
        " replaced (also 500 ended rows); `remove`: every DPOR ended. Wall time is the client's; CPU is what the"
        " gateway's workers and PostgreSQL's backends spent during the call (bench.cpu).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = _arguments()
    if not 1 <= args.items <= MAX_ITEMS:
        raise SystemExit(f"--items must be 1 to {MAX_ITEMS}")
    work = Path(tempfile.mkdtemp(prefix="dpor-bench-bulk-"))
    log(f"seeding {DATABASE}: {SEED}")
    url, seed_seconds = asyncio.run(_prepare(args.admin_url))
    log(f"seeded in {seed_seconds:.1f} s; {args.runs} runs of {args.items} subscriptions per call")
    try:
        samples = asyncio.run(_measure(url, args.items, args.runs, work))
    finally:
        asyncio.run(_drop(args.admin_url))
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "items": args.items,
        "runs": args.runs,
        "target_seconds": TARGET_SECONDS,
        "cpus": len(os.sched_getaffinity(0)),
        "seed": {"spec": SEED, "seconds": seed_seconds},
        "results": {operation: _summary(samples[operation]) for operation in OPERATIONS},
    }
    text = markdown(document)
    print(text)
    if not args.no_write:
        stem = RESULTS / f"{document['date'][:10]}-bulk-dpor"
        stem.with_suffix(".json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        stem.with_suffix(".md").write_text(text, encoding="utf-8")
        log(f"wrote {stem}.json and .md")
    slowest = max(document["results"][operation]["median_wall_seconds"] for operation in OPERATIONS)
    return 0 if slowest < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
