"""The scalar edge values of tests/scalar_edges.py through the API: BAD_USER_INPUT naming the field, or a correct
answer where the value is legal; never INTERNAL. And the one grammar of dates and decimals (resolvers/grammar.py)
is the API's: what `dpor-gateway ingest` refuses, ingestUsage refuses too."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from auth.principal import Role
from db.engine import Database
from resolvers import grammar
from schema import global_id
from tests import factories, scalar_edges
from tests.api import Api, error_codes, principal

ADMIN = principal(Role.PLATFORM_ADMIN)
INGESTER = principal(Role.USAGE_INGEST, subject="meter-pipeline")
INGEST = "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { inserted replaced } }"
AUDIT = "query($f: DateTime) { auditEvents(first: 5, filter: {from: $f}) { totalCount } }"
AGGREGATES = (
    "query($from: Date!, $to: Date!, $g: [UsageGroupBy!]!) {"
    " usageAggregates(filter: {from: $from, to: $to}, groupBy: $g) { amount recordCount } }"
)
ATTRIBUTED = (
    "query($p: ID!, $from: Date!, $to: Date!) { partner(id: $p) {"
    " attributedUsage(from: $from, to: $to, groupBy: [MONTH]) { amount } } }"
)


def _record(subscription_id: str = "sub-1", **changes: str) -> dict[str, str]:
    return {
        "subscriptionId": subscription_id,
        "usageDate": "2026-03-01",
        "service": "Compute",
        "meterId": "m1",
        "meterName": "VM",
        "quantity": "1",
        "unit": "Hours",
        "amount": "1.00",
        "currency": "USD",
    } | changes


@pytest.mark.parametrize("given", scalar_edges.DATETIMES_OUTSIDE_UTC_RANGE)
async def test_an_instant_outside_years_1_to_9999_in_utc_is_bad_input(api: Api, given: str) -> None:
    body = await api.execute(AUDIT, {"f": given}, as_=ADMIN)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "$f" in body["errors"][0]["message"] and "years 1 to 9999" in body["errors"][0]["message"]


@pytest.mark.parametrize("given", scalar_edges.DATETIMES_AT_UTC_RANGE_ENDS)
async def test_an_instant_at_the_ends_of_the_range_is_answered(api: Api, given: str) -> None:
    body = await api.execute(AUDIT, {"f": given}, as_=ADMIN)
    assert "errors" not in body, body
    assert body["data"]["auditEvents"]["totalCount"] == 0


def _instant_documents(partner_id: str, subscription_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every input that takes a DateTime, as a variable and as a literal."""
    return [
        ("query($t: DateTime) { auditEvents(first: 5, filter: {from: $t, to: $t}) { totalCount } }", {}),
        (
            "query($p: ID!, $t: DateTime) { partner(id: $p) { attributedSubscriptions(first: 5,"
            " filter: {activeAt: $t, from: $t}) { totalCount } } }",
            {"p": partner_id},
        ),
        (
            "query($p: ID!, $t: DateTime) { partner(id: $p) { attributedSubscriptions(first: 5,"
            " filter: {to: $t}) { totalCount } } }",
            {"p": partner_id},
        ),
        (
            "query($s: ID!, $t: DateTime) { subscription(id: $s) { partnerAssociations(activeAt: $t) { id } } }",
            {"s": subscription_id},
        ),
    ]


@pytest.mark.parametrize("given", scalar_edges.DATETIMES_OUTSIDE_UTC_RANGE + scalar_edges.DATETIMES_AT_UTC_RANGE_ENDS)
async def test_every_datetime_input_takes_the_edges_without_internal(api: Api, database: Database, given: str) -> None:
    owner, partner = factories.tenant(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, owner, partner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
    legal = given in scalar_edges.DATETIMES_AT_UTC_RANGE_ENDS
    ids = global_id.encode("Partner", partner.id), global_id.encode("Subscription", sub.id)
    for document, variables in _instant_documents(*ids):
        body = await api.execute(document, variables | {"t": given}, as_=ADMIN)
        assert error_codes(body) == ([] if legal else ["BAD_USER_INPUT"]), (document, body)
        # The same value written in the document: refused before execution, never INTERNAL.
        literal = document.replace(", $t: DateTime", "").replace("($t: DateTime)", "").replace("$t", f'"{given}"')
        body = await api.execute(literal, variables, as_=ADMIN)
        assert "INTERNAL" not in error_codes(body) and (legal == ("errors" not in body)), (literal, body)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        *((day, day) for day in scalar_edges.DATES_AT_RANGE_ENDS),
        ("0001-01-01", "0001-12-31"),
        ("9999-01-01", "9999-12-31"),  # 36 months after 9999-01-01 lies past year 9999
        ("9998-12-15", "9999-01-15"),
        ("1999-12-15", "2000-01-31"),
    ],
)
@pytest.mark.parametrize("group_by", [[], ["DAY"], ["MONTH"]])
async def test_aggregate_windows_in_years_1_and_9999_are_answered(
    api: Api, database: Database, first: str, last: str, group_by: list[str]
) -> None:
    partner = factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, partner)
    body = await api.execute(AGGREGATES, {"from": first, "to": last, "g": group_by}, as_=ADMIN)
    assert "errors" not in body, body
    assert body["data"]["usageAggregates"] == []
    # The partner path works with instants around the window (the day after `to`): the same answer.
    variables = {"p": global_id.encode("Partner", partner.id), "from": first, "to": last}
    body = await api.execute(ATTRIBUTED, variables, as_=ADMIN)
    assert "errors" not in body, body
    assert body["data"]["partner"]["attributedUsage"] == []


