"""Usage for a DELETED subscription is refused, by ingestUsage and by `dpor-gateway ingest` alike.

The rule (validation.subscription_problem, one for both): DELETED is final, so the subscription's usage is
closed: every record naming it is refused with code SUBSCRIPTION_DELETED, whatever its usage date, including
a correction of a day before the deletion. Usage already stored stays, and stays in the aggregates.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from auth.principal import Role
from db.engine import Database
from db.enums import SubscriptionStatus
from db.models import Subscription, UsageRecord
from gateway import cli
from resolvers.usage.ingestion import ingest_usage
from resolvers.usage.validation import SUBSCRIPTION_DELETED, UsageInputError
from tests.api import Api, error_codes, principal
from tests.usage_helpers import build_world, record

INGESTER = principal(Role.USAGE_INGEST, subject="meter-pipeline")
INGEST = "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { inserted replaced } }"
HEADER = "subscription_id,usage_date,service,meter_id,meter_name,quantity,unit,amount,currency"


async def _delete(database: Database, external_id: str) -> None:
    async with database.write() as session:
        await session.execute(
            update(Subscription)
            .where(Subscription.external_id == external_id)
            .values(status=SubscriptionStatus.DELETED)
        )


async def _stored(database: Database) -> list[tuple[str, str]]:
    async with database.read() as session:
        rows = await session.execute(
            select(Subscription.external_id, UsageRecord.amount)
            .join(Subscription, Subscription.id == UsageRecord.subscription_id)
            .order_by(Subscription.external_id, UsageRecord.usage_date)
        )
        return sorted((external, f"{amount:.6f}") for external, amount in rows)


def _given(subscription: str, day: str) -> dict[str, str]:
    return {
        "subscriptionId": subscription,
        "usageDate": day,
        "service": "Compute",
        "meterId": "meter-1",
        "meterName": "VM",
        "quantity": "1",
        "unit": "Hours",
        "amount": "5.00",
        "currency": "USD",
    }


async def test_the_api_refuses_a_batch_with_a_record_of_a_deleted_subscription(api: Api, database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    live, gone = (sub.external_id for sub in world.subscriptions)
    async with database.write() as session:
        await ingest_usage(session, [record(gone, "2026-03-01")])
    await _delete(database, gone)
    # A correction of a day stored before the deletion is refused as well as a new day.
    records = [_given(live, "2026-03-01"), _given(gone, "2026-03-01"), _given(gone, "2026-03-02")]
    body = await api.execute(INGEST, {"i": {"records": records}}, as_=INGESTER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    problems = [(p["index"], p["field"], p["code"]) for p in body["errors"][0]["extensions"]["problems"]]
    assert problems == [(1, "subscriptionId", SUBSCRIPTION_DELETED), (2, "subscriptionId", SUBSCRIPTION_DELETED)]
    assert await _stored(database) == [(gone, "1.000000")]  # all or nothing: the live record is not written


async def test_ingest_usage_names_unknown_and_deleted_subscriptions_apart(database: Database) -> None:
    world = await build_world(database, tenants=1, subscriptions=1, partners=0)
    gone = world.subscriptions[0].external_id
    await _delete(database, gone)
    with pytest.raises(UsageInputError) as raised:
        async with database.write() as session:
            await ingest_usage(session, [record(gone, "2026-03-01"), record("ghost", "2026-03-01")])
    assert [(p.index, p.code, p.message) for p in raised.value.problems] == [
        (0, SUBSCRIPTION_DELETED, "the subscription is deleted"),
        (1, "UNKNOWN_SUBSCRIPTION", "no such subscription"),
    ]


def _ingest(monkeypatch: pytest.MonkeyPatch, database: Database, *args: str) -> int:
    monkeypatch.setenv("DPOR_DATABASE_URL", database.engine.url.render_as_string(hide_password=False))
    return cli.main(["ingest", "--quiet", *args])


@pytest.mark.parametrize("batch_size", [None, "1"])
async def test_the_file_import_rejects_the_lines_of_a_deleted_subscription(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    batch_size: str | None,
) -> None:
    world = await build_world(database, tenants=1, subscriptions=2, partners=0)
    live, gone = (sub.external_id for sub in world.subscriptions)
    async with database.write() as session:
        await ingest_usage(session, [record(gone, "2026-03-01")])
    await _delete(database, gone)
    lines = [
        f"{live},2026-03-01,Compute,m1,VM,1,Hours,2.00,USD",  # line 2
        f"{gone},2026-03-01,Compute,meter-1,VM,1,Hours,9.00,USD",  # line 3: a correction, refused
        f"{gone},2026-03-05,Compute,m1,VM,1,Hours,9.00,USD",  # line 4
        f"{gone},2026-03-05,Compute,m1,VM,1,Hours,8.00,USD",  # line 5: the same key again, refused too
        f"{live},2026-03-02,Compute,m1,VM,1,Hours,3.00,USD",  # line 6
    ]
    path = tmp_path / "usage.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    args = [str(path), "--rejects", str(rejects), *(["--batch-size", batch_size] if batch_size else [])]
    assert await asyncio.to_thread(_ingest, monkeypatch, database, *args) == 1
    out = capsys.readouterr().out
    assert "inserted 2, replaced 0, rejected 3 line(s)" in out
    assert "line 3: subscriptionId: the subscription is deleted" in out
    rows = sorted(rejects.read_text(encoding="utf-8").splitlines()[1:])
    assert rows == [f"{line},subscriptionId,SUBSCRIPTION_DELETED,the subscription is deleted" for line in (3, 4, 5)]
    assert await _stored(database) == sorted([(gone, "1.000000"), (live, "2.000000"), (live, "3.000000")])
    async with database.read() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 3
