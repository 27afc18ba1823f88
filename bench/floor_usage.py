"""The floor of the usage reads (2) tenant usage by month and service and (5) partner attributed usage by month:
the statements the gateway sends for them (resolvers/usage/aggregates.py), run with asyncpg, and the same `data`.

Every statement below is the gateway's, copied from the DPOR_DB_ECHO=true log of a development gateway on
dpor_bench_small (`python -m bench.capture` prints that log and says which of these statements it no longer
finds): same text, same parameter numbering, same parameter values (including the ones SQLAlchemy binds as
parameters, 'month', 'UTC' and the one-second interval). Two statements are simplified as the other floors'
are: the caller-scope lookup (the gateway's wraps it in a SELECT of placeholders) and the node lookup (the
gateway loads every column of the row; the floor only needs to know the row is visible).

The Python here is what the answer needs and nothing more: the window split as the gateway splits it (a copy of
resolvers/usage/month_span.py: months from the monthly rollups, less the days outside the window of a month mostly
inside it, and the other days from the daily rollups; which statements are sent depends on that shape, so each
read has one per shape and `*_mirrored` names them for a window), Decimal sums keyed as the gateway keys them
(a group left with no record is no row), and for (5) the seconds each association was in effect on
its first and last day (a partially covered day counts in quantity and amount, a day it only touches at
midnight does not). Op (5)'s document does not select `attribution`, so the exact attributed fractions the
gateway computes for every row regardless are not computed here: that is part of the gap the ratio measures.

Op (1) selects `Subscription.usage(from: monthStart, to: today, groupBy: []) { currency attribution { amount } }`
for a page of subscriptions, which the gateway batches into one aggregate over the page's ids
(`subscription_usage` here): its answer does need the attributed amount, counted as the gateway counts it
(micro-units times seconds, rounded half to even to the currency's minor unit at the end). The page's ids are
bound one parameter each (SQLAlchemy's expanding IN), so those statements are templates: `{ids:B:K}` stands for
the list of n placeholders starting at $(B + K*n) (`expand`).
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bench.floor_scope import SCOPE_PARTNER, SCOPE_TENANT, scope_id

# Captured from the gateway at 6958f96 (resolvers/usage/aggregates.py), 2026-11-30.
# Tenant(id:) and node(id:) through their loaders, with the caller's row filter (id = the caller's own).
TENANT_NODE = "SELECT tenants.id FROM tenants WHERE tenants.id IN ($2::UUID) AND tenants.id = $1::UUID"
PARTNER_NODE = "SELECT partners.id FROM partners WHERE partners.id IN ($2::UUID) AND partners.id = $1::UUID"

# (2) _plain_sums through the tenant's usage loader (a set of one tenant, so grouped by tenant too): the whole
# months of the window from the monthly rollups...
TENANT_MONTHLY = """
SELECT usage_monthly_rollups.month AS month, usage_monthly_rollups.service_name AS service, subscriptions.tenant_id
AS tenant_id, usage_monthly_rollups.currency, sum(usage_monthly_rollups.quantity) AS quantity,
sum(usage_monthly_rollups.amount) AS amount, sum(usage_monthly_rollups.record_count) AS record_count FROM
usage_monthly_rollups JOIN subscriptions ON subscriptions.id = usage_monthly_rollups.subscription_id WHERE
usage_monthly_rollups.month BETWEEN $1::DATE AND $2::DATE AND usage_monthly_rollups.subscription_id IN (SELECT
subscriptions.id FROM subscriptions WHERE subscriptions.tenant_id = $3::UUID) AND
usage_monthly_rollups.subscription_id IN (SELECT subscriptions.id FROM subscriptions WHERE subscriptions.tenant_id
IN ($4::UUID)) GROUP BY usage_monthly_rollups.month, usage_monthly_rollups.service_name, subscriptions.tenant_id,
usage_monthly_rollups.currency
"""
# ...and each range of leftover days (before the first whole month, after the last) from the daily rollups.
TENANT_DAILY = """
SELECT CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE) AS month,
usage_daily_rollups.service_name AS service, subscriptions.tenant_id AS tenant_id, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN subscriptions ON
subscriptions.id = usage_daily_rollups.subscription_id WHERE usage_daily_rollups.usage_date BETWEEN $2::DATE AND
$3::DATE AND usage_daily_rollups.subscription_id IN (SELECT subscriptions.id FROM subscriptions WHERE
subscriptions.tenant_id = $4::UUID) AND usage_daily_rollups.subscription_id IN (SELECT subscriptions.id FROM
subscriptions WHERE subscriptions.tenant_id IN ($5::UUID)) GROUP BY CAST(date_trunc($1::VARCHAR,
usage_daily_rollups.usage_date) AS DATE), usage_daily_rollups.service_name, subscriptions.tenant_id,
usage_daily_rollups.currency
"""

# ...less, for a month mostly inside the window (month_span), its days outside the window (the same statement, sums
# negated). The window is read as one of them at most: it starts on the first of a month, so only its last month
# can be partly covered.
TENANT_DAILY_SUBTRACTED = TENANT_DAILY.replace("sum(", "-sum(")

# (5) _attributed_sums through the partner's usage loader (a set of one partner: `partner_id IN ($n::UUID)`).
# Captured from the gateway at 8b359e0, 2026-11-30. Months the association covers whole, from the monthly rollups...
PARTNER_MONTHLY = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_monthly_rollups.month AS month, usage_monthly_rollups.currency, sum(usage_monthly_rollups.quantity) AS
quantity, sum(usage_monthly_rollups.amount) AS amount, sum(usage_monthly_rollups.record_count) AS record_count FROM
usage_monthly_rollups JOIN partner_associations ON partner_associations.subscription_id =
usage_monthly_rollups.subscription_id AND usage_monthly_rollups.month > CAST(timezone($1::VARCHAR,
partner_associations.valid_from) - $2::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
CAST(usage_monthly_rollups.month + interval '1 month' AS DATE) <= CAST(timezone($3::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_monthly_rollups.month BETWEEN $4::DATE AND $5::DATE AND
partner_associations.valid_from < $6::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR
partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id = $8::UUID AND
partner_associations.partner_id IN ($9::UUID) GROUP BY partner_associations.partner_id, partner_associations.type,
usage_monthly_rollups.month, usage_monthly_rollups.currency
"""
# ...the other days it covers whole, from the daily rollups (leaving out the months counted above), in parts:
# the days after the whole months (when the window ends inside a month), then the month of each association's
# first whole day and of its last one (_daily_parts)...
_PARTNER_WHOLE_DAYS_AFTER = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE) AS month, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date >
CAST(timezone($2::VARCHAR, partner_associations.valid_from) - $3::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR usage_daily_rollups.usage_date < CAST(timezone($4::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $5::DATE AND $6::DATE AND
partner_associations.valid_from < $7::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR
partner_associations.valid_to > $8::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id = $9::UUID AND
partner_associations.partner_id IN ($26::UUID) AND NOT (CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) BETWEEN $11::DATE AND $12::DATE AND CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($13::VARCHAR, partner_associations.valid_from) -
$14::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR CAST(CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <= CAST(timezone($15::VARCHAR,
partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date > $16::DATE GROUP BY
partner_associations.partner_id, partner_associations.type, CAST(date_trunc($1::VARCHAR,
usage_daily_rollups.usage_date) AS DATE), usage_daily_rollups.currency UNION ALL SELECT
partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE) AS month, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date >
CAST(timezone($2::VARCHAR, partner_associations.valid_from) - $3::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR usage_daily_rollups.usage_date < CAST(timezone($4::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $5::DATE AND $6::DATE AND
partner_associations.valid_from < $7::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR
partner_associations.valid_to > $8::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id = $9::UUID AND
partner_associations.partner_id IN ($26::UUID) AND NOT (CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) BETWEEN $11::DATE AND $12::DATE AND CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($13::VARCHAR, partner_associations.valid_from) -
$14::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR CAST(CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <= CAST(timezone($15::VARCHAR,
partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN $17::DATE AND $18::DATE AND
usage_daily_rollups.usage_date >= CAST(date_trunc($19::VARCHAR, (timezone($20::VARCHAR,
partner_associations.valid_from) - $21::INTERVAL) + $22::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($19::VARCHAR, (timezone($20::VARCHAR, partner_associations.valid_from) - $21::INTERVAL) +
$22::INTERVAL) AS DATE) + interval '1 month' AS DATE) GROUP BY partner_associations.partner_id,
partner_associations.type, CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE),
usage_daily_rollups.currency UNION ALL SELECT partner_associations.partner_id AS partner_id,
partner_associations.type AS association_type, CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE)
AS month, usage_daily_rollups.currency, sum(usage_daily_rollups.quantity) AS quantity,
sum(usage_daily_rollups.amount) AS amount, sum(usage_daily_rollups.record_count) AS record_count FROM
usage_daily_rollups JOIN partner_associations ON partner_associations.subscription_id =
usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date > CAST(timezone($2::VARCHAR,
partner_associations.valid_from) - $3::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
usage_daily_rollups.usage_date < CAST(timezone($4::VARCHAR, partner_associations.valid_to) AS DATE)) WHERE
usage_daily_rollups.usage_date BETWEEN $5::DATE AND $6::DATE AND partner_associations.valid_from < $7::TIMESTAMP
WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $8::TIMESTAMP WITH TIME
ZONE) AND partner_associations.partner_id = $9::UUID AND partner_associations.partner_id IN ($26::UUID) AND NOT
(CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) BETWEEN $11::DATE AND $12::DATE AND
CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($13::VARCHAR,
partner_associations.valid_from) - $14::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
CAST(CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <=
CAST(timezone($15::VARCHAR, partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN
$17::DATE AND $18::DATE AND usage_daily_rollups.usage_date >= CAST(date_trunc($23::VARCHAR, timezone($24::VARCHAR,
partner_associations.valid_to) - $25::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($23::VARCHAR, timezone($24::VARCHAR, partner_associations.valid_to) - $25::INTERVAL) AS DATE) +
interval '1 month' AS DATE) AND CAST(date_trunc($23::VARCHAR, timezone($24::VARCHAR, partner_associations.valid_to)
- $25::INTERVAL) AS DATE) > CAST(date_trunc($19::VARCHAR, (timezone($20::VARCHAR, partner_associations.valid_from) -
$21::INTERVAL) + $22::INTERVAL) AS DATE) GROUP BY partner_associations.partner_id, partner_associations.type,
CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE), usage_daily_rollups.currency
"""


def _partner_whole_days(after: bool) -> str:
    """The whole-days statement with the part after the whole months, or without it: the gateway then leaves
    that part out and numbers the later parameters one lower."""
    if after:
        return _PARTNER_WHOLE_DAYS_AFTER
    rest = " UNION ALL ".join(" ".join(_PARTNER_WHOLE_DAYS_AFTER.split()).split(" UNION ALL ")[1:])
    return re.sub(r"\$(\d+)", lambda match: f"${int(match[1]) - (int(match[1]) > 16)}", rest)


PARTNER_WHOLE_DAYS = _partner_whole_days(after=True)
PARTNER_WHOLE_DAYS_TO_MONTH_END = _partner_whole_days(after=False)
# When the window's last month is mostly inside it, that month is read from the monthly rollup too, less its days
# outside the window (a last part with negated sums; captured at 2d5f188, 2026-11-30).
PARTNER_WHOLE_DAYS_LESS_OUTSIDE = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE) AS month, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date >
CAST(timezone($2::VARCHAR, partner_associations.valid_from) - $3::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR usage_daily_rollups.usage_date < CAST(timezone($4::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $5::DATE AND $6::DATE AND
partner_associations.valid_from < $7::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR
partner_associations.valid_to > $8::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id = $9::UUID AND
partner_associations.partner_id IN ($31::UUID) AND NOT (CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) BETWEEN $11::DATE AND $12::DATE AND CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($13::VARCHAR, partner_associations.valid_from) -
$14::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR CAST(CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <= CAST(timezone($15::VARCHAR,
partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN $16::DATE AND $17::DATE AND
usage_daily_rollups.usage_date >= CAST(date_trunc($18::VARCHAR, (timezone($19::VARCHAR,
partner_associations.valid_from) - $20::INTERVAL) + $21::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($18::VARCHAR, (timezone($19::VARCHAR, partner_associations.valid_from) - $20::INTERVAL) +
$21::INTERVAL) AS DATE) + interval '1 month' AS DATE) GROUP BY partner_associations.partner_id,
partner_associations.type, CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE),
usage_daily_rollups.currency UNION ALL SELECT partner_associations.partner_id AS partner_id,
partner_associations.type AS association_type, CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE)
AS month, usage_daily_rollups.currency, sum(usage_daily_rollups.quantity) AS quantity,
sum(usage_daily_rollups.amount) AS amount, sum(usage_daily_rollups.record_count) AS record_count FROM
usage_daily_rollups JOIN partner_associations ON partner_associations.subscription_id =
usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date > CAST(timezone($2::VARCHAR,
partner_associations.valid_from) - $3::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
usage_daily_rollups.usage_date < CAST(timezone($4::VARCHAR, partner_associations.valid_to) AS DATE)) WHERE
usage_daily_rollups.usage_date BETWEEN $5::DATE AND $6::DATE AND partner_associations.valid_from < $7::TIMESTAMP
WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $8::TIMESTAMP WITH TIME
ZONE) AND partner_associations.partner_id = $9::UUID AND partner_associations.partner_id IN ($31::UUID) AND NOT
(CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) BETWEEN $11::DATE AND $12::DATE AND
CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($13::VARCHAR,
partner_associations.valid_from) - $14::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
CAST(CAST(date_trunc($10::VARCHAR, usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <=
CAST(timezone($15::VARCHAR, partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN
$16::DATE AND $17::DATE AND usage_daily_rollups.usage_date >= CAST(date_trunc($22::VARCHAR, timezone($23::VARCHAR,
partner_associations.valid_to) - $24::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($22::VARCHAR, timezone($23::VARCHAR, partner_associations.valid_to) - $24::INTERVAL) AS DATE) +
interval '1 month' AS DATE) AND CAST(date_trunc($22::VARCHAR, timezone($23::VARCHAR, partner_associations.valid_to)
- $24::INTERVAL) AS DATE) > CAST(date_trunc($18::VARCHAR, (timezone($19::VARCHAR, partner_associations.valid_from) -
$20::INTERVAL) + $21::INTERVAL) AS DATE) GROUP BY partner_associations.partner_id, partner_associations.type,
CAST(date_trunc($1::VARCHAR, usage_daily_rollups.usage_date) AS DATE), usage_daily_rollups.currency UNION ALL SELECT
partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
CAST(date_trunc($25::VARCHAR, usage_daily_rollups.usage_date) AS DATE) AS month, usage_daily_rollups.currency,
-sum(usage_daily_rollups.quantity) AS quantity, -sum(usage_daily_rollups.amount) AS amount,
-sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($26::VARCHAR, partner_associations.valid_from) -
$27::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR CAST(CAST(date_trunc($10::VARCHAR,
usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <= CAST(timezone($28::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $29::DATE AND $30::DATE AND
partner_associations.valid_from < $7::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to IS NULL OR
partner_associations.valid_to > $8::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id = $9::UUID AND
partner_associations.partner_id IN ($31::UUID) GROUP BY partner_associations.partner_id, partner_associations.type,
CAST(date_trunc($25::VARCHAR, usage_daily_rollups.usage_date) AS DATE), usage_daily_rollups.currency
"""
# ...and the daily rollups of each association's first day, and of its last day when that is another day, counted
# in seconds here (_add_boundary_days).
PARTNER_BOUNDARY_DAYS = """
SELECT usage_daily_rollups.subscription_id, usage_daily_rollups.usage_date, usage_daily_rollups.service_name,
usage_daily_rollups.currency, usage_daily_rollups.quantity, usage_daily_rollups.amount,
usage_daily_rollups.record_count, partner_associations.partner_id, partner_associations.type,
partner_associations.valid_from, partner_associations.valid_to FROM partner_associations JOIN usage_daily_rollups ON
usage_daily_rollups.subscription_id = partner_associations.subscription_id AND usage_daily_rollups.usage_date =
CAST(timezone($1::VARCHAR, partner_associations.valid_from) AS DATE) WHERE usage_daily_rollups.usage_date BETWEEN
$2::DATE AND $3::DATE AND partner_associations.valid_from < $4::TIMESTAMP WITH TIME ZONE AND
(partner_associations.valid_to IS NULL OR partner_associations.valid_to > $5::TIMESTAMP WITH TIME ZONE) AND
partner_associations.partner_id = $6::UUID AND partner_associations.partner_id IN ($10::UUID) UNION ALL SELECT
usage_daily_rollups.subscription_id, usage_daily_rollups.usage_date, usage_daily_rollups.service_name,
usage_daily_rollups.currency, usage_daily_rollups.quantity, usage_daily_rollups.amount,
usage_daily_rollups.record_count, partner_associations.partner_id, partner_associations.type,
partner_associations.valid_from, partner_associations.valid_to FROM partner_associations JOIN usage_daily_rollups ON
usage_daily_rollups.subscription_id = partner_associations.subscription_id AND usage_daily_rollups.usage_date =
CAST(timezone($7::VARCHAR, partner_associations.valid_to) AS DATE) WHERE usage_daily_rollups.usage_date BETWEEN
$8::DATE AND $9::DATE AND partner_associations.valid_from < $4::TIMESTAMP WITH TIME ZONE AND
(partner_associations.valid_to IS NULL OR partner_associations.valid_to > $5::TIMESTAMP WITH TIME ZONE) AND
partner_associations.partner_id = $6::UUID AND partner_associations.partner_id IN ($10::UUID) AND
CAST(timezone($7::VARCHAR, partner_associations.valid_to) AS DATE) != CAST(timezone($1::VARCHAR,
partner_associations.valid_from) AS DATE)
"""

# (1) Subscription.usage of a page of subscriptions, for the partner (groupBy: [], batched by subscription id).
# Captured from the gateway at 8b359e0 on 2026-11-30. When the window holds a whole month (the current month's
# window does on its last day), that month from the monthly rollups...
SUBSCRIPTIONS_MONTHLY = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_monthly_rollups.subscription_id AS subscription_id, usage_monthly_rollups.currency,
sum(usage_monthly_rollups.quantity) AS quantity, sum(usage_monthly_rollups.amount) AS amount,
sum(usage_monthly_rollups.record_count) AS record_count
FROM usage_monthly_rollups JOIN partner_associations
ON partner_associations.subscription_id = usage_monthly_rollups.subscription_id
AND usage_monthly_rollups.month > CAST(timezone($1::VARCHAR, partner_associations.valid_from) - $2::INTERVAL AS DATE)
AND (partner_associations.valid_to IS NULL OR CAST(usage_monthly_rollups.month + interval '1 month' AS DATE)
<= CAST(timezone($3::VARCHAR, partner_associations.valid_to) AS DATE))
WHERE usage_monthly_rollups.month BETWEEN $4::DATE AND $5::DATE AND usage_monthly_rollups.subscription_id IN
({ids:9:0}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME ZONE
AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE)
AND partner_associations.partner_id = $8::UUID AND partner_associations.subscription_id IN ({ids:9:1})
GROUP BY partner_associations.partner_id, partner_associations.type, usage_monthly_rollups.subscription_id,
usage_monthly_rollups.currency
"""
# ...and the other whole days in two parts: the month of each association's first whole day, and of its last.
_SUBSCRIPTIONS_WHOLE_DAYS_PART = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_daily_rollups.subscription_id AS subscription_id, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count
FROM usage_daily_rollups JOIN partner_associations
ON partner_associations.subscription_id = usage_daily_rollups.subscription_id
AND usage_daily_rollups.usage_date > CAST(timezone($1::VARCHAR, partner_associations.valid_from) - $2::INTERVAL AS DATE)
AND (partner_associations.valid_to IS NULL
OR usage_daily_rollups.usage_date < CAST(timezone($3::VARCHAR, partner_associations.valid_to) AS DATE))
WHERE usage_daily_rollups.usage_date BETWEEN $4::DATE AND $5::DATE AND usage_daily_rollups.subscription_id IN
({ids:24:0}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME ZONE
AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE)
AND partner_associations.partner_id = $8::UUID AND partner_associations.subscription_id IN ({ids:24:1})
AND NOT (CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) BETWEEN $10::DATE AND $11::DATE
AND CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE)
> CAST(timezone($12::VARCHAR, partner_associations.valid_from) - $13::INTERVAL AS DATE)
AND (partner_associations.valid_to IS NULL
OR CAST(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE)
<= CAST(timezone($14::VARCHAR, partner_associations.valid_to) AS DATE)))
AND usage_daily_rollups.usage_date BETWEEN $15::DATE AND $16::DATE AND {part}
GROUP BY partner_associations.partner_id, partner_associations.type, usage_daily_rollups.subscription_id,
usage_daily_rollups.currency
"""
_FIRST_WHOLE_DAY_MONTH = """
usage_daily_rollups.usage_date >= CAST(date_trunc($17::VARCHAR, (timezone($18::VARCHAR, partner_associations.valid_from)
- $19::INTERVAL) + $20::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date < CAST(CAST(date_trunc($17::VARCHAR,
(timezone($18::VARCHAR, partner_associations.valid_from) - $19::INTERVAL) + $20::INTERVAL) AS DATE)
+ interval '1 month' AS DATE)
"""
_LAST_WHOLE_DAY_MONTH = """
usage_daily_rollups.usage_date >= CAST(date_trunc($21::VARCHAR, timezone($22::VARCHAR, partner_associations.valid_to)
- $23::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date < CAST(CAST(date_trunc($21::VARCHAR,
timezone($22::VARCHAR, partner_associations.valid_to) - $23::INTERVAL) AS DATE) + interval '1 month' AS DATE)
AND CAST(date_trunc($21::VARCHAR, timezone($22::VARCHAR, partner_associations.valid_to) - $23::INTERVAL) AS DATE)
> CAST(date_trunc($17::VARCHAR, (timezone($18::VARCHAR, partner_associations.valid_from) - $19::INTERVAL)
+ $20::INTERVAL) AS DATE)
"""
SUBSCRIPTIONS_WHOLE_DAYS_IN_MONTH = (
    _SUBSCRIPTIONS_WHOLE_DAYS_PART.replace("{part}", _FIRST_WHOLE_DAY_MONTH.strip())
    + "UNION ALL"
    + _SUBSCRIPTIONS_WHOLE_DAYS_PART.replace("{part}", _LAST_WHOLE_DAY_MONTH.strip())
)
# A month mostly inside the window (month_span) is read whole from the monthly rollup too, less its days outside
# the window: a third part with negated sums (captured at 2d5f188, 2026-11-30).
SUBSCRIPTIONS_WHOLE_DAYS_LESS_OUTSIDE = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_daily_rollups.subscription_id AS subscription_id, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date >
CAST(timezone($1::VARCHAR, partner_associations.valid_from) - $2::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR usage_daily_rollups.usage_date < CAST(timezone($3::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $4::DATE AND $5::DATE AND
usage_daily_rollups.subscription_id IN ({ids:29:0}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME
ZONE AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE) AND
partner_associations.partner_id = $8::UUID AND partner_associations.subscription_id IN ({ids:29:1}) AND NOT
(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) BETWEEN $10::DATE AND $11::DATE AND
CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($12::VARCHAR,
partner_associations.valid_from) - $13::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
CAST(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <=
CAST(timezone($14::VARCHAR, partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN
$15::DATE AND $16::DATE AND usage_daily_rollups.usage_date >= CAST(date_trunc($17::VARCHAR, (timezone($18::VARCHAR,
partner_associations.valid_from) - $19::INTERVAL) + $20::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($17::VARCHAR, (timezone($18::VARCHAR, partner_associations.valid_from) - $19::INTERVAL) +
$20::INTERVAL) AS DATE) + interval '1 month' AS DATE) GROUP BY partner_associations.partner_id,
partner_associations.type, usage_daily_rollups.subscription_id, usage_daily_rollups.currency UNION ALL SELECT
partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_daily_rollups.subscription_id AS subscription_id, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count FROM usage_daily_rollups JOIN partner_associations ON
partner_associations.subscription_id = usage_daily_rollups.subscription_id AND usage_daily_rollups.usage_date >
CAST(timezone($1::VARCHAR, partner_associations.valid_from) - $2::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR usage_daily_rollups.usage_date < CAST(timezone($3::VARCHAR,
partner_associations.valid_to) AS DATE)) WHERE usage_daily_rollups.usage_date BETWEEN $4::DATE AND $5::DATE AND
usage_daily_rollups.subscription_id IN ({ids:29:0}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME
ZONE AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE) AND
partner_associations.partner_id = $8::UUID AND partner_associations.subscription_id IN ({ids:29:1}) AND NOT
(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) BETWEEN $10::DATE AND $11::DATE AND
CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) > CAST(timezone($12::VARCHAR,
partner_associations.valid_from) - $13::INTERVAL AS DATE) AND (partner_associations.valid_to IS NULL OR
CAST(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) + interval '1 month' AS DATE) <=
CAST(timezone($14::VARCHAR, partner_associations.valid_to) AS DATE))) AND usage_daily_rollups.usage_date BETWEEN
$15::DATE AND $16::DATE AND usage_daily_rollups.usage_date >= CAST(date_trunc($21::VARCHAR, timezone($22::VARCHAR,
partner_associations.valid_to) - $23::INTERVAL) AS DATE) AND usage_daily_rollups.usage_date <
CAST(CAST(date_trunc($21::VARCHAR, timezone($22::VARCHAR, partner_associations.valid_to) - $23::INTERVAL) AS DATE) +
interval '1 month' AS DATE) AND CAST(date_trunc($21::VARCHAR, timezone($22::VARCHAR, partner_associations.valid_to)
- $23::INTERVAL) AS DATE) > CAST(date_trunc($17::VARCHAR, (timezone($18::VARCHAR, partner_associations.valid_from) -
$19::INTERVAL) + $20::INTERVAL) AS DATE) GROUP BY partner_associations.partner_id, partner_associations.type,
usage_daily_rollups.subscription_id, usage_daily_rollups.currency UNION ALL SELECT partner_associations.partner_id
AS partner_id, partner_associations.type AS association_type, usage_daily_rollups.subscription_id AS
subscription_id, usage_daily_rollups.currency, -sum(usage_daily_rollups.quantity) AS quantity,
-sum(usage_daily_rollups.amount) AS amount, -sum(usage_daily_rollups.record_count) AS record_count FROM
usage_daily_rollups JOIN partner_associations ON partner_associations.subscription_id =
usage_daily_rollups.subscription_id AND CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE) >
CAST(timezone($24::VARCHAR, partner_associations.valid_from) - $25::INTERVAL AS DATE) AND
(partner_associations.valid_to IS NULL OR CAST(CAST(date_trunc($9::VARCHAR, usage_daily_rollups.usage_date) AS DATE)
+ interval '1 month' AS DATE) <= CAST(timezone($26::VARCHAR, partner_associations.valid_to) AS DATE)) WHERE
usage_daily_rollups.usage_date BETWEEN $27::DATE AND $28::DATE AND usage_daily_rollups.subscription_id IN
({ids:29:2}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME ZONE AND (partner_associations.valid_to
IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE) AND partner_associations.partner_id =
$8::UUID AND partner_associations.subscription_id IN ({ids:29:1}) GROUP BY partner_associations.partner_id,
partner_associations.type, usage_daily_rollups.subscription_id, usage_daily_rollups.currency
"""
# Without a month span (the month mostly still to come), one statement sums the whole days.
SUBSCRIPTIONS_WHOLE_DAYS = """
SELECT partner_associations.partner_id AS partner_id, partner_associations.type AS association_type,
usage_daily_rollups.subscription_id AS subscription_id, usage_daily_rollups.currency,
sum(usage_daily_rollups.quantity) AS quantity, sum(usage_daily_rollups.amount) AS amount,
sum(usage_daily_rollups.record_count) AS record_count
FROM usage_daily_rollups JOIN partner_associations
ON partner_associations.subscription_id = usage_daily_rollups.subscription_id
AND usage_daily_rollups.usage_date > CAST(timezone($1::VARCHAR, partner_associations.valid_from) - $2::INTERVAL AS DATE)
AND (partner_associations.valid_to IS NULL
OR usage_daily_rollups.usage_date < CAST(timezone($3::VARCHAR, partner_associations.valid_to) AS DATE))
WHERE usage_daily_rollups.usage_date BETWEEN $4::DATE AND $5::DATE AND usage_daily_rollups.subscription_id IN
({ids:9:0}) AND partner_associations.valid_from < $6::TIMESTAMP WITH TIME ZONE
AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $7::TIMESTAMP WITH TIME ZONE)
AND partner_associations.partner_id = $8::UUID AND partner_associations.subscription_id IN ({ids:9:1})
GROUP BY partner_associations.partner_id, partner_associations.type, usage_daily_rollups.subscription_id,
usage_daily_rollups.currency
"""
# Either way, the rollups of each association's first day, and of its last day when that is another day.
SUBSCRIPTIONS_BOUNDARY_DAYS = """
SELECT usage_daily_rollups.subscription_id, usage_daily_rollups.usage_date, usage_daily_rollups.service_name,
usage_daily_rollups.currency, usage_daily_rollups.quantity, usage_daily_rollups.amount,
usage_daily_rollups.record_count, partner_associations.partner_id, partner_associations.type,
partner_associations.valid_from, partner_associations.valid_to
FROM partner_associations JOIN usage_daily_rollups
ON usage_daily_rollups.subscription_id = partner_associations.subscription_id
AND usage_daily_rollups.usage_date = CAST(timezone($1::VARCHAR, partner_associations.valid_from) AS DATE)
WHERE usage_daily_rollups.usage_date BETWEEN $2::DATE AND $3::DATE AND usage_daily_rollups.subscription_id IN
({ids:10:0}) AND partner_associations.valid_from < $4::TIMESTAMP WITH TIME ZONE
AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $5::TIMESTAMP WITH TIME ZONE)
AND partner_associations.partner_id = $6::UUID AND partner_associations.subscription_id IN ({ids:10:1})
UNION ALL
SELECT usage_daily_rollups.subscription_id, usage_daily_rollups.usage_date, usage_daily_rollups.service_name,
usage_daily_rollups.currency, usage_daily_rollups.quantity, usage_daily_rollups.amount,
usage_daily_rollups.record_count, partner_associations.partner_id, partner_associations.type,
partner_associations.valid_from, partner_associations.valid_to
FROM partner_associations JOIN usage_daily_rollups
ON usage_daily_rollups.subscription_id = partner_associations.subscription_id
AND usage_daily_rollups.usage_date = CAST(timezone($7::VARCHAR, partner_associations.valid_to) AS DATE)
WHERE usage_daily_rollups.usage_date BETWEEN $8::DATE AND $9::DATE AND usage_daily_rollups.subscription_id IN
({ids:10:2}) AND partner_associations.valid_from < $4::TIMESTAMP WITH TIME ZONE
AND (partner_associations.valid_to IS NULL OR partner_associations.valid_to > $5::TIMESTAMP WITH TIME ZONE)
AND partner_associations.partner_id = $6::UUID AND partner_associations.subscription_id IN ({ids:10:1})
AND CAST(timezone($7::VARCHAR, partner_associations.valid_to) AS DATE)
!= CAST(timezone($1::VARCHAR, partner_associations.valid_from) AS DATE)
"""

# The aggregate statements, for bench.capture's comparison with the gateway's log.
MIRRORED = {
    "tenant_usage": {"TENANT_MONTHLY": TENANT_MONTHLY, "TENANT_DAILY": TENANT_DAILY},
    "partner_usage": {
        "PARTNER_MONTHLY": PARTNER_MONTHLY,
        "PARTNER_WHOLE_DAYS": PARTNER_WHOLE_DAYS,  # see partner_mirrored
        "PARTNER_BOUNDARY_DAYS": PARTNER_BOUNDARY_DAYS,
    },
}


def tenant_mirrored(first: date, last: date) -> dict[str, str]:
    """Op (2)'s statements for the window [first, last] (a daily part adds or subtracts days, or there is none)."""
    span = month_span(first, last)
    if span is None:
        return {"TENANT_DAILY": TENANT_DAILY}
    daily = {"TENANT_DAILY": TENANT_DAILY} if span.edges else {}
    if span.outside:
        daily = {"TENANT_DAILY_SUBTRACTED": TENANT_DAILY_SUBTRACTED}
    return {"TENANT_MONTHLY": TENANT_MONTHLY, **daily}


def _partner_whole_days_for(span: MonthSpan) -> tuple[str, str]:
    if span.outside:
        return "PARTNER_WHOLE_DAYS_LESS_OUTSIDE", PARTNER_WHOLE_DAYS_LESS_OUTSIDE
    if span.edges:
        return "PARTNER_WHOLE_DAYS", PARTNER_WHOLE_DAYS
    return "PARTNER_WHOLE_DAYS_TO_MONTH_END", PARTNER_WHOLE_DAYS_TO_MONTH_END


def partner_mirrored(first: date, last: date) -> dict[str, str]:
    """Op (5)'s statements for the window [first, last], whose whole-days statement depends on the last month."""
    span = _partner_span(first, last)
    name, whole_days = _partner_whole_days_for(span)
    return {"PARTNER_MONTHLY": PARTNER_MONTHLY, name: whole_days, "PARTNER_BOUNDARY_DAYS": PARTNER_BOUNDARY_DAYS}


def _subscriptions_whole_days_for(span: MonthSpan | None) -> dict[str, str]:
    if span is None:
        return {"SUBSCRIPTIONS_WHOLE_DAYS": SUBSCRIPTIONS_WHOLE_DAYS}
    if span.outside:
        return {"SUBSCRIPTIONS_WHOLE_DAYS_LESS_OUTSIDE": SUBSCRIPTIONS_WHOLE_DAYS_LESS_OUTSIDE}
    return {"SUBSCRIPTIONS_WHOLE_DAYS_IN_MONTH": SUBSCRIPTIONS_WHOLE_DAYS_IN_MONTH}


def subscriptions_mirrored(first: date, last: date) -> dict[str, str]:
    """The statements of op (1)'s nested usage for the window [first, last] (which depend on its shape)."""
    span = _subscriptions_span(first, last)
    monthly = {} if span is None else {"SUBSCRIPTIONS_MONTHLY": SUBSCRIPTIONS_MONTHLY}
    whole_days = _subscriptions_whole_days_for(span)
    return {**monthly, **whole_days, "SUBSCRIPTIONS_BOUNDARY_DAYS": SUBSCRIPTIONS_BOUNDARY_DAYS}


_ID_LIST = re.compile(r"\{ids:(\d+):(\d+)\}")


def expand(template: str, count: int) -> str:
    """A statement with its `{ids:B:K}` lists written out for `count` ids: $(B + K*count) and the next ones."""

    def placeholders(match: re.Match[str]) -> str:
        start = int(match[1]) + int(match[2]) * count
        return ", ".join(f"${number}::UUID" for number in range(start, start + count))

    return _ID_LIST.sub(placeholders, template)


DAY_SECONDS = 86_400
_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
# Digits of the minor unit of the currencies the seed bills in (db/seed/catalog.py), as the gateway's
# resolvers/usage/currencies.py has them (a test holds the two together). Another currency is a KeyError: the
# check step then fails rather than the floor answering something else.
MINOR_UNITS = {"AUD": 2, "CAD": 2, "CHF": 2, "DKK": 2, "EUR": 2, "GBP": 2, "JPY": 0, "NOK": 2, "SEK": 2, "USD": 2}


def _row_id(global_id: str, expected_type: str) -> uuid.UUID | None:
    type_name, _, hex_id = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")
    return uuid.UUID(hex=hex_id) if type_name == expected_type else None


def _add_months(day: date, months: int) -> date:
    """The first day of the month `months` after day's (the floor only moves first days of months)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(month: date) -> date:
    return _add_months(month, 1) - _ONE_DAY


@dataclass(frozen=True)
class MonthSpan:
    """As resolvers/usage/month_span.py: months read from the monthly rollup, their days outside the window
    (subtracted) and the window's days outside them (added), each as (first, last) days."""

    first_month: date
    last_month: date
    outside: tuple[tuple[date, date], ...]
    edges: tuple[tuple[date, date], ...]
    inside: tuple[date, date]


def month_span(first: date, last: date) -> MonthSpan | None:
    """How the gateway reads [first, last]: a month mostly inside the window (more days inside than outside) is
    read from the monthly rollup less its days outside; None when no month is."""
    first_month, last_month = first.replace(day=1), last.replace(day=1)
    outside: list[tuple[date, date]] = []
    edges: list[tuple[date, date]] = []
    if first_month == last_month:
        if (first - first_month).days + (_month_end(last_month) - last).days >= (last - first).days + 1:
            return None
        outside = [(first_month, first - _ONE_DAY), (last + _ONE_DAY, _month_end(last_month))]
    else:
        if (first - first_month).days >= (_month_end(first_month) - first).days + 1:
            edges.append((first, _month_end(first_month)))
            first_month = _add_months(first_month, 1)
        else:
            outside.append((first_month, first - _ONE_DAY))
        if (_month_end(last_month) - last).days >= (last - last_month).days + 1:
            edges.append((last_month, last))
            last_month = _add_months(last_month, -1)
        else:
            outside.append((last + _ONE_DAY, _month_end(last_month)))
        if first_month > last_month:
            return None
    inside = (max(first, first_month), min(last, _month_end(last_month)))
    keep = (
        [(start, end) for start, end in outside if start <= end],
        [(start, end) for start, end in edges if start <= end],
    )
    return MonthSpan(first_month, last_month, tuple(keep[0]), tuple(keep[1]), inside)


def _partner_span(first: date, last: date) -> MonthSpan:
    """Op (5)'s window: from the first of a month, and at least one month read from the monthly rollup."""
    span = month_span(first, last)
    if first.day != 1 or span is None:
        raise ValueError("the partner usage floor mirrors windows from the first of a month holding a whole month")
    return span


def _subscriptions_span(first: date, last: date) -> MonthSpan | None:
    """Op (1)'s window: from the first of a month to a day of the same month."""
    if first.day != 1 or last.replace(day=1) != first:
        raise ValueError("the attributed subscriptions floor mirrors a window from the first of a month to a day of it")
    return month_span(first, last)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def seconds_active(day: date, valid_from: datetime, valid_to: datetime | None) -> int:
    """Seconds of UTC day `day` inside [valid_from, valid_to)."""
    start = max(_day_start(day), valid_from)
    end = _day_start(day + timedelta(days=1))
    if valid_to is not None:
        end = min(end, valid_to)
    return max(0, int((end - start).total_seconds()))


def _add(sums: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...], row: asyncpg.Record) -> None:
    """Add a rollup or SUM row's quantity, amount and record count (negative for subtracted days) to `key`."""
    total = sums.get(key)
    if total is None:
        # Decimal(0) + x, as the gateway starts its sums: the same exponent, so the same rendering.
        sums[key] = [Decimal(0) + row["quantity"], Decimal(0) + row["amount"], int(row["record_count"])]
    else:
        total[0] += row["quantity"]
        total[1] += row["amount"]
        total[2] += int(row["record_count"])


async def tenant_usage(connection: asyncpg.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """`tenant(id:) { usage(from:, to:, groupBy: [MONTH, SERVICE]) { month service currency quantity amount } }`."""
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    tenant_id = _row_id(body["id"], "Tenant")
    caller_tenant = await scope_id(connection, SCOPE_TENANT, uuid.UUID(body["tenantExternalId"]))
    if tenant_id is None or await connection.fetchval(TENANT_NODE, caller_tenant, tenant_id) is None:
        return {"tenant": None}
    sums: dict[tuple[Any, ...], list[Any]] = {}
    span = month_span(first, last)
    daily = [(TENANT_DAILY, (first, last))]
    if span is not None:
        daily = [(TENANT_DAILY, days) for days in span.edges] + [(TENANT_DAILY_SUBTRACTED, d) for d in span.outside]
        if len(daily) > 1:
            raise ValueError("the tenant usage floor mirrors windows read with one daily part at most")
        for row in await connection.fetch(TENANT_MONTHLY, span.first_month, span.last_month, tenant_id, tenant_id):
            _add(sums, (row["month"], row["service"], row["currency"]), row)
    for statement, (start, end) in daily:
        for row in await connection.fetch(statement, "month", start, end, tenant_id, tenant_id):
            _add(sums, (row["month"], row["service"], row["currency"]), row)
    # A group whose days all lay outside the window (a monthly row less those days) has no record left.
    sums = {key: total for key, total in sums.items() if total[2]}
    usage = [
        {"month": month.isoformat(), "service": service, "currency": currency, "quantity": f"{q:f}", "amount": f"{a:f}"}
        for (month, service, currency), (q, a, _) in sorted(sums.items(), key=lambda item: _text_key(item[0]))
    ]
    return {"tenant": {"usage": usage}}


async def partner_usage(connection: asyncpg.Connection, body: dict[str, Any]) -> dict[str, Any]:
    """`node(id:) { ... on Partner { attributedUsage(from:, to:, groupBy: [MONTH]) { month currency quantity
    amount } } }`: rows per month, association type and currency, in the gateway's order."""
    first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    partner_id = _row_id(body["id"], "Partner")
    caller_partner = await scope_id(connection, SCOPE_PARTNER, body["partnerMpnId"])
    if partner_id is None or await connection.fetchval(PARTNER_NODE, caller_partner, partner_id) is None:
        return {"node": None}
    span = _partner_span(first, last)
    window_start, window_end = _day_start(first), _day_start(last + _ONE_DAY)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    monthly = await connection.fetch(
        PARTNER_MONTHLY,
        "UTC", _ONE_SECOND, "UTC", span.first_month, span.last_month, window_end, window_start, partner_id, partner_id,
    )  # fmt: skip
    # The part after the span's months (its leftover days) or the part subtracting its days outside the window.
    after = [span.inside[1]] if span.edges else []
    outside = ["UTC", _ONE_SECOND, "UTC", *span.outside[0]] if span.outside else []
    whole_days = await connection.fetch(
        _partner_whole_days_for(span)[1],
        "month", "UTC", _ONE_SECOND, "UTC", first, last, window_end, window_start, partner_id,
        "month", span.first_month, span.last_month, "UTC", _ONE_SECOND, "UTC", *after, *span.inside,
        "month", "UTC", _ONE_SECOND, _ONE_DAY, "month", "UTC", _ONE_DAY,
        *(["month", *outside] if outside else []), partner_id,
    )  # fmt: skip
    for row in (*monthly, *whole_days):
        _add(sums, (row["month"], row["partner_id"], row["association_type"], row["currency"]), row)
    # A rollup row reached by two intervals of one partner and type on the same day counts once.
    partial: dict[tuple[Any, ...], asyncpg.Record] = {}
    for row in await connection.fetch(
        PARTNER_BOUNDARY_DAYS, "UTC", first, last, window_end, window_start, partner_id, "UTC", first, last, partner_id
    ):
        if 0 < seconds_active(row["usage_date"], row["valid_from"], row["valid_to"]) < DAY_SECONDS:
            key = (row["subscription_id"], row["usage_date"], row["service_name"], row["currency"])
            partial.setdefault((*key, row["partner_id"], row["type"]), row)
    for row in partial.values():
        _add(sums, (row["usage_date"].replace(day=1), row["partner_id"], row["type"], row["currency"]), row)
    sums = {key: total for key, total in sums.items() if total[2]}  # as the gateway: no records, no row
    usage = [
        {"month": month.isoformat(), "currency": currency, "quantity": f"{q:f}", "amount": f"{a:f}"}
        for (month, _, _, currency), (q, a, _) in sorted(sums.items(), key=lambda item: _text_key(item[0]))
    ]
    return {"node": {"attributedUsage": usage}}


def present(units: int, currency: str) -> str:
    """An attributed amount held as micro-units x seconds, exactly, rounded half to even to the currency's minor
    unit and written as the gateway's Decimal scalar writes it."""
    digits = MINOR_UNITS[currency]
    minor = round(Fraction(units * 10**digits, 1_000_000 * DAY_SECONDS))  # round() of a Fraction: half to even
    return format(Decimal(minor).scaleb(-digits), "f")


def _micro(value: Decimal) -> int:
    return int(value.scaleb(6))


async def subscription_usage(
    connection: asyncpg.Connection, partner_id: uuid.UUID, ids: list[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """`usage(from: first, to: last, groupBy: []) { currency attribution { amount } }` of each subscription in
    `ids` for the partner `partner_id`: rows per association type and currency, in the gateway's order."""
    span = _subscriptions_span(first, last)
    ids = sorted(ids)  # as the gateway binds its set of parents
    count = len(ids)
    window_start, window_end = _day_start(first), _day_start(last + _ONE_DAY)
    # (subscription, partner, association type, currency) -> [attributed micro-units x seconds, record count]
    units: dict[tuple[Any, ...], list[int]] = {}
    whole: list[asyncpg.Record] = []
    if span is None:
        whole += await connection.fetch(
            expand(SUBSCRIPTIONS_WHOLE_DAYS, count),
            "UTC", _ONE_SECOND, "UTC", first, last, window_end, window_start, partner_id, *ids, *ids,
        )  # fmt: skip
    else:
        whole += await connection.fetch(
            expand(SUBSCRIPTIONS_MONTHLY, count),
            "UTC", _ONE_SECOND, "UTC", span.first_month, span.last_month, window_end, window_start, partner_id,
            *ids, *ids,
        )  # fmt: skip
        ((_, statement),) = _subscriptions_whole_days_for(span).items()
        outside = ["UTC", _ONE_SECOND, "UTC", *span.outside[0]] if span.outside else []
        whole += await connection.fetch(
            expand(statement, count),
            "UTC", _ONE_SECOND, "UTC", first, last, window_end, window_start, partner_id,
            "month", span.first_month, span.last_month, "UTC", _ONE_SECOND, "UTC", *span.inside,
            "month", "UTC", _ONE_SECOND, _ONE_DAY, "month", "UTC", _ONE_DAY, *outside,
            *ids, *ids, *(ids if outside else []),
        )  # fmt: skip
    for row in whole:
        key = (row["subscription_id"], row["partner_id"], row["association_type"], row["currency"])
        total = units.setdefault(key, [0, 0])
        total[0] += _micro(row["amount"]) * DAY_SECONDS
        total[1] += int(row["record_count"])
    # A rollup row on a day two intervals of one partner and type touch: their seconds add up.
    shares: dict[tuple[Any, ...], list[Any]] = {}
    for row in await connection.fetch(
        expand(SUBSCRIPTIONS_BOUNDARY_DAYS, count),
        "UTC", first, last, window_end, window_start, partner_id, "UTC", first, last, *ids, *ids, *ids,
    ):  # fmt: skip
        seconds = seconds_active(row["usage_date"], row["valid_from"], row["valid_to"])
        if 0 < seconds < DAY_SECONDS:
            rollup = (row["subscription_id"], row["usage_date"], row["service_name"], row["currency"])
            shares.setdefault((*rollup, row["partner_id"], row["type"]), [row, 0])[1] += seconds
    for row, seconds in shares.values():
        total = units.setdefault((row["subscription_id"], row["partner_id"], row["type"], row["currency"]), [0, 0])
        total[0] += _micro(row["amount"]) * seconds
        total[1] += int(row["record_count"])
    usage: dict[uuid.UUID, list[dict[str, Any]]] = {subscription_id: [] for subscription_id in ids}
    for (subscription_id, _, _, currency), (amount, records) in sorted(units.items(), key=lambda i: _text_key(i[0])):
        if records:  # as the gateway: a group left with no record (all its days outside the window) is no row
            usage[subscription_id].append({"currency": currency, "attribution": {"amount": present(amount, currency)}})
    return usage


def _text_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    """The gateway orders rows by the text of their keys (dates in ISO form, ids as UUID text)."""
    return tuple(str(part) for part in key)
