"""Where one ingest batch's time goes: each statement of the file import's PostgreSQL path, in us per row.

`python -m bench.ingest_stages [--days 7] [--revision head]` seeds a source of its own
(`dpor_bench_large_stages_source`: the large spec's subscriptions and meters, `--days` + 1 days), exports its last
`--days` days as bench.ingest does (fresh, then re-sent with quantity and amount + 1), migrates and seeds
`dpor_bench_large_stages_ingest` to `--revision`, and imports in-process as the gateway's login IN ROLE dpor_app:
the fresh file, the re-sent one, and the re-sent one again (unchanged), each as one batch. Every statement the
session executes, the COPY and the commit are timed from the client (wall time, so the backend's work plus the
round trip); what is left of the pass is the Python read of the batch, which the full command overlaps with the
database for every batch but the first. The figures of bench/results/2026-12-04-ingest-large.md come from here.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import asyncpg.transaction  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncSession

from bench import dataset, ingest
from db import migrations
from db.engine import Database
from resolvers.usage.file_import import import_file

NAME = "large_stages"


class Stages:
    """Wall time per statement (its first 70 characters), the COPY and the commit, while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self._restore: list[Callable[[], None]] = []

    def _time(self, owner: Any, name: str, key: Callable[..., str]) -> None:
        original = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.seconds[key(*args)] += time.perf_counter() - started

        setattr(owner, name, timed)
        self._restore.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> Stages:
        self._time(AsyncSession, "execute", lambda _session, statement, *_rest: " ".join(str(statement).split())[:70])
        self._time(asyncpg.Connection, "copy_to_table", lambda *_args: "COPY into the staging table")
        self._time(asyncpg.transaction.Transaction, "commit", lambda *_args: "COMMIT")
        return self

    def __exit__(self, *_exc: object) -> None:
        for restore in reversed(self._restore):
            restore()


async def _pass(database: Database, path: Path, title: str) -> None:
    with Stages() as stages:
        started = time.perf_counter()
        summary = await import_file(database, path, batch_size=10**9)  # one batch
        seconds = time.perf_counter() - started
    rows = summary.inserted + summary.replaced
    print(f"{title}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    for statement, spent in sorted(stages.seconds.items(), key=lambda item: -item[1]):
        print(f"  {spent * 1e6 / rows:7.2f} us/row  {spent:6.3f} s  {statement}")
    rest = seconds - sum(stages.seconds.values())
    print(f"  {rest * 1e6 / rows:7.2f} us/row  {rest:6.3f} s  the rest (the Python read of the batch)")


async def main(days: int, revision: str, admin_url: str, work: Path) -> None:
    source = dataclasses.replace(dataset.SPECS["large"], name=f"{NAME}_source", days=days + 1)
    prepared = await dataset.prepare(source, admin_url)
    last = await ingest._last_day(prepared.url)
    first = last - timedelta(days=days - 1)
    fresh, resent = work / "fresh.csv", work / "resent.csv"
    await ingest._export(prepared.url, first, last, "0", fresh)
    await ingest._export(prepared.url, first, last, "1", resent)
    name = f"dpor_bench_{NAME}_ingest"
    url = f"{dataset.server_url(admin_url)}/{name}"
    owner_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    await dataset.drop_and_create(admin_url, name)
    await asyncio.to_thread(migrations.upgrade, owner_url, revision)
    base = dataclasses.replace(dataset.SPECS["large"], days=1)
    seed = ["seed", *base.seed_arguments(), "--end-date", (first - timedelta(days=1)).isoformat()]
    ingest.WORKING_TREE.run(seed, owner_url, check=True)
    database = Database.from_url(await dataset.app_login(url), pool_size=2)
    passes: list[tuple[Path, str]] = [(fresh, "fresh"), (resent, "re-sent"), (resent, "re-sent again, unchanged")]
    try:
        for path, title in passes:
            await _pass(database, path, title)
    finally:
        await database.dispose()
        await ingest._drop(admin_url, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_stages", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="days of the large feed in the one batch (30,000 a day)")
    parser.add_argument("--revision", default="head", help="the schema's revision (e.g. 0012 for before)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dpor-bench-stages-") as scratch:
        asyncio.run(main(args.days, args.revision, args.admin_url, Path(scratch)))
