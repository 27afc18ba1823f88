"""The nested usage fields through their DataLoaders answer exactly what the root `usageAggregates` answers for
each parent alone, batch windows separately, and keep a bad window an error of its own field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType
from resolvers.usage.ingestion import ingest_usage
from schema import global_id
from tests import factories
from tests.api import Api, api_for, error_codes, principal
from tests.usage_helpers import record

ADMIN = principal(Role.PLATFORM_ADMIN)
ROW = "month day service associationType currency quantity amount recordCount attribution { amount amountExact"
ROW += " quantity partialDays { subscriptionId day seconds quantity amount } } subscription { id } tenant { id }"
ROW += " partner { id }"
# (from, to, groupBy) of the windows asked side by side: each distinct one is its own batch.
WINDOWS = [
    ("2026-03-01", "2026-03-31", "[]"),
    ("2026-02-20", "2026-04-10", "[MONTH, SERVICE]"),
    ("2026-03-08", "2026-03-16", "[DAY, SUBSCRIPTION]"),
]


def _aliases(field: str, extra: str = "") -> str:
    return " ".join(
        f"w{n}: {field}(from: {start!r}, to: {end!r}, groupBy: {groups}{extra}) {{ {ROW} }}".replace("'", '"')
        for n, (start, end, groups) in enumerate(WINDOWS)
    )


async def _world(database: Database) -> dict[str, Any]:
    """Three tenants of two subscriptions; DPORs replaced mid-day on different days, a transacting partner on
    some; daily usage of two services and two currencies from mid-February to April."""
    tenants = [factories.tenant() for _ in range(3)]
    partners = [factories.partner() for _ in range(3)]
    async with database.write() as session:
        await factories.add_flushed(session, *tenants, *partners)
        subs = [factories.subscription(tenant) for tenant in tenants for _ in range(2)]
        await factories.add_flushed(session, *subs)
        for index, sub in enumerate(subs):
            replaced = datetime(2026, 3, 5 + index, 6 * (index % 4), tzinfo=UTC)
            old, new = partners[index % 3], partners[(index + 1) % 3]
            session.add(
                factories.association(
                    sub,
                    old,
                    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                    valid_to=replaced,
                    ended_by="owner",
                    end_reason=AssociationEndReason.REPLACED,
                )
            )
            session.add(factories.association(sub, new, valid_from=replaced))
            if index % 2:
                session.add(
                    factories.association(
                        sub,
                        partners[2],
                        type=AssociationType.TRANSACTING_PARTNER,
                        valid_from=datetime(2026, 3, 12, 18, tzinfo=UTC),
                    )
                )
        days = [date(2026, 2, 15) + timedelta(days=offset) for offset in range(70)]
        records = [
            record(
                sub,
                day,
                meter=f"m{day.day % 2}",
                service="Storage" if day.day % 2 else "Compute",
                amount=f"{index + 1}.{day.day:02d}",
                currency="JPY" if index == 4 else "USD",
            )
            for index, sub in enumerate(subs)
            for day in days
        ]
        await ingest_usage(session, records)
    return {"tenants": tenants, "partners": partners, "subs": subs}


async def _own(api: Api, filter_field: str, type_name: str, row_id: Any, extra: str = "") -> dict[str, Any]:
    """Each window through the root usageAggregates, for this one parent."""
    parent = global_id.encode(type_name, row_id)
    fields = " ".join(
        f'w{n}: usageAggregates(filter: {{from: "{start}", to: "{end}", {filter_field}: "{parent}"{extra}}},'
        f" groupBy: {groups}) {{ {ROW} }}"
        for n, (start, end, groups) in enumerate(WINDOWS)
    )
    return await api.data(f"{{ {fields} }}", as_=ADMIN)


async def test_nested_usage_equals_each_parents_own_aggregates(database: Database) -> None:
    await _world(database)
    # Every parent kind and window at once: more usage rows than the default cap's estimate allows.
    async with api_for(database, max_usage_rows=100_000) as api:
        await _check_nested_usage(api)


async def _check_nested_usage(api: Api) -> None:
    data = await api.data(
        f"""{{ tenants(first: 10) {{ edges {{ node {{ id {_aliases("usage")}
              subscriptions(first: 10) {{ edges {{ node {{ id {_aliases("usage")} }} }} }} }} }} }}
            partners(first: 10) {{ edges {{ node {{ id {_aliases("attributedUsage")}
              dpor: attributedUsage(from: "2026-03-01", to: "2026-03-31", groupBy: [DAY],
                associationType: DIGITAL_PARTNER_OF_RECORD) {{ {ROW} }} }} }} }} }}""",
        as_=ADMIN,
    )
    tenants = [edge["node"] for edge in data["tenants"]["edges"]]
    assert len(tenants) == 3
    for tenant in tenants:
        own = await _own(api, "tenantId", "Tenant", global_id.decode(tenant["id"], "Tenant"))
        assert {key: tenant[key] for key in own} == own
        for edge in tenant["subscriptions"]["edges"]:
            sub = edge["node"]
            own = await _own(api, "subscriptionId", "Subscription", global_id.decode(sub["id"], "Subscription"))
            assert {key: sub[key] for key in own} == own
            assert sub["w0"], sub  # every subscription has March usage: a split that lost rows would show
    partners = [edge["node"] for edge in data["partners"]["edges"]]
    assert len(partners) == 3
    for partner in partners:
        partner_id = global_id.decode(partner["id"], "Partner")
        own = await _own(api, "partnerId", "Partner", partner_id)
        assert {key: partner[key] for key in own} == own
        assert any(row["attribution"]["partialDays"] for row in partner["w0"]), partner  # partial days split too
        dpor = await api.data(
            f'{{ usageAggregates(filter: {{from: "2026-03-01", to: "2026-03-31", partnerId: "{partner["id"]}",'
            f" associationType: DIGITAL_PARTNER_OF_RECORD}}, groupBy: [DAY]) {{ {ROW} }} }}",
            as_=ADMIN,
        )
        assert partner["dpor"] == dpor["usageAggregates"]


async def test_a_partner_sees_only_its_own_attributed_usage_under_its_subscriptions(
    api: Api, database: Database
) -> None:
    world = await _world(database)
    partner = world["partners"][2]
    who = principal(Role.PARTNER, partner=partner.mpn_id)
    data = await api.data(
        f"{{ attributedSubscriptions(first: 10) {{ edges {{ node {{ id {_aliases('usage')} }} }} }} }}", as_=who
    )
    nodes = [edge["node"] for edge in data["attributedSubscriptions"]["edges"]]
    assert nodes
    for node in nodes:
        parent = node["id"]
        own = await api.data(
            " ".join(
                f'w{n}: usageAggregates(filter: {{from: "{start}", to: "{end}", subscriptionId: "{parent}"}},'
                f" groupBy: {groups}) {{ {ROW} }}"
                for n, (start, end, groups) in enumerate(WINDOWS)
            ).join("{}"),
            as_=who,
        )
        assert {key: node[key] for key in own} == own
        assert all(row["attribution"] for rows in own.values() for row in rows)


@pytest.mark.parametrize(
    ("start", "end", "groups", "field"),
    [
        ("2026-03-01", "2026-02-28", "[]", "filter.to"),
        ("2026-01-01", "2029-01-01", "[MONTH]", "filter.to"),
        ("2026-01-01", "2027-01-02", "[DAY]", "groupBy"),
    ],
)
async def test_a_bad_window_fails_its_own_field_only(
    api: Api, database: Database, start: str, end: str, groups: str, field: str
) -> None:
    world = await _world(database)
    root = await api.execute(
        f'{{ usageAggregates(filter: {{from: "{start}", to: "{end}"}}, groupBy: {groups}) {{ amount }} }}', as_=ADMIN
    )
    [expected] = root["errors"]
    body = await api.execute(
        f"""{{ tenants(first: 10) {{ edges {{ node {{
              ok: usage(from: "2026-03-01", to: "2026-03-31", groupBy: []) {{ amount }}
              bad: usage(from: "{start}", to: "{end}", groupBy: {groups}) {{ amount }} }} }} }} }}""",
        as_=ADMIN,
    )
    assert error_codes(body) == ["BAD_USER_INPUT"] * len(world["tenants"])
    for error in body["errors"]:
        assert error["message"] == expected["message"]
        assert error["extensions"]["field"] == field == expected["extensions"]["field"]
        assert error["path"][-1] == "bad"
    nodes = [edge["node"] for edge in body["data"]["tenants"]["edges"]]
    assert all(node["ok"] and node["bad"] is None for node in nodes), nodes
