"""`dpor-gateway ingest FILE`: CSV and JSON Lines, strict and not, with the summary it prints.

On PostgreSQL the command takes the COPY path (resolvers/usage/bulk.py), on SQLite the API's path; both are
checked against the same expectations, including rollups and freshness after a correction.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.engine import Database
from db.models import Subscription, UsageDailyRollup, UsageMonthlyRollup, UsageRecord
from gateway import cli
from gateway.commands.ingest import ProgressLine
from resolvers.usage.file_import import import_file
from tests.usage_helpers import build_world

HEADER = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _ingest(monkeypatch: pytest.MonkeyPatch, database: Database, *args: str) -> int:
    monkeypatch.setenv("DPOR_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    # The command runs its own event loop (asyncio.run); the test's loop is busy, so it runs in a thread.
    return cli.main(["ingest", "--quiet", *args])


async def _run(monkeypatch: pytest.MonkeyPatch, database: Database, *args: str) -> int:
    return await asyncio.to_thread(_ingest, monkeypatch, database, *args)


async def _totals(database: Database) -> tuple[int, Decimal, int, Decimal, int]:
    async with database.read() as session:
        records = (await session.execute(select(func.count(), func.sum(UsageRecord.amount)))).one()
        daily = (
            await session.execute(select(func.sum(UsageDailyRollup.record_count), func.sum(UsageDailyRollup.amount)))
        ).one()
        months = await session.scalar(select(func.sum(UsageMonthlyRollup.record_count)))
    return records[0], records[1] or Decimal(0), int(daily[0] or 0), daily[1] or Decimal(0), int(months or 0)


async def test_csv_non_strict_skips_bad_lines_and_reports_them(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = (sub.external_id for sub in world.subscriptions)
    path = _csv(
        tmp_path / "usage.csv",
        [
            f"{first},2026-03-01,Compute,m1,VM,1.5,Hours,3.25,USD",  # line 2
            f"{first},2026-03-02,Compute,m1,VM,1,Hours,1.00,USD",
            f"{second},2026-03-01,Storage,m1,Disk,10,GB,0.50,EUR",
            "unknown,2026-03-01,Compute,m1,VM,1,Hours,1.00,USD",  # line 5: no such subscription
            f"{first},2026-13-01,Compute,m2,VM,1,Hours,1.00,USD",  # line 6: bad date
            f"{first},2026-03-01,Compute,m1,VM,2,Hours,9.99,USD",  # line 7: replaces line 2 (last line wins)
            f"{first},2026-03-03,Compute,m1,VM,1,Hours,1.00",  # line 8: a field short
        ],
    )
    assert await _run(monkeypatch, database, str(path)) == 1
    out = capsys.readouterr().out
    assert "inserted 3, replaced 1, rejected 3 line(s)" in out
    assert "line 5: subscriptionId: no such subscription" in out
    assert "line 6: usageDate:" in out
    assert "line 7" not in out
    assert "line 8: line: has 8 fields, not 9" in out
    assert await _totals(database) == (3, Decimal("11.49"), 3, Decimal("11.49"), 3)


async def test_csv_strict_stops_at_the_first_bad_line_and_writes_none_of_its_batch(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    rows = [f"{sub},2026-03-{day:02d},Compute,m1,VM,1,Hours,1.00,USD" for day in range(1, 6)]
    rows.insert(3, f"{sub},2026-03-09,Compute,m1,VM,-1,Hours,1.00,USD")  # line 5
    path = _csv(tmp_path / "usage.csv", rows)
    # Batches of two lines: lines 2-3 are committed; the batch holding line 5 is not, nor anything after it.
    assert await _run(monkeypatch, database, "--strict", "--batch-size", "2", str(path)) == 1
    out = capsys.readouterr().out
    assert "inserted 2, replaced 0, rejected 1 line(s)" in out
    assert "strict: stopped at line 5" in out
    assert "line 5: quantity: must not be negative" in out
    assert await _totals(database) == (2, Decimal(2), 2, Decimal(2), 2)


async def test_strict_unknown_subscription_rolls_back_its_batch(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    path = _csv(
        tmp_path / "usage.csv",
        [
            f"{sub},2026-03-01,Compute,m1,VM,1,Hours,1.00,USD",
            "ghost,2026-03-01,Compute,m1,VM,1,Hours,1.00,USD",
        ],
    )
    assert await _run(monkeypatch, database, "--strict", str(path)) == 1
    assert "strict: stopped at line 3" in capsys.readouterr().out
    assert await _totals(database) == (0, Decimal(0), 0, Decimal(0), 0)


async def test_jsonl_corrections_replace_and_move_rollups_and_freshness(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0]

    def line(day: str, meter: str, amount: object, service: str = "Compute") -> str:
        return json.dumps(
            {
                "subscription_id": sub.external_id,
                "usage_date": day,
                "service": service,
                "meter_id": meter,
                "meter_name": "VM",
                "quantity": "1",
                "unit": "Hours",
                "amount": amount,
                "currency": "USD",
            }
        )

    first = tmp_path / "first.jsonl"
    first.write_text("\n".join([line("2026-03-01", "m1", "2.50"), line("2026-03-04", "m2", 7)]) + "\n")
    assert await _run(monkeypatch, database, str(first)) == 0
    assert "inserted 2, replaced 0, rejected 0 line(s)" in capsys.readouterr().out
    # JSON numbers are exact decimals: 0.1 stays 0.1, never 0.1000000000000000055511151231257827.
    again = tmp_path / "again.ndjson"
    again.write_text(
        "\n".join([line("2026-03-01", "m1", 0.1, service="Network"), "not json", '{"usage_date": "2026-03-01"}'])
    )
    assert await _run(monkeypatch, database, str(again)) == 1
    out = capsys.readouterr().out
    assert "inserted 0, replaced 1, rejected 2 line(s)" in out
    assert "line 2: line: is not valid JSON" in out
    assert "line 3: line: must be an object with keys" in out
    assert await _totals(database) == (2, Decimal("7.1"), 2, Decimal("7.1"), 2)
    async with database.read() as session:
        services = (await session.scalars(select(UsageDailyRollup.service_name).order_by("usage_date"))).all()
        as_of = await session.scalar(select(Subscription.usage_data_as_of))
    assert services == ["Network", "Compute"]
    assert as_of == date(2026, 3, 4)


async def test_a_file_without_the_required_columns_is_refused(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text("subscription_id,usage_date\nx,2026-03-01\n")
    assert await _run(monkeypatch, database, str(path)) == 2
    assert "CSV header lacks column(s): service" in capsys.readouterr().err


async def test_quoted_values_survive_the_copy_and_lines_after_them_keep_their_numbers(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    name = 'VM, "large"\nsecond line \\. and a tab\t'
    quoted = '"' + name.replace('"', '""') + '"'
    path = _csv(
        tmp_path / "usage.csv",
        [
            f"{sub},2026-03-01,Compute,m1,{quoted},1.5e1,Hours,2.50,USD",  # lines 2-3
            f"{sub},2026-03-01,Compute,m2,VM,1,Hours,x,USD",  # line 4
        ],
    )
    assert await _run(monkeypatch, database, str(path)) == 1
    out = capsys.readouterr().out
    assert "inserted 1, replaced 0, rejected 1 line(s)" in out
    assert "line 4: amount: must be a decimal number" in out
    async with database.read() as session:
        stored = (await session.execute(select(UsageRecord.meter_name, UsageRecord.quantity))).one()
    assert stored == (name, Decimal(15))


async def test_one_batch_of_new_and_corrected_days_moves_rollups_by_the_difference(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    first, second = (sub.external_id for sub in world.subscriptions)
    path = _csv(tmp_path / "first.csv", [f"{first},2026-03-02,Compute,m1,VM,1,Hours,1.00,USD"])
    assert await _run(monkeypatch, database, str(path)) == 0
    capsys.readouterr()
    # Day 1 and 2 of `first` are at or before its usage_data_as_of (2 March), day 3 after it; `second` is new.
    path = _csv(
        tmp_path / "second.csv",
        [
            f"{first},2026-03-02,Compute,m1,VM,1,Hours,4.00,USD",
            f"{first},2026-03-01,Compute,m1,VM,1,Hours,2.00,USD",
            f"{first},2026-03-03,Compute,m1,VM,1,Hours,8.00,USD",
            f"{second},2026-03-01,Compute,m1,VM,1,Hours,16.00,USD",
        ],
    )
    assert await _run(monkeypatch, database, str(path)) == 0
    assert "inserted 3, replaced 1, rejected 0 line(s)" in capsys.readouterr().out
    assert await _totals(database) == (4, Decimal(30), 4, Decimal(30), 4)
    async with database.read() as session:
        as_of = dict((await session.execute(select(Subscription.external_id, Subscription.usage_data_as_of))).all())
    assert as_of == {first: date(2026, 3, 3), second: date(2026, 3, 1)}


async def test_a_line_that_is_not_utf8_stops_the_import_naming_its_line(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    path = _csv(tmp_path / "usage.csv", [f"{sub},2026-03-01,Compute,m{n},VM,1,Hours,1.00,USD" for n in range(3)])
    path.write_bytes(path.read_bytes() + f"{sub},2026-03-01,Compute,m9,V\xff,1,Hours,1,USD\n".encode("latin-1"))
    monkeypatch.setattr("resolvers.usage.file_lines.READ_BLOCK", 64)  # the bad byte in a later block
    assert await _run(monkeypatch, database, str(path)) == 2
    assert "line 5 is not UTF-8" in capsys.readouterr().err


def _good(sub: str, count: int, day: str = "2026-03-01") -> list[str]:
    return [f"{sub},{day},Compute,m{n:05d},VM,1,Hours,1.00,USD" for n in range(count)]


async def test_a_nul_byte_is_a_rejected_line_and_every_other_line_is_written(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # COPY refuses 0x00: the whole import used to abort with a traceback, writing none of the 6,000 good lines.
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    rows = _good(sub, 6_000)
    rows.insert(10, f"{sub},2026-03-01,Compute,nul,V\x00M,1,Hours,1.00,USD")  # line 12
    rows.insert(20, f"{sub},2026-03-01,Com\x00pute,nul2,VM,1,Hours,1.00,USD")  # line 22
    path = _csv(tmp_path / "usage.csv", rows)
    assert await _run(monkeypatch, database, str(path)) == 1
    out = capsys.readouterr().out
    assert "inserted 6,000, replaced 0, rejected 2 line(s)" in out
    assert "line 12: meterName: must not contain a NUL character" in out
    assert "line 22: service: must not contain a NUL character" in out
    assert (await _totals(database))[0] == 6_000


def _json_line(sub: str, meter: str, **changes: object) -> str:
    values: dict[str, object] = {
        "subscription_id": sub,
        "usage_date": "2026-03-01",
        "service": "Compute",
        "meter_id": meter,
        "meter_name": "VM",
        "quantity": "1",
        "unit": "Hours",
        "amount": "1.00",
        "currency": "USD",
    }
    return json.dumps(values | changes)


async def test_json_lines_that_are_nested_too_deep_hold_nul_or_a_key_twice_are_rejected_lines(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    lines = [
        _json_line(sub, "m1"),
        "[" * 100_000 + "]" * 100_000,  # line 2: RecursionError used to end the import with a traceback
        _json_line(sub, "m3", meter_name="V\x00M"),  # line 3: "\u0000" in JSON
        _json_line(sub, "m4")[:-1] + ', "amount": "99.00"}',  # line 4: which amount was meant? Unknowable.
        '{"nested": ' * 50_000 + "1" + "}" * 50_000,  # line 5
        _json_line(sub, "m6"),
        '["an", "array"]',  # line 7
        _json_line(sub, "m8", meter_name={"an": "object"}),  # line 8: a value that is no string
    ]
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert await _run(monkeypatch, database, str(path)) == 1
    out = capsys.readouterr().out
    assert "inserted 2, replaced 0, rejected 6 line(s)" in out
    assert "line 7: line: must be an object with keys" in out
    assert "line 8: meterName: must be a non-empty string" in out
    assert "line 2: line: is nested too deeply to be a usage record" in out
    assert "line 3: meterName: must not contain a NUL character" in out
    assert "line 4: line: has the key 'amount' twice" in out
    assert "line 5: line: is nested too deeply to be a usage record" in out
    assert await _totals(database) == (2, Decimal(2), 2, Decimal(2), 2)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
async def test_a_byte_order_mark_at_the_start_is_accepted(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    # What a spreadsheet's "CSV UTF-8" export writes; it used to hide the first column name.
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    path = tmp_path / f"usage.{suffix}"
    if suffix == "csv":
        body = "\n".join([HEADER, *_good(sub, 3)]) + "\n"
    else:
        body = "\n".join(_json_line(sub, f"m{n}") for n in range(3)) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert await _run(monkeypatch, database, str(path)) == 0
    assert "inserted 3, replaced 0, rejected 0 line(s)" in capsys.readouterr().out


async def test_rejects_file_lists_every_rejected_line_not_only_the_first_50(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    rows = _good(sub, 10)
    rows += [f"{sub},2026-03-01,Compute,bad{n},VM,-1,Hours,1.00,USD" for n in range(120)]  # lines 12-131
    rows.append("ghost,2026-03-01,Compute,m1,VM,1,Hours,1.00,USD")  # line 132
    rows.append(f'{sub},2026-03-01,Compute,q,"V, ""M""",1,Hours,x,USD,extra')  # line 133
    path = _csv(tmp_path / "usage.csv", rows)
    rejects = tmp_path / "rejects.csv"
    assert await _run(monkeypatch, database, str(path), "--rejects", str(rejects), "--batch-size", "7") == 1
    out = capsys.readouterr().out
    assert "rejected 122 line(s)" in out and "... and 72 more rejected line(s)" in out
    with rejects.open(encoding="utf-8", newline="") as stream:
        header, *rows_written = list(csv.reader(stream))
    assert header == ["line", "field", "code", "reason"]
    assert sorted(int(row[0]) for row in rows_written) == list(range(12, 134))
    assert ["12", "quantity", "INVALID_VALUE", "must not be negative"] in rows_written
    assert ["132", "subscriptionId", "UNKNOWN_SUBSCRIPTION", "no such subscription"] in rows_written
    assert ["133", "line", "MALFORMED_LINE", "has 10 fields, not 9"] in rows_written


@pytest.mark.parametrize("block", [1 << 20, 4096])
async def test_progress_counts_rows_written_and_the_bytes_up_to_them(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The share used to count the bytes the read-ahead had taken: 30.9% after 5,001 of 49,865 rows.
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    sub = world.subscriptions[0].external_id
    rows = _good(sub, 5_000)
    path = _csv(tmp_path / "usage.csv", rows)
    monkeypatch.setattr("resolvers.usage.file_lines.READ_BLOCK", block)
    calls: list[tuple[int, int]] = []
    summary = await import_file(
        database, path, batch_size=1_000, progress=lambda rows, done: calls.append((rows, done))
    )
    assert summary.inserted == 5_000
    line = len(rows[0]) + 1
    assert calls == [(1_000 * k, len(HEADER) + 1 + 1_000 * k * line) for k in range(1, 6)]
    assert calls[-1][1] == path.stat().st_size


def test_the_progress_line_shows_rows_written_and_their_share_of_the_file() -> None:
    stream = io.StringIO()
    line = ProgressLine(total_bytes=1_000, stream=stream)
    line(250, 500)
    assert "250 rows written" in stream.getvalue() and "50.0%" in stream.getvalue()
