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

The command connects as the gateway's own login, a role IN ROLE dpor_app (bench.dataset.app_login), not as the
owner: row-level security (revision 0012) binds it as it binds production.

The ingest database starts nearly empty; the read dataset's usage table is far bigger (12M rows for large),
so index pages are warmer here than they would be in production at that size.

`python -m bench.ingest [--size large] [--before REV]` runs this part alone. Its source is a database of its own,
`dpor_bench_<size>_ingest_source`, seeded once (and reused, as bench.dataset reuses the read datasets) with the
read dataset's spec but only the `INGEST_DAYS` days the file holds: the same tenants, subscriptions, meters and
currencies, so the same file shape (3,000,000 rows of 10,000 subscriptions for large), without seeding 12M rows
that are never read. `--before REV` measures that git revision's code beside the working tree's in the same run
(its files extracted with `git archive` into a temporary directory, run with this interpreter), each in a freshly
made ingest database, variants alternating, and writes both to `bench/results/<date>-ingest-<size>[-tag].md`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import orjson

from bench import cpu, dataset
from bench.log import log as print_log
from resolvers.usage.file_import import COLUMNS

TARGET_ROWS_PER_SECOND = 100_000
# Days of usage per file: 150,000 rows for small (250 subscriptions x 3 meters), 3,000,000 for the larger sizes.
# xlarge's file is large's size (3,000,000 rows of 50,000 subscriptions): the rate is measured against a usage
# table ten times bigger, not on a bigger file.
INGEST_DAYS = {"small": 200, "large": 100, "xlarge": 20, "xlarge_half": 40}
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


@dataclasses.dataclass(frozen=True)
class Code:
    """Whose `dpor-gateway` runs: the installed one (the working tree), or another tree's sources."""

    name: str
    tree: Path | None = None  # None: this environment's dpor-gateway

    def run(self, arguments: list[str], url: str, *, check: bool) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DPOR_DATABASE_URL": url}
        if self.tree is None:
            command = [str(Path(sys.executable).with_name("dpor-gateway"))]
        else:
            # The tree's packages come first on the path, before the editable install of the working tree.
            command = [sys.executable, "-m", "gateway.cli"]
            env["PYTHONPATH"] = str(self.tree)
        return subprocess.run(
            [*command, *arguments], env=env, cwd=self.tree, capture_output=True, text=True, check=check
        )

    def parse(self, path: Path) -> dict[str, Any]:
        """The Python side alone on `path` (bench/ingest_parse.py, run on this code's packages): rows/s, CPU s."""
        env = {**os.environ, **({"PYTHONPATH": str(self.tree)} if self.tree else {})}
        script = str(Path(__file__).with_name("ingest_parse.py"))
        done = subprocess.run([sys.executable, script, str(path)], env=env, capture_output=True, text=True, check=True)
        parsed: dict[str, Any] = orjson.loads(done.stdout)
        return parsed


WORKING_TREE = Code("working tree")


def _ingest(sqlalchemy_url: str, database: str, path: Path, code: Code = WORKING_TREE) -> dict[str, Any]:
    before = cpu.snapshot()
    started = time.perf_counter()
    with _BackendCpu(database) as backends:
        done = code.run(["ingest", str(path), "--quiet"], sqlalchemy_url, check=False)
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


async def measure(
    prepared: dataset.Prepared,
    admin_url: str,
    work: Path,
    log: Callable[[str], None],
    codes: tuple[Code, ...] = (WORKING_TREE,),
    size: str | None = None,
) -> dict[str, Any]:
    """Export the files; per code (in turn), make the ingest database, run both passes, drop the database.

    The result's `passes` are the first code's (what `python -m bench` reports); `variants` holds every code's.
    """
    spec = prepared.spec
    name = ingest_database(spec)
    # The one database this module drops: never the read benchmark's.
    assert name != spec.database and name.endswith(SUFFIX)
    url = f"{dataset.server_url(admin_url)}/{name}"
    sqlalchemy_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    days = INGEST_DAYS[size or spec.name]
    last = await _last_day(prepared.url)
    first = last - timedelta(days=days - 1)

    log(f"ingest: exporting {days} days ({first} to {last}) of {spec.database} ...")
    fresh_file, resent_file = work / "ingest-fresh.csv", work / "ingest-resent.csv"
    started = time.perf_counter()
    await _export(prepared.url, first, last, "0", fresh_file)
    await _export(prepared.url, first, last, "1", resent_file)
    export_seconds = time.perf_counter() - started

    file_bytes = {"fresh": fresh_file.stat().st_size, "resent": resent_file.stat().st_size}
    base = dataclasses.replace(spec, days=1)
    seed_arguments = ["seed", *base.seed_arguments(), "--end-date", (first - timedelta(days=1)).isoformat()]
    variants: list[dict[str, Any]] = []
    try:
        for code in codes:
            log(f"ingest [{code.name}]: {name}: migrate, seed usage up to {first - timedelta(1)}")
            await dataset.drop_and_create(admin_url, name)
            started = time.perf_counter()
            code.run(["migrate"], sqlalchemy_url, check=True)
            code.run(seed_arguments, sqlalchemy_url, check=True)
            base_seconds = time.perf_counter() - started
            # Migrated and seeded as the owner; ingested as the gateway's login IN ROLE dpor_app, as production
            # runs it (row-level security binds it, revision 0012; the ingest names itself system work).
            login_url = await dataset.app_login(url)
            passes = []
            for title, path in (("fresh days (inserts)", fresh_file), ("re-sent days (corrections)", resent_file)):
                log(f"ingest [{code.name}]: {title}: {path.name} ({path.stat().st_size / 2**20:,.0f} MB) ...")
                result = _ingest(login_url, name, path, code)
                log(
                    f"ingest [{code.name}]: {title}: {result['rows']:,} rows at {result['rows_per_second']:,.0f} rows/s"
                )
                passes.append({"pass": title, **result})
            log(f"ingest [{code.name}]: the Python side alone (read, check, encode for COPY) on {fresh_file.name}")
            parser = code.parse(fresh_file)
            variants.append({"code": code.name, "base_seed_seconds": base_seconds, "passes": passes, "parser": parser})
            await _drop(admin_url, name)
    finally:
        await _drop(admin_url, name)
        for path in (fresh_file, resent_file):
            path.unlink(missing_ok=True)
    passes, base_seconds = variants[0]["passes"], variants[0]["base_seed_seconds"]
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
        "variants": variants,
    }


