"""Usage aggregates are priced by the rows they can return, and capped (issue 11 item 12).

Before: `usageAggregates(groupBy: [DAY, SUBSCRIPTION, SERVICE, PARTNER])` over 366 days cost 5 points (the
groupBy list's length) and returned 10,915 rows on the demo data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from graphql import GraphQLError, parse

from auth.principal import Role
from db import statement_counter
from db.engine import Database
from gateway.wiring import extension_config
from resolvers.usage.ingestion import ingest_usage
from schema.extensions.cost import estimate
from schema.extensions.usage_rows import UsageBounds
from schema.root import build_schema
from tests.api import api_for, error_codes, principal
from tests.hardening_support import settings_for
from tests.usage_helpers import build_world, record

SCHEMA = build_schema(extension_config(settings_for()))._schema
BOUNDS = UsageBounds(group_size=20, max_rows=10_000)
ADMIN = principal(Role.PLATFORM_ADMIN)

THE_ISSUE = (
    '{ usageAggregates(filter: {from: "2024-01-01", to: "2024-12-31"}, groupBy: [DAY, SUBSCRIPTION, SERVICE, PARTNER])'
    " { day service amount currency subscription { id } partner { id } } }"
)


def cost(query: str, variables: dict[str, Any] | None = None, bounds: UsageBounds = BOUNDS) -> int | None:
    return estimate(SCHEMA, parse(query), None, variables, max_page_size=100, usage=bounds)


def _aggregates(window: str, group_by: str, extra: str = "") -> str:
    return f"{{ usageAggregates(filter: {{{window}{extra}}}, groupBy: [{group_by}]) {{ amount }} }}"


YEAR_2025 = 'from: "2025-01-01", to: "2025-12-31"'
JANUARY = 'from: "2025-01-01", to: "2025-01-31"'


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # No grouping: one row (per currency).
        (_aggregates(YEAR_2025, ""), 1 + 1),
        (_aggregates(YEAR_2025, "MONTH"), 1 + 12),
        (_aggregates(JANUARY, "DAY"), 1 + 31),
        # An unpinned key counts usage_group_size groups; a pinned one counts one.
        (_aggregates(YEAR_2025, "MONTH, SUBSCRIPTION"), 1 + 12 * 20),
        (_aggregates(YEAR_2025, "MONTH, SUBSCRIPTION", ', subscriptionId: "U3Vic2NyaXB0aW9uOng="'), 1 + 12),
        (_aggregates(YEAR_2025, "MONTH, TENANT", ', subscriptionId: "U3Vic2NyaXB0aW9uOng="'), 1 + 12),
        (_aggregates(JANUARY, "DAY, SERVICE", ', service: "Compute"'), 1 + 31),
        (_aggregates(YEAR_2025, "MONTH, SERVICE", ', tenantId: "VGVuYW50Ong="'), 1 + 12 * 20),
        # Partner-scoped rows are split by association type (4) unless one is asked for.
        (_aggregates(YEAR_2025, "MONTH, PARTNER"), 1 + 12 * 20 * 4),
        (_aggregates(YEAR_2025, "MONTH, PARTNER", ", associationType: TRANSACTING_PARTNER"), 1 + 12 * 20),
        # Nested usage multiplies by its parents' page and pins the parent's key.
        (
            '{ subscriptions(first: 10) { edges { node { usage(from: "2025-01-01", to: "2025-12-31",'
            " groupBy: [MONTH, SUBSCRIPTION, SERVICE]) { amount } } } } }",
            1 + 10 + 10 * 12 * 20,
        ),
        (
            '{ tenants(first: 5) { edges { node { usage(from: "2025-01-01", to: "2025-01-31",'
            " groupBy: [DAY, SUBSCRIPTION]) { amount subscription { id } } } } } }",
            1 + 5 + 5 * 31 * 20,
        ),
        (
            '{ partners(first: 2) { edges { node { attributedUsage(from: "2025-01-01", to: "2025-12-31",'
            " groupBy: [MONTH]) { amount } } } } }",
            1 + 2 + 2 * 12 * 4,
        ),
        (
            '{ partners(first: 2) { edges { node { attributedUsage(from: "2025-01-01", to: "2025-12-31",'
            " groupBy: [MONTH], associationType: TRANSACTING_PARTNER) { amount } } } } }",
            1 + 2 + 2 * 12,
        ),
        # The window from variables.
        (
            "query($f: UsageAggregatesFilter!) { usageAggregates(filter: $f, groupBy: [DAY]) { amount } }",
            1 + 90,
        ),
    ],
)
def test_usage_aggregates_cost_the_rows_they_can_return(query: str, expected: int) -> None:
    variables = {"f": {"from": "2025-01-01", "to": "2025-03-31"}} if "$f" in query else None
    assert cost(query, variables) == expected


def test_the_issue_example_is_refused_before_any_sql() -> None:
    with pytest.raises(GraphQLError) as refused:
        cost(THE_ISSUE)
    assert refused.value.extensions is not None
    assert refused.value.extensions["code"] == "TOO_MANY_USAGE_ROWS"
    # 366 days x 20 subscriptions x 20 services x 20 partners x 4 association types.
    assert refused.value.extensions["limit"] == {"name": "maxUsageRows", "value": 10_000, "actual": 11_712_000}


def test_the_cap_counts_every_usage_field_of_the_operation() -> None:
    field = f"usageAggregates(filter: {{{JANUARY}}}, groupBy: [DAY, SUBSCRIPTION]) {{ amount }}"  # 620 rows
    assert cost(f"{{ {field} }}", bounds=UsageBounds(group_size=20, max_rows=620)) == 1 + 620
    with pytest.raises(GraphQLError):
        cost(f"{{ a: {field} b: {field} }}", bounds=UsageBounds(group_size=20, max_rows=1_000))


async def test_over_http_the_example_is_refused_and_runs_no_sql(database: Database) -> None:
    async with api_for(database) as api:
        with statement_counter.counting() as count:
            body = await api.execute(THE_ISSUE, as_=ADMIN)
    assert error_codes(body) == ["TOO_MANY_USAGE_ROWS"]
    assert body["data"] is None
    assert count.statements == 0


async def test_more_rows_than_the_estimate_assumed_are_refused_too(database: Database) -> None:
    # usage_group_size=1 lets [SUBSCRIPTION] through the estimate (1 row); three subscriptions make three rows.
    world = await build_world(database, tenants=1, subscriptions=3, partners=0)
    async with database.write() as session:
        await ingest_usage(session, [record(sub, date(2025, 1, 1)) for sub in world.subscriptions])
    query = _aggregates(JANUARY, "SUBSCRIPTION").replace("{ amount }", "{ amount subscription { id } }")
    async with api_for(database, usage_group_size=1, max_usage_rows=2) as api:
        refused = await api.execute(query, as_=ADMIN)
    assert error_codes(refused) == ["TOO_MANY_USAGE_ROWS"], refused
    assert refused["errors"][0]["extensions"]["limit"] == {"name": "maxUsageRows", "value": 2, "actual": 3}
    async with api_for(database, usage_group_size=1, max_usage_rows=3) as api:
        answered = await api.execute(query, as_=ADMIN)
    assert len(answered["data"]["usageAggregates"]) == 3, answered
