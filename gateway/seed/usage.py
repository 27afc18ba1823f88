"""Daily usage rows for seeded subscriptions: one row per subscription, day and meter.

Generating millions of rows is dominated by Python's per-row cost, so the inner loop does almost nothing:
- the varying part of a row (quantity and amount) comes from a pool of pre-computed variants per meter, size
  tier and currency, built once with exact Decimals and bound for the driver once;
- the per-day part (date, ingestion time, weekday or weekend) is computed once per load;
- a row is the concatenation of the subscription's id, the day and a variant picked by one random byte,
  each already rendered by the bulk writer (tuples, or COPY text on PostgreSQL).
Pools are sorted by quantity: weekdays pick from the upper half, weekends from the lower, so a week has the
shape real usage has.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from db.usage import UsageRecord
from gateway.seed.bulk import BulkWriter, Fragment, table_of
from gateway.seed.catalog import CURRENCY_PER_USD, Meter

# The order of columns in every row this module yields: the per-day head, then the per-variant tail.
COLUMNS = (
    "subscription_id",
    "usage_date",
    "ingested_at",
    "service_name",
    "meter_id",
    "meter_name",
    "meter_category",
    "unit",
    "currency",
    "quantity",
    "amount",
)
# Customer size tiers multiply a meter's small-customer daily range.
TIER_SCALE = (Decimal(1), Decimal(6), Decimal(40))
# Half a pool; a pool holds HALF quieter variants (weekends) and HALF busier ones (weekdays).
HALF = 32
_HALF_MASK = HALF - 1  # HALF is a power of two: a random byte masked by this picks within a half
MICRO = Decimal("0.000001")

_table = table_of(UsageRecord)


class UsageRows:
    """Row generator for one load: days and variant pools are shared by every subscription of the load.

    Rows are built from fragments (see BulkWriter.fragment): subscription id + day + variant.
    """

    def __init__(self, writer: BulkWriter, *, first_day: date, days: int, seed: str) -> None:
        self._writer = writer
        self._seed = seed
        self._bind_date = writer.binder(_table, "usage_date")
        self._bind_ingested = writer.binder(_table, "ingested_at")
        self._bind_id = writer.binder(_table, "subscription_id")
        self._bind_quantity = writer.binder(_table, "quantity")
        self._bind_amount = writer.binder(_table, "amount")
        # (date and ingestion fragment, pool offset: 0 on weekends, HALF on weekdays) per day.
        self.days = [self._day(first_day + timedelta(days=n)) for n in range(days)]
        self._pools: dict[tuple[str, int, str], tuple[Fragment, ...]] = {}

    def _day(self, usage_date: date) -> tuple[Fragment, int]:
        # A day's usage is complete when the day ends: that is when it is treated as ingested.
        closed = datetime.combine(usage_date + timedelta(days=1), time(), tzinfo=UTC)
        bound = (self._bind_date(usage_date), self._bind_ingested(closed))
        return self._writer.fragment(bound, ends_row=False), 0 if usage_date.weekday() >= 5 else HALF

    def pool(self, meter: Meter, tier: int, currency: str) -> tuple[Fragment, ...]:
        key = (meter.meter_id, tier, currency)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._build_pool(meter, tier, currency)
        return pool

    def _build_pool(self, meter: Meter, tier: int, currency: str) -> tuple[Fragment, ...]:
        rng = random.Random(f"{self._seed}/pool/{meter.meter_id}/{tier}/{currency}")
        scale = TIER_SCALE[tier]
        low, high = meter.daily_low * scale, meter.daily_high * scale
        price = meter.unit_price_usd * CURRENCY_PER_USD[currency]
        quantities = sorted(_quantity(rng, low, high, meter.whole_units) for _ in range(2 * HALF))
        return tuple(
            self._writer.fragment(
                (
                    meter.service_name,
                    meter.meter_id,
                    meter.meter_name,
                    meter.meter_category,
                    meter.unit,
                    currency,
                    self._bind_quantity(quantity),
                    self._bind_amount((quantity * price).quantize(MICRO, rounding=ROUND_HALF_EVEN)),
                ),
                ends_row=True,
            )
            for quantity in quantities
        )

    def rows(self, subscription_id: object, pools: Sequence[tuple[Fragment, ...]], noise: bytes) -> list[Fragment]:
        """Every row of one subscription, day by day: len(days) * len(pools). `noise` has a byte per row.

        A list per subscription (about a thousand rows) rather than a generator: appending in a tight loop
        costs less per row than resuming a generator, and memory stays bounded by one subscription.
        """
        subscription = self._writer.fragment((self._bind_id(subscription_id),), ends_row=False)
        rows: list[Fragment] = []
        append = rows.append
        position = 0
        for day, offset in self.days:
            head = subscription + day
            for pool in pools:
                append(head + pool[offset + (noise[position] & _HALF_MASK)])
                position += 1
        return rows

    def noise(self, rng: random.Random, meters: int) -> bytes:
        return rng.randbytes(len(self.days) * meters)


def _quantity(rng: random.Random, low: Decimal, high: Decimal, whole: bool) -> Decimal:
    if whole:
        return Decimal(rng.randint(int(low), int(high)))
    # Drawn in millionths so the Decimal is exact with at most 6 fractional digits.
    micros = rng.randint(int(low / MICRO), int(high / MICRO))
    return Decimal(micros).scaleb(-6)