async def _drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def source_spec(size: str) -> dataset.Spec:
    """The read dataset's spec with only the days the ingest file holds, under a database name of its own."""
    spec = dataset.SPECS[size]
    return dataclasses.replace(spec, name=f"{spec.name}_ingest_source", days=INGEST_DAYS[size])


def _extract(revision: str, into: Path) -> Path:
    """`git archive` of `revision` into `into`: that revision's code, whatever the working tree holds."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "archive", revision], cwd=root, capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _revision(revision: str) -> str:
    root = Path(__file__).resolve().parent.parent
    found = subprocess.run(["git", "rev-parse", "--short", revision], cwd=root, capture_output=True, text=True)
    return found.stdout.strip()


def markdown(document: dict[str, Any]) -> str:
    ingested = document["ingest"]
    out = [
        f"# Ingest, {document['size']} format, {document['date']}",
        "",
        f"`python -m bench.ingest {' '.join(document['arguments'])}` at {document['commit']}"
        f" (working tree{' with changes' if document['dirty'] else ''}). The file:"
        f" {ingested['days']} days ({ingested['first_day']} to {ingested['last_day']}) of"
        f" `{document['source']}` in the ingest format (CSV, {ingested['file_bytes']['fresh'] / 2**20:,.0f} MB);"
        " re-sent: the same rows with quantity and amount + 1 after the fresh pass, so every row replaces a stored"
        " one. Each code runs in a freshly migrated and seeded ingest database, one after the other in this run,"
        " ingesting as the gateway's login IN ROLE dpor_app (row-level security binding it)."
        " Rows per second over the command's own time (its handler's start, connecting included, to its"
        " summary; the interpreter's start-up is in `wall s`).",
        "",
        "| code | pass | rows | command s | rows/s | wall s | CPU s ingest command / its PostgreSQL backends |"
        " machine busy |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for variant in ingested["variants"]:
        for run in variant["passes"]:
            spent = run["cpu_seconds"]
            out.append(
                f"| {variant['code']} | {run['pass']} | {run['rows']:,} | {run['command_seconds']:.2f} |"
                f" **{run['rows_per_second']:,.0f}** | {run['seconds']:.1f} | {spent['ingest_command']:.1f} /"
                f" {spent['postgres_ingest_backends']:.1f} | {spent['machine_busy_fraction']:.0%} |"
            )
    out += [
        "",
        "The Python side alone (`bench/ingest_parse.py`: read, check and encode the fresh file for COPY, as the"
        " command's worker thread does, no database), per code:",
        "",
        "| code | rows | s | rows/s | CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in ingested["variants"]:
        parser = variant["parser"]
        out.append(
            f"| {variant['code']} | {parser['rows']:,} | {parser['seconds']:.2f} | {parser['rows_per_second']:,.0f} |"
            f" {parser['cpu_seconds']:.2f} |"
        )
    out += ["", f"Target: {ingested['target_rows_per_second']:,} rows/s.", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(INGEST_DAYS), default="large")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--before", metavar="REV", help="also measure this git revision's code, in the same run")
    parser.add_argument("--tag", help="suffix of the results files: <date>-ingest-<size>-<tag>.md")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write results files")
    args = parser.parse_args()
    spec = source_spec(args.size)
    prepared = asyncio.run(dataset.prepare(spec, args.admin_url, log=print_log))
    print_log(f"source {spec.database} ready ({'reused' if prepared.reused else 'seeded'})")
    with tempfile.TemporaryDirectory(prefix="dpor-bench-ingest-") as scratch:
        work = Path(scratch)
        codes = [WORKING_TREE]
        if args.before:
            tree = _extract(args.before, work / "before")
            codes.insert(0, Code(f"before ({_revision(args.before)})", tree))
        ingested = asyncio.run(measure(prepared, args.admin_url, work, print_log, tuple(codes), args.size))
    root = Path(__file__).resolve().parent.parent
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _revision("HEAD"),
        "dirty": bool(status.strip()),
        "arguments": sys.argv[1:],
        "size": args.size,
        "source": spec.database,
        "ingest": ingested,
    }
    name = f"{datetime.now(UTC):%Y-%m-%d}-ingest-{args.size}" + (f"-{args.tag}" if args.tag else "")
    stem = root / "bench" / "results" / name
    if not args.no_write:
        # The figures first: the rendering cannot lose them.
        stem.with_suffix(".json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    text = markdown(document)
    print(text)
    if not args.no_write:
        stem.with_suffix(".md").write_text(text, encoding="utf-8")
        print_log(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
