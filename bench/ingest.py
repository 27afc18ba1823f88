"""Ingest throughput: `dpor-gateway ingest FILE` on the dataset's own rows, in rows per second (issue 5: at
least 100,000 rows/s into PostgreSQL), for fresh days and for re-sent (corrected) days.

The read benchmark's database is never written. Each run makes a database of its own, `<dataset>_ingest`:
dropped, migrated and seeded with `dpor-gateway seed` from the dataset's spec with a single day of usage, the
day before the file's first. The seed derives ids from (seed, index) only, so this database holds the same
tenants, partners and subscriptions, with the same external ids the file names, and every subscription's
usage_data_as_of is that day.

The file is the dataset's last `INGEST_DAYS` days of usage, exported from the read database with COPY in the
ingest format (CSV, subscription external id, one row per subscription, day and meter: the seed's meters and
values), ordered as a daily feed is (day, then subscription, then meter). Two passes; the rate of each is over the
time the command reports (its handler's start, connecting included, to its summary): the interpreter's
start-up and imports (about a second on the shared host) are a fixed cost per run that would dwarf a
150,000-row file at the target rate. The wall time, start-up included, is reported next to it:

1. fresh days: every row is a day after its subscription's usage_data_as_of, so bulk.copy_text inserts it
   from the staging table plainly (inserts);
2. re-sent days: the same rows with quantity and amount raised by one, after pass 1: every row replaces a
   stored one (staging table, read of the replaced rows, upsert, rollups moved by the difference).

The ingest database starts nearly empty; the read dataset's usage table is far bigger (12M rows for large),
so index pages are warmer here than they would be in production at that size.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bench import cpu, dataset
from resolvers.usage.file_import import COLUMNS

TARGET_ROWS_PER_SECOND = 100_000
# Days of usage per file: 150,000 rows for small (250 subscriptions x 3 meters), 3,000,000 for large and xlarge.
# xlarge's file is large's size (3,000,000 rows of 50,000 subscriptions): the rate is measured against a usage
# table ten times bigger, not on a bigger file.
INGEST_DAYS = {"small": 200, "large": 100, "xlarge": 20}
SUFFIX = "_ingest"

# The ingest columns (file_import.COLUMNS), in order, from the read dataset; `{change}` is added to the numbers.
_EXPORT = """
SELECT s.external_id AS subscription_id, u.usage_date, u.service_name AS service, u.meter_id, u.meter_name,
       u.quantity + {change} AS quantity, u.unit, u.amount + {change} AS amount, u.currency
