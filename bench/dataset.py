"""The benchmark's datasets: a dedicated PostgreSQL database per size, seeded once with `dpor-gateway seed`.

A rerun reuses the database when the marker table `bench_dataset` records the same spec, so the ~2 minute
load of the large dataset is paid once. The marker is written only after the seed command succeeded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.engine import make_url

from db.migrations import head_revision
from schema import global_id

MARKER_TABLE = "bench_dataset"
# How many partners, subscriptions (and through them tenants) the requests of a run are drawn from.
SAMPLE_PARTNERS = 200
SAMPLE_SUBSCRIPTIONS = 2_000


@dataclass(frozen=True)
class Spec:
    name: str
    tenants: int
    subscriptions_per_tenant: int
    partners: int
    days: int
    meters_per_day: int = 3
    seed: int = 1

    @property
    def database(self) -> str:
        return f"dpor_bench_{self.name}"

    @property
    def usage_rows(self) -> int:
        return self.tenants * self.subscriptions_per_tenant * self.days * self.meters_per_day

    def seed_arguments(self) -> list[str]:
        return [
            "--tenants", str(self.tenants),
            "--subscriptions-per-tenant", str(self.subscriptions_per_tenant),
            "--partners", str(self.partners),
            "--days", str(self.days),
            "--meters-per-day", str(self.meters_per_day),
            "--seed", str(self.seed),
        ]  # fmt: skip


SPECS = {
    "small": Spec("small", tenants=50, subscriptions_per_tenant=5, partners=20, days=400),
    "large": Spec("large", tenants=2_000, subscriptions_per_tenant=5, partners=500, days=400),
    # On demand only, never in CI (issue 16): ten times large, 120M usage rows, five times the customers over twice
    # the history (about 27 months, each a partition of the three usage tables), so both a scope's index ranges
    # and the partitions a window must prune grow. Expect some ten times large's seed time and disk.
    "xlarge": Spec("xlarge", tenants=10_000, subscriptions_per_tenant=5, partners=2_500, days=800),
    # xlarge's history (800 days, the same partitions to prune) over half its customers: 60M usage rows. large
    # takes 7.5 GB (2026-12-07), so xlarge's ~75 GB did not fit beside the 20 GB a shared host keeps free; this
    # is the largest step past large that does (37.4 GB).
    "xlarge_half": Spec("xlarge_half", tenants=5_000, subscriptions_per_tenant=5, partners=1_250, days=800),
}


@dataclass(frozen=True)
class Prepared:
    spec: Spec
    url: str  # postgresql://... for asyncpg
    sqlalchemy_url: str  # postgresql+asyncpg://... for the gateway
    reused: bool
    seed_seconds: float  # of the load that made this database (recorded in the marker when reused)
    seed_output: str
    usage_rows: int


@dataclass(frozen=True)
class SamplePartner:
    id: uuid.UUID
    mpn_id: str

    @property
    def global_id(self) -> str:
        return global_id.encode("Partner", self.id)


@dataclass(frozen=True)
class SampleSubscription:
    id: uuid.UUID
    tenant_external_id: uuid.UUID
    tenant_id: uuid.UUID

    @property
    def tenant_global_id(self) -> str:
        return global_id.encode("Tenant", self.tenant_id)

    @property
    def global_id(self) -> str:
        return global_id.encode("Subscription", self.id)


@dataclass(frozen=True)
class Sample:
    partners: list[SamplePartner]
    subscriptions: list[SampleSubscription]


def server_url(base: str) -> str:
    return base.rsplit("/", 1)[0]


async def _ensure_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be parameters; the name comes from SPECS, never from input.
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _marker(url: str) -> dict[str, Any] | None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (spec jsonb PRIMARY KEY,"
            " seed_seconds double precision NOT NULL, seed_output text NOT NULL,"
            " seeded_at timestamptz NOT NULL DEFAULT now())"
        )
        row = await connection.fetchrow(f"SELECT spec, seed_seconds, seed_output FROM {MARKER_TABLE} LIMIT 1")
        return None if row is None else {"spec": json.loads(row[0]), "seconds": row[1], "output": row[2]}
    finally:
        await connection.close()


async def drop_and_create(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _record(url: str, spec: dict[str, Any], seconds: float, output: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"DELETE FROM {MARKER_TABLE}")
        await connection.execute(
            f"INSERT INTO {MARKER_TABLE} (spec, seed_seconds, seed_output) VALUES ($1, $2, $3)",
            json.dumps(spec, sort_keys=True),
            seconds,
            output,
        )
    finally:
        await connection.close()


async def forget(url: str) -> None:
    """Drop the marker: the database is about to be written (the write operations add association history, which
    every later read would carry: 448 seeded associations of the small dataset had become 5,432 after a day of
    runs, and read (1) cost twice the CPU). The next run seeds it afresh."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"DELETE FROM {MARKER_TABLE}")
    finally:
        await connection.close()


