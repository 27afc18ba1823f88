"""The PostgreSQL bulk path: COPY a validated batch into a staging table, then work set-based in SQL.

Same rules as ingestion.write_records (replace by natural key, rollups moved by new minus replaced, freshness
only forward), but every step is one statement over the whole batch, and the rows travel by COPY (binary)
instead of parameter lists. The caller validates the batch (no duplicate natural keys) and resolves its
subscriptions with ingestion.resolve_subscriptions first, which also locks them: that lock is what makes the
read of the replaced rows trustworthy against a concurrent ingest, exactly as in write_records.

The temporary tables are per connection and emptied at every commit (ON COMMIT DELETE ROWS), so a pooled
connection reuses them without catalog churn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.usage.ingestion import KnownSubscription
from resolvers.usage.validation import ValidRecord

STAGING_COLUMNS = (
    "subscription_id",
    "usage_date",
    "service_name",
    "meter_id",
    "meter_name",
    "quantity",
    "unit",
    "amount",
    "currency",
)

_CREATE_TEMPORARY_TABLES = (
    """CREATE TEMPORARY TABLE IF NOT EXISTS usage_staging (
        subscription_id uuid NOT NULL, usage_date date NOT NULL, service_name text NOT NULL,
        meter_id text NOT NULL, meter_name text NOT NULL, quantity numeric NOT NULL, unit text NOT NULL,
        amount numeric NOT NULL, currency text NOT NULL
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMPORARY TABLE IF NOT EXISTS usage_replaced (
        subscription_id uuid NOT NULL, usage_date date NOT NULL, service_name text NOT NULL,
        currency text NOT NULL, quantity numeric NOT NULL, amount numeric NOT NULL
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMPORARY TABLE IF NOT EXISTS usage_delta (
        subscription_id uuid NOT NULL, usage_date date NOT NULL, service_name text NOT NULL,
        currency text NOT NULL, quantity numeric NOT NULL, amount numeric NOT NULL,
        record_count integer NOT NULL
    ) ON COMMIT DELETE ROWS""",
)

# The stored rows the batch replaces, read before they are overwritten.
_READ_REPLACED = """
INSERT INTO usage_replaced
SELECT u.subscription_id, u.usage_date, u.service_name, u.currency, u.quantity, u.amount
FROM usage_staging s
JOIN usage_records u
  ON u.subscription_id = s.subscription_id AND u.usage_date = s.usage_date AND u.meter_id = s.meter_id
"""

_UPSERT_RECORDS = """
INSERT INTO usage_records AS u
  (subscription_id, usage_date, service_name, meter_id, meter_name, meter_category,
   quantity, unit, amount, currency, ingested_at)
SELECT subscription_id, usage_date, service_name, meter_id, meter_name, service_name,
       quantity, unit, amount, currency, now()
FROM usage_staging
ON CONFLICT (subscription_id, usage_date, meter_id) DO UPDATE SET
  service_name = excluded.service_name, meter_name = excluded.meter_name,
  meter_category = excluded.meter_category, quantity = excluded.quantity, unit = excluded.unit,
  amount = excluded.amount, currency = excluded.currency, ingested_at = excluded.ingested_at
"""

# New minus replaced, per daily rollup key; keys whose delta is nothing at all are left out.
_DAILY_DELTAS = """
INSERT INTO usage_delta
SELECT subscription_id, usage_date, service_name, currency, sum(quantity), sum(amount), sum(record_count)
FROM (
  SELECT subscription_id, usage_date, service_name, currency, quantity, amount, 1 AS record_count
  FROM usage_staging
  UNION ALL
  SELECT subscription_id, usage_date, service_name, currency, -quantity, -amount, -1
  FROM usage_replaced
) AS changes
GROUP BY subscription_id, usage_date, service_name, currency
HAVING sum(record_count) <> 0 OR sum(quantity) <> 0 OR sum(amount) <> 0
"""

# Ordered by key: concurrent writers lock rollup rows in one order. The increments are atomic.
_APPLY_DAILY = """
INSERT INTO usage_daily_rollups AS r
  (subscription_id, usage_date, service_name, currency, quantity, amount, record_count)
SELECT subscription_id, usage_date, service_name, currency, quantity, amount, record_count
FROM usage_delta
ORDER BY subscription_id, usage_date, service_name, currency
ON CONFLICT (subscription_id, usage_date, service_name, currency) DO UPDATE SET
  quantity = r.quantity + excluded.quantity, amount = r.amount + excluded.amount,
  record_count = r.record_count + excluded.record_count
"""

_APPLY_MONTHLY = """
INSERT INTO usage_monthly_rollups AS r
  (subscription_id, month, service_name, currency, quantity, amount, record_count)
SELECT subscription_id, date_trunc('month', usage_date)::date AS month, service_name, currency,
       sum(quantity), sum(amount), sum(record_count)
FROM usage_delta
GROUP BY subscription_id, month, service_name, currency
HAVING sum(record_count) <> 0 OR sum(quantity) <> 0 OR sum(amount) <> 0
ORDER BY subscription_id, month, service_name, currency
ON CONFLICT (subscription_id, month, service_name, currency) DO UPDATE SET
  quantity = r.quantity + excluded.quantity, amount = r.amount + excluded.amount,
  record_count = r.record_count + excluded.record_count
"""

# Only keys that lost records can have been emptied.
_DELETE_EMPTIED_DAILY = """
DELETE FROM usage_daily_rollups r
USING usage_delta d
WHERE d.record_count < 0 AND r.record_count = 0
  AND r.subscription_id = d.subscription_id AND r.usage_date = d.usage_date
  AND r.service_name = d.service_name AND r.currency = d.currency
"""

_DELETE_EMPTIED_MONTHLY = """
DELETE FROM usage_monthly_rollups r
USING (
  SELECT DISTINCT subscription_id, date_trunc('month', usage_date)::date AS month, service_name, currency
  FROM usage_delta WHERE record_count < 0
) d
WHERE r.record_count = 0
  AND r.subscription_id = d.subscription_id AND r.month = d.month
  AND r.service_name = d.service_name AND r.currency = d.currency
"""

# Only forward: a late correction for an old day must not make the data look staler than it is.
_ADVANCE_FRESHNESS = """
UPDATE subscriptions s SET usage_data_as_of = m.latest
FROM (SELECT subscription_id, max(usage_date) AS latest FROM usage_staging GROUP BY subscription_id) m
WHERE s.id = m.subscription_id AND (s.usage_data_as_of IS NULL OR s.usage_data_as_of < m.latest)
"""


async def copy_records(
    session: AsyncSession, records: Sequence[ValidRecord], known: Mapping[str, KnownSubscription]
) -> tuple[int, int]:
    """Write the batch through COPY and set-based SQL; return (inserted, replaced). PostgreSQL only."""
    for statement in _CREATE_TEMPORARY_TABLES:
        await session.execute(text(statement))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg.Connection, inside the session's transaction
    await driver.copy_records_to_table(
        "usage_staging",
        columns=STAGING_COLUMNS,
        records=[
            (
                known[record.subscription_id].id,
                record.usage_date,
                record.service,
                record.meter_id,
                record.meter_name,
                record.quantity,
                record.unit,
                record.amount,
                record.currency,
            )
            for record in records
        ],
    )
    # Temporary tables have no statistics until analyzed; without them the joins below are planned blind.
    await session.execute(text("ANALYZE usage_staging"))
    replaced: int = (await session.execute(text(_READ_REPLACED))).rowcount  # type: ignore[attr-defined]
    for statement in (
        _UPSERT_RECORDS,
        _DAILY_DELTAS,
        _APPLY_DAILY,
        _APPLY_MONTHLY,
        _DELETE_EMPTIED_DAILY,
        _DELETE_EMPTIED_MONTHLY,
        _ADVANCE_FRESHNESS,
    ):
        await session.execute(text(statement))
    return len(records) - replaced, replaced