FROM usage_records u JOIN subscriptions s ON s.id = u.subscription_id
WHERE u.usage_date BETWEEN $1 AND $2
ORDER BY u.usage_date, s.external_id, u.meter_id
"""
_SUMMARY = re.compile(r"inserted ([\d,]+), replaced ([\d,]+), rejected ([\d,]+) line\(s\) in ([\d.]+) s")


def ingest_database(spec: dataset.Spec) -> str:
    return spec.database + SUFFIX


async def _last_day(url: str) -> date:
    connection = await asyncpg.connect(url)
    try:
        # Every write path and the seed keep usage_data_as_of at the latest day stored: no scan of usage_records.
        last: date = await connection.fetchval("SELECT max(usage_data_as_of) FROM subscriptions")
        return last
    finally:
        await connection.close()


async def _export(url: str, first: date, last: date, change: str, path: Path) -> None:
    connection = await asyncpg.connect(url)
    try:
        query = _EXPORT.format(change=change)
        await connection.copy_from_query(query, first, last, output=str(path), format="csv", header=True)
    finally:
        await connection.close()


class _BackendCpu:
    """CPU of the ingest database's PostgreSQL backends, sampled from /proc while the command runs.

    The backend exits with the command, and then neither /proc nor the harness's rusage can see it; the
    largest reading per pid is kept, so only the last sampling interval of each backend is missed.
    """

    INTERVAL = 0.02

    def __init__(self, database: str) -> None:
        self.database = database
        self.ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _BackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid, ticks in cpu.database_backend_ticks(self.database).items():
                self.ticks[pid] = max(ticks, self.ticks.get(pid, 0))
            self._stop.wait(self.INTERVAL)

    @property
    def seconds(self) -> float:
        return sum(self.ticks.values()) / cpu.TICKS


def _ingest(sqlalchemy_url: str, database: str, path: Path) -> dict[str, Any]:
    executable = str(Path(sys.executable).with_name("dpor-gateway"))
    before = cpu.snapshot()
    started = time.perf_counter()
    with _BackendCpu(database) as backends:
        done = subprocess.run(
            [executable, "ingest", str(path), "--quiet"],
            env={**os.environ, "DPOR_DATABASE_URL": sqlalchemy_url},
            capture_output=True,
            text=True,
        )
    seconds = time.perf_counter() - started
    spent = cpu.usage(before, cpu.snapshot(), set())
    output = (done.stdout + done.stderr).strip()
    summary = _SUMMARY.search(output)
    if done.returncode != 0 or summary is None or summary.group(3) != "0":
        raise RuntimeError(f"ingest of {path.name} failed (exit {done.returncode}):\n{output}")
    inserted, replaced = int(summary.group(1).replace(",", "")), int(summary.group(2).replace(",", ""))
    command_seconds = float(summary.group(4))
    return {
        "rows": inserted + replaced,
        "inserted": inserted,
        "replaced": replaced,
        "seconds": seconds,  # the command's wall time, interpreter start-up included
        # As the command reports it: from its handler's start (connecting included) to the summary, without
        # the interpreter's start-up and imports, which are a fixed cost per run and not ingest throughput.
        "command_seconds": command_seconds,
        "rows_per_second": (inserted + replaced) / command_seconds,
        "wall_rows_per_second": (inserted + replaced) / seconds,
        "cpu_seconds": {
            # The harness's waited-for children: here the ingest command alone, start-up included.
            "ingest_command": spent["loadgen"],
            # The ingest database's backends, sampled while the command ran (other databases excluded).
            "postgres_ingest_backends": backends.seconds,
            # All PostgreSQL processes and other jobs on the shared host, the backends above included.
            "postgres_and_other": spent["postgres"] + spent["other"],
            "machine_busy_fraction": spent["machine_busy_fraction"],
        },
        "output": output,
    }


async def measure(prepared: dataset.Prepared, admin_url: str, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Make the ingest database, export the files, run both passes; drop the database afterwards."""
    spec = prepared.spec
    name = ingest_database(spec)
    # The one database this module drops: never the read benchmark's.
    assert name != spec.database and name.endswith(SUFFIX)
    url = f"{dataset.server_url(admin_url)}/{name}"
    sqlalchemy_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    days = INGEST_DAYS[spec.name]
    last = await _last_day(prepared.url)
    first = last - timedelta(days=days - 1)

    log(f"ingest: exporting {days} days ({first} to {last}) of {spec.database} ...")
    fresh_file, resent_file = work / "ingest-fresh.csv", work / "ingest-resent.csv"
    started = time.perf_counter()
    await _export(prepared.url, first, last, "0", fresh_file)
    await _export(prepared.url, first, last, "1", resent_file)
    export_seconds = time.perf_counter() - started

    log(f"ingest: {name}: migrate, seed the same tenants and subscriptions with usage up to {first - timedelta(1)} ...")
    await dataset.drop_and_create(admin_url, name)
    try:
        started = time.perf_counter()
        dataset.run_gateway(["migrate"], sqlalchemy_url)
        base = dataclasses.replace(spec, days=1)
        dataset.run_gateway(
            ["seed", *base.seed_arguments(), "--end-date", (first - timedelta(days=1)).isoformat()], sqlalchemy_url
        )
        base_seconds = time.perf_counter() - started
        passes = []
        file_bytes = {"fresh": fresh_file.stat().st_size, "resent": resent_file.stat().st_size}
        for title, path in (("fresh days (inserts)", fresh_file), ("re-sent days (corrections)", resent_file)):
            log(f"ingest: {title}: {path.name} ({path.stat().st_size / 2**20:,.0f} MB) ...")
            result = _ingest(sqlalchemy_url, name, path)
            log(f"ingest: {title}: {result['rows']:,} rows in {result['seconds']:.1f} s")
            passes.append({"pass": title, **result})
    finally:
        await _drop(admin_url, name)
        for path in (fresh_file, resent_file):
            path.unlink(missing_ok=True)
    return {
        "database": name,
        "days": days,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "columns": list(COLUMNS),
        "file_bytes": file_bytes,
        "export_seconds": export_seconds,
        "base_seed_seconds": base_seconds,
        "target_rows_per_second": TARGET_ROWS_PER_SECOND,
        "rate_basis": "command",  # rows_per_second over command_seconds (older results: over the wall time)
        "passes": passes,
    }


async def _drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
