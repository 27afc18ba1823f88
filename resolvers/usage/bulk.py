"""The PostgreSQL bulk path: COPY a checked batch as CSV text, then work set-based in SQL.

Same rules as ingestion.write_records (replace by natural key, rollups moved by new minus replaced, freshness
only forward), but every step is one statement over the whole batch, and the rows travel by one COPY of CSV
text into a staging table: the file import checks lines as text (text_record.py) and never builds a Python
object per value, PostgreSQL parses the dates and numbers. The staging table names subscriptions by external
id; each statement joins them to subscriptions. Records of days no stored row can have yet (after the
subscription's usage_data_as_of) are inserted plainly; the others go through a read of the rows they replace
and INSERT ... ON CONFLICT DO UPDATE. Rollup deltas are summed in SQL from the staging table and the replaced
rows. The caller checks the batch (no duplicate natural keys) and resolves its subscriptions with
ingestion.resolve_subscriptions first, which also locks them: that lock is what makes the read of the
replaced rows trustworthy against a concurrent ingest, exactly as in write_records. Lines naming a
subscription that does not exist are copied too, and left out by the joins; those of deleted ones are removed
from the staging table first. The database checks the subscriptions once per statement, not once per row
(revision 0011_usage_subscription_checks: a trigger over the statement's rows instead of a foreign key), which with
the batch size (file_import.POSTGRES_BATCH) is most of what this path gained for issue 16
(bench/results/2026-12-03-ingest-large.md).

The temporary tables are per connection and emptied at every commit (ON COMMIT DELETE ROWS), so a pooled
connection reuses them without catalog churn.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.usage.partitions import ensure_months, ensure_staged_months
from resolvers.usage.text_record import TextRecord

# For this transaction only (SET LOCAL): a 200,000-row batch's hash aggregates fit in it.
WORK_MEMORY = "256MB"

STAGING_COLUMNS = (
    "external_id",
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
        external_id text NOT NULL, usage_date date NOT NULL, service_name text NOT NULL,
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

# The stored rows the batch replaces, read before they are overwritten; and how many records of the batch fall on
# days that may be stored (the upsert below leaves unchanged rows alone, so its count is not theirs). Only days up
# to the subscription's usage_data_as_of can be stored (it is the latest day ever written, kept by every write
# path and by rebuild_rollups), so a file of new days probes the natural-key index for none of its rows.
_READ_REPLACED = """
WITH candidates AS MATERIALIZED (
  SELECT sub.id AS subscription_id, s.usage_date, s.meter_id
  FROM usage_staging s
  JOIN subscriptions sub ON sub.external_id = s.external_id AND s.usage_date <= sub.usage_data_as_of
), stored AS (
  INSERT INTO usage_replaced
  SELECT u.subscription_id, u.usage_date, u.service_name, u.currency, u.quantity, u.amount
  FROM candidates c
  JOIN usage_records u
    ON u.subscription_id = c.subscription_id AND u.usage_date = c.usage_date AND u.meter_id = c.meter_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM candidates) AS known_days, (SELECT count(*) FROM stored) AS replaced
"""

# The days the batch writes (lines of unknown subscriptions are left out, as every statement below leaves them):
# their months' partitions are made first (db/partitions.py).
_WRITTEN_DAYS = """
SELECT DISTINCT s.usage_date FROM usage_staging s JOIN subscriptions sub ON sub.external_id = s.external_id
"""

# Records of days up to the subscription's usage_data_as_of may replace a stored row: an upsert. A re-sent record
# equal to the stored one is left alone (ingested_at says when its values arrived): no new row version, no WAL; its
# rollup delta is zero anyway.
_UPSERT_KNOWN_DAYS = """
INSERT INTO usage_records AS u
  (subscription_id, usage_date, service_name, meter_id, meter_name, meter_category,
   quantity, unit, amount, currency, ingested_at)
SELECT sub.id, s.usage_date, s.service_name, s.meter_id, s.meter_name, s.service_name,
       s.quantity, s.unit, s.amount, s.currency, now()
FROM usage_staging s
JOIN subscriptions sub ON sub.external_id = s.external_id AND s.usage_date <= sub.usage_data_as_of
ON CONFLICT (subscription_id, usage_date, meter_id) DO UPDATE SET
  service_name = excluded.service_name, meter_name = excluded.meter_name,
  meter_category = excluded.meter_category, quantity = excluded.quantity, unit = excluded.unit,
  amount = excluded.amount, currency = excluded.currency, ingested_at = excluded.ingested_at
WHERE u.service_name <> excluded.service_name OR u.meter_name <> excluded.meter_name
   OR u.meter_category <> excluded.meter_category OR u.quantity <> excluded.quantity OR u.unit <> excluded.unit
   OR u.amount <> excluded.amount OR u.currency <> excluded.currency