async def test_a_window_longer_than_36_months_near_year_9999_is_bad_input(api: Api) -> None:
    body = await api.execute(AGGREGATES, {"from": "9996-06-01", "to": "9999-12-31", "g": []}, as_=ADMIN)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "filter.to"


@pytest.mark.parametrize("given", scalar_edges.DATES_NOT_IN_GRAMMAR)
async def test_usage_dates_outside_the_grammar_are_refused_by_the_api(api: Api, given: str) -> None:
    assert grammar.parse_date(given) is None  # the file import's verdict (validation.py reads dates with it)
    body = await api.execute(INGEST, {"i": {"records": [_record(usageDate=given)]}}, as_=INGESTER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "records[0].usageDate" in body["errors"][0]["message"]


@pytest.mark.parametrize("given", scalar_edges.DECIMALS_NOT_IN_GRAMMAR + scalar_edges.DECIMALS_NOT_FINITE)
@pytest.mark.parametrize("field", ["quantity", "amount"])
async def test_decimals_outside_the_grammar_are_refused_by_the_api(api: Api, given: str, field: str) -> None:
    assert grammar.parse_decimal(given) is None or not grammar.parse_decimal(given).is_finite()  # type: ignore[union-attr]
    body = await api.execute(INGEST, {"i": {"records": [_record(**{field: given})]}}, as_=INGESTER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert f"records[0].{field}" in body["errors"][0]["message"]


@pytest.mark.parametrize("given", scalar_edges.DECIMALS_HUGE_EXPONENTS)
@pytest.mark.parametrize("field", ["quantity", "amount"])
async def test_huge_exponents_are_bad_input_naming_the_field(
    api: Api, database: Database, given: str, field: str
) -> None:
    # 1E+999999999 raised decimal.Overflow in the bound check (abs() rounds to the context): INTERNAL.
    owner = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, owner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
    body = await api.execute(INGEST, {"i": {"records": [_record(sub.external_id, **{field: given})]}}, as_=INGESTER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    fields = {problem["field"] for problem in body["errors"][0]["extensions"].get("problems", [])}
    assert fields == {field} or f"records[0].{field}" in body["errors"][0]["message"]


@pytest.mark.parametrize(("given", "stored"), sorted(scalar_edges.DECIMALS_IN_GRAMMAR.items()))
async def test_decimals_in_the_grammar_are_accepted_by_the_api(
    api: Api, database: Database, given: str, stored: str
) -> None:
    owner = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, owner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
    body = await api.execute(INGEST, {"i": {"records": [_record(sub.external_id, amount=given)]}}, as_=INGESTER)
    assert body.get("errors") is None, body
    totals = await api.data(
        '{ usageAggregates(filter: {from: "2026-03-01", to: "2026-03-01"}, groupBy: []) { amount } }', as_=ADMIN
    )
    assert totals["usageAggregates"] == [{"amount": stored}]


def _problems(body: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(p["index"], p["field"], p["code"]) for p in body["errors"][0]["extensions"]["problems"]]


async def test_date_scalar_output_is_unchanged(api: Api, database: Database) -> None:
    owner = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, owner)
        sub = factories.subscription(owner)
        await factories.add_flushed(session, sub)
    body = await api.data(
        "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { freshness { usageDataAsOf } } }",
        {"i": {"records": [_record(sub.external_id)]}},
        as_=INGESTER,
    )
    assert body["ingestUsage"]["freshness"] == [{"usageDataAsOf": date(2026, 3, 1).isoformat()}]