def run_gateway(command: list[str], url: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("dpor-gateway")
    env = {**os.environ, "DPOR_DATABASE_URL": url}
    return subprocess.run([str(executable), *command], env=env, capture_output=True, text=True, check=True)


async def prepare(spec: Spec, admin_url: str, *, force: bool = False, log: object = print) -> Prepared:
    """The database of `spec`, seeded (or reused when its marker names the same spec)."""
    url = f"{server_url(admin_url)}/{spec.database}"
    sqlalchemy_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    await _ensure_database(admin_url, spec.database)
    marker = await _marker(url)
    # The schema's migration head is part of the spec: a database seeded before a migration (new tables,
    # rollups the seed fills) is not the same dataset.
    wanted = {**json.loads(json.dumps(asdict(spec), sort_keys=True)), "schema": head_revision()}
    if marker is not None and marker["spec"] == wanted and not force:
        usage_rows = await _count_usage(url)
        return Prepared(spec, url, sqlalchemy_url, True, float(marker["seconds"]), str(marker["output"]), usage_rows)
    # A different spec or a half-finished load: start from an empty database (seed refuses a non-empty one).
    await drop_and_create(admin_url, spec.database)
    assert callable(log)
    log(f"seeding {spec.database}: {spec.usage_rows:,} usage rows ...")
    run_gateway(["migrate"], sqlalchemy_url)
    started = time.perf_counter()
    done = run_gateway(["seed", *spec.seed_arguments()], sqlalchemy_url)
    seconds = time.perf_counter() - started
    output = (done.stdout + done.stderr).strip()
    await _marker(url)
    await _record(url, wanted, seconds, output)
    log(f"seeded in {seconds:.1f} s")
    return Prepared(spec, url, sqlalchemy_url, False, seconds, output, await _count_usage(url))


async def _count_usage(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        # The planner's estimate is exact after seed's ANALYZE and costs nothing on 12M rows; summed over the
        # month partitions, which hold the rows (revision 0009).
        estimate = await connection.fetchval(
            "SELECT sum(greatest(c.reltuples, 0))::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'usage_records'::regclass"
        )
        return int(estimate or 0)
    finally:
        await connection.close()


async def database_bytes(url: str) -> int:
    """The database's size on disk (pg_database_size): what a size costs the host beside its seed time."""
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await connection.close()


async def sample(url: str, rng: random.Random) -> Sample:
    """Partners with attributed subscriptions, and subscriptions that are ACTIVE (so a DPOR can be set)."""
    connection = await asyncpg.connect(url)
    try:
        partners = await connection.fetch(
            "SELECT p.id, p.mpn_id FROM partners p"
            " WHERE EXISTS (SELECT 1 FROM partner_associations a WHERE a.partner_id = p.id) ORDER BY p.mpn_id"
        )
        subscriptions = await connection.fetch(
            "SELECT s.id, t.external_id, t.id FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id"
            " WHERE s.status = 'ACTIVE' AND t.status = 'ACTIVE' ORDER BY s.id"
        )
    finally:
        await connection.close()
    chosen_partners = rng.sample(list(partners), min(SAMPLE_PARTNERS, len(partners)))
    chosen_subscriptions = rng.sample(list(subscriptions), min(SAMPLE_SUBSCRIPTIONS, len(subscriptions)))
    return Sample(
        [SamplePartner(row[0], row[1]) for row in chosen_partners],
        [SampleSubscription(row[0], row[1], row[2]) for row in chosen_subscriptions],
    )


# The measured gateway's own login: production serves only as a least-privileged role (revision 0007, refused as a
# superuser or table owner), so the benchmark connects it as an operator would (README, Deployment), and row-level
# security binds it as it binds production.
GATEWAY_LOGIN = "dpor_bench_gateway"


async def app_login(url: str, login: str = GATEWAY_LOGIN) -> str:
    """`login`, a login role IN ROLE dpor_app, made once per cluster; the gateway's (SQLAlchemy) URL to `url`'s
    database as it. `url` is the owner's postgresql:// URL."""
    connection = await asyncpg.connect(url)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", login):
            await connection.execute(f"CREATE ROLE {login} LOGIN IN ROLE dpor_app")
    finally:
        await connection.close()
    return make_url(url).set(drivername="postgresql+asyncpg", username=login).render_as_string(hide_password=False)