"""

# Records of later days cannot replace anything (no stored row is later than usage_data_as_of, and the
# subscription is locked): a plain insert, without the conflict check of the upsert.
_INSERT_NEW_DAYS = """
INSERT INTO usage_records
  (subscription_id, usage_date, service_name, meter_id, meter_name, meter_category,
   quantity, unit, amount, currency, ingested_at)
SELECT sub.id, s.usage_date, s.service_name, s.meter_id, s.meter_name, s.service_name,
       s.quantity, s.unit, s.amount, s.currency, now()
FROM usage_staging s
JOIN subscriptions sub ON sub.external_id = s.external_id
WHERE sub.usage_data_as_of IS NULL OR s.usage_date > sub.usage_data_as_of
"""

# New minus replaced, per daily rollup key; keys whose delta is nothing at all are left out.
_DAILY_DELTAS = """
INSERT INTO usage_delta
SELECT subscription_id, usage_date, service_name, currency, sum(quantity), sum(amount), sum(record_count)
FROM (
  SELECT sub.id AS subscription_id, s.usage_date, s.service_name, s.currency, s.quantity, s.amount,
         1 AS record_count
  FROM usage_staging s JOIN subscriptions sub ON sub.external_id = s.external_id
  UNION ALL
  SELECT subscription_id, usage_date, service_name, currency, -quantity, -amount, -1
  FROM usage_replaced
) AS changes
GROUP BY subscription_id, usage_date, service_name, currency
HAVING sum(record_count) <> 0 OR sum(quantity) <> 0 OR sum(amount) <> 0
"""

# A daily rollup row exists only for a day up to the subscription's usage_data_as_of: later days are inserted
# plainly; the others are upserted, ordered by key (concurrent writers lock rollup rows in one order) with
# atomic increments.
_INSERT_DAILY_NEW_DAYS = """
INSERT INTO usage_daily_rollups
  (subscription_id, usage_date, service_name, currency, quantity, amount, record_count)
SELECT d.subscription_id, d.usage_date, d.service_name, d.currency, d.quantity, d.amount, d.record_count
FROM usage_delta d
JOIN subscriptions sub ON sub.id = d.subscription_id
WHERE sub.usage_data_as_of IS NULL OR d.usage_date > sub.usage_data_as_of
"""

# A rollup row's sums, added to: the daily and monthly upserts'.
_ADDED = """quantity = r.quantity + excluded.quantity, amount = r.amount + excluded.amount,
  record_count = r.record_count + excluded.record_count"""


_APPLY_DAILY_KNOWN_DAYS = f"""
INSERT INTO usage_daily_rollups AS r
  (subscription_id, usage_date, service_name, currency, quantity, amount, record_count)
SELECT d.subscription_id, d.usage_date, d.service_name, d.currency, d.quantity, d.amount, d.record_count
FROM usage_delta d
JOIN subscriptions sub ON sub.id = d.subscription_id AND d.usage_date <= sub.usage_data_as_of
ORDER BY d.subscription_id, d.usage_date, d.service_name, d.currency
ON CONFLICT (subscription_id, usage_date, service_name, currency) DO UPDATE SET
  {_ADDED}
"""


def _monthly_upsert(daily: str, having: str = "") -> str:
    """The monthly rollups' upsert of the daily sums in relation `daily` (ordered by key, as the daily upsert)."""
    return f"""
INSERT INTO usage_monthly_rollups AS r
  (subscription_id, month, service_name, currency, quantity, amount, record_count)
SELECT subscription_id, date_trunc('month', usage_date)::date AS month, service_name, currency,
       sum(quantity), sum(amount), sum(record_count)
FROM {daily}
GROUP BY subscription_id, month, service_name, currency{having}
ORDER BY subscription_id, month, service_name, currency
ON CONFLICT (subscription_id, month, service_name, currency) DO UPDATE SET
  {_ADDED}
"""


_APPLY_MONTHLY = _monthly_upsert(
    "usage_delta", "\nHAVING sum(record_count) <> 0 OR sum(quantity) <> 0 OR sum(amount) <> 0"
)

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
FROM (SELECT subscription_id, max(usage_date) AS latest FROM usage_delta GROUP BY subscription_id) m
WHERE s.id = m.subscription_id AND (s.usage_data_as_of IS NULL OR s.usage_data_as_of < m.latest)
"""


# A batch none of whose records can replace a stored one (the writer knows: each one's day is after its locked
# subscription's usage_data_as_of, file_writes.py): its rollup deltas are its own sums, and no daily rollup row of
# its days exists yet. One statement: the sums hashed once, kept in the statement's memory (not a temporary table
# written and scanned four times), feeding the daily inserts, the monthly upserts (ordered by key, as above) and
# freshness; no HAVING (every key counts at least one record) and no emptied rows to delete.
_FRESH_ROLLUPS = f"""
WITH daily AS MATERIALIZED (
  SELECT sub.id AS subscription_id, s.usage_date, s.service_name, s.currency,
         sum(s.quantity) AS quantity, sum(s.amount) AS amount, count(*)::integer AS record_count
  FROM usage_staging s JOIN subscriptions sub ON sub.external_id = s.external_id
  GROUP BY sub.id, s.usage_date, s.service_name, s.currency
), daily_rows AS (
  INSERT INTO usage_daily_rollups
    (subscription_id, usage_date, service_name, currency, quantity, amount, record_count)
  SELECT subscription_id, usage_date, service_name, currency, quantity, amount, record_count FROM daily
), monthly_rows AS ({_monthly_upsert("daily")})
UPDATE subscriptions s SET usage_data_as_of = m.latest
FROM (SELECT subscription_id, max(usage_date) AS latest FROM daily GROUP BY subscription_id) m
WHERE s.id = m.subscription_id AND (s.usage_data_as_of IS NULL OR s.usage_data_as_of < m.latest)
"""


def copy_payload(records: Sequence[TextRecord]) -> bytes:
    """The batch as COPY ... (FORMAT csv) input, in STAGING_COLUMNS order.

    No value is empty (validation refuses empty strings), so none reads as NULL. Most batches hold no value with
    a comma, quote or line break: then joining the values with commas and the records with line breaks is CSV
    PostgreSQL reads back exactly, and the counts prove it (a value holding a comma or a line break would add one
    to them; a quote, CR or the end marker `\\.` is looked for): 0.95 us a record where the csv module's writer
    took 2.1 (measured on 120,000 records of the benchmark's shape). Otherwise the csv module quotes what needs
    it, in the same CSV dialect PostgreSQL reads.
    """
    joined = "\n".join(map(",".join, records))
    if (
        joined.count(",") == 8 * len(records)
        and joined.count("\n") == len(records) - 1
        and '"' not in joined
        and "\r" not in joined
        and "\\." not in joined
    ):
        return (joined + "\n").encode("utf-8") if records else b""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    return buffer.getvalue().encode("utf-8")


async def copy_text(
    session: AsyncSession,
    payload: bytes,
    excluded: Sequence[str] = (),
    *,
    days: Collection[date] | None = None,
    may_replace: bool = True,
) -> tuple[int, int]:
    """Write a batch given as copy_payload() through COPY and set-based SQL; return (written, replaced).

    PostgreSQL only. Written counts the records of known subscriptions, inserted or replacing; records of the
    `excluded` external ids (deleted subscriptions) are left out. `days`, when given, are the days the batch
    writes (its partitions' months; else worked out from the staging table); `may_replace=False` says that no
    record's day is on or before its subscription's usage_data_as_of (the subscriptions locked), so nothing is
    read, upserted or emptied: each of those statements scans the staging table for nothing (about 0.3 us a row
    each).
    """
    # The batch's aggregates (deltas by day, then by month) are hashed in memory, not spilled to disk: with the
    # default 4 MB a 50,000-row batch's spilled in five batches.
    await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEMORY}'"))
    for statement in _CREATE_TEMPORARY_TABLES:
        await session.execute(text(statement))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg.Connection, inside the session's transaction
    # A memoryview: asyncpg would take bytes for a file name.
    await driver.copy_to_table("usage_staging", source=memoryview(payload), columns=STAGING_COLUMNS, format="csv")
    if excluded:
        ids = bindparam("excluded", list(excluded), type_=ARRAY(String))
        await session.execute(text("DELETE FROM usage_staging WHERE external_id = ANY(:excluded)").bindparams(ids))
    if days is None:
        await ensure_staged_months(session, _WRITTEN_DAYS)
    else:
        await ensure_months(session, days)
    if not may_replace:
        inserted = (await session.execute(text(_INSERT_NEW_DAYS))).rowcount  # type: ignore[attr-defined]
        await session.execute(text(_FRESH_ROLLUPS))
        return int(inserted), 0
    known_days, replaced = (await session.execute(text(_READ_REPLACED))).one()
    await session.execute(text(_UPSERT_KNOWN_DAYS))
    inserted = (await session.execute(text(_INSERT_NEW_DAYS))).rowcount  # type: ignore[attr-defined]
    for statement in (
        _DAILY_DELTAS,
        _INSERT_DAILY_NEW_DAYS,
        _APPLY_DAILY_KNOWN_DAYS,
        _APPLY_MONTHLY,
        _DELETE_EMPTIED_DAILY,
        _DELETE_EMPTIED_MONTHLY,
        _ADVANCE_FRESHNESS,
    ):
        await session.execute(text(statement))
    return int(known_days) + inserted, int(replaced)
