"""Partner-scoped usage in SQL: the attributed sums resolvers/usage/sums.py adds up in Python, and the attribution
schema/usage.py presents, computed by PostgreSQL from the interpreter's own statements (usage.py wraps them).

The rules are sums.py's, exactly, in integers: a row of the whole-day statements (attributed_monthly,
attributed_days) counts whole, micro-units x 86,400 seconds; a rollup row of statements.boundary_days counts for
the seconds of its day its association was in effect (attribution.seconds_active: whole seconds, microseconds
dropped), once per (rollup row, partner, type) with the seconds of two intervals touching that day added, and only
when they are neither 0 nor the whole day (those days are counted whole or not at all). Each such day is a partial
day of its row, with its seconds and that day's quantity and amount within the row.

Presentation (UsageAttribution), as Fraction and Decimal do it: `amount` half-even to the currency's minor unit
(currencies.present), `amountExact` the reduced fraction (Fraction's text: the sign on the numerator, no
denominator when whole), `quantity` half-even to 6 places ("-0.000000" for a negative amount that rounds to zero,
as Decimal keeps the sign). The interpreter divides the quantity in 28-digit Decimal arithmetic before rounding it;
below 10**10 that first rounding cannot move a half (the fraction's denominator divides 86,400 x 10**6), so a
larger attributed quantity, like a currency without a known minor unit, is left to it (`too_large`: MISSING).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graphql import FieldNode
from sqlalchemy import CTE, ColumnElement, Numeric, and_, case, cast, extract, func, literal_column, null, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import Date, DateTime, Integer, Text, Uuid

from resolvers.compiled import sql_text
from resolvers.compiled.errors import NotCompilable
from resolvers.compiled.usage_rows import ZERO, keys, too_large, union
from resolvers.usage.aggregate_types import GroupBy
from resolvers.usage.attribution import DAY_SECONDS
from resolvers.usage.currencies import MINOR_UNITS
from resolvers.usage.statements import Statement
from resolvers.usage.sums import UNITS_PER_WHOLE

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder


def _number(value: int) -> ColumnElement[Any]:
    """A number written into the statement (a bound one would need a value at every execution)."""
    return literal_column(str(value), Numeric())


_WHOLE = _number(UNITS_PER_WHOLE)
_DAY = _number(DAY_SECONDS)
_ONE, _TWO = _number(1), _number(2)
_EXACT_QUANTITY_BELOW = _number(10**10 * UNITS_PER_WHOLE)
_PLACES = {digits: sorted(code for code, places in MINOR_UNITS.items() if places == digits) for digits in (0, 2, 3, 4)}
assert sum(len(codes) for codes in _PLACES.values()) == len(MINOR_UNITS), "a minor unit the compiler does not know"


def attributed_sums(
    builder: Builder,
    sums: Sequence[Statement],
    boundary: Statement,
    groups: frozenset[GroupBy],
    spans: Sequence[CTE],
) -> Any:
    """The rows of a partner-scoped read, one per key: sums, attributed units (micro-units x seconds), the partial
    days as a JSON array of {s, d, n, q, a} in (subscription, day) order, and `too_large`. `spans`: the associations
    the statements read (statements.association_spans), declared here, inside the parent row's subquery, so they
    may name the parent row and are read once for all of the statements."""
    whole = union(builder, sums)
    typed_null = [cast(null(), type_) for type_ in (Uuid(), Date(), Integer())]
    whole_rows = select(
        *keys(whole),
        whole.c.quantity,
        whole.c.amount,
        whole.c.record_count,
        (whole.c.quantity * _WHOLE).label("quantity_units"),
        (whole.c.amount * _WHOLE).label("amount_units"),
        *(value.label(label) for value, label in zip(typed_null, ("p_sub", "p_day", "p_seconds"), strict=True)),
    )
    shares = _shares(builder, boundary, groups)
    key = _share_key(shares, groups)
    seconds = shares.c.seconds
    partial_rows = select(
        *key,
        func.sum(shares.c.quantity).label("quantity"),
        func.sum(shares.c.amount).label("amount"),
        func.sum(shares.c.record_count).label("record_count"),
        func.sum(shares.c.quantity * seconds * _number(10**6)).label("quantity_units"),
        func.sum(shares.c.amount * seconds * _number(10**6)).label("amount_units"),
        shares.c.subscription_id.label("p_sub"),
        shares.c.usage_date.label("p_day"),
        func.min(seconds).label("p_seconds"),  # the same for every share of one day of one key
    ).group_by(*key, shares.c.subscription_id, shares.c.usage_date)
    rows = whole_rows.union_all(partial_rows).add_cte(*spans, nest_here=True).subquery(f"a{next(builder.names)}")
    record_count = func.sum(rows.c.record_count)
    quantity_units = func.trunc(func.sum(rows.c.quantity_units))
    known = rows.c.currency.in_([sql_text.const(code) for code in sorted(MINOR_UNITS)])
    day = {
        "s": rows.c.p_sub,
        "d": func.to_char(rows.c.p_day, sql_text.const("YYYY-MM-DD")),
        "n": rows.c.p_seconds,
        "q": cast(rows.c.quantity, Text),
        "a": cast(rows.c.amount, Text),
    }
    days = func.json_agg(
        aggregate_order_by(
            func.json_build_object(*(part for name, value in day.items() for part in (sql_text.const(name), value))),
            rows.c.p_sub,
            rows.c.p_day,
        )
    ).filter(rows.c.p_sub.is_not(None))
    return (
        select(
            *keys(rows),
            func.sum(rows.c.quantity).label("quantity"),
            func.sum(rows.c.amount).label("amount"),
            record_count.label("record_count"),
            quantity_units.label("quantity_units"),
            func.trunc(func.sum(rows.c.amount_units)).label("amount_units"),
            days.label("partial_days"),
            or_(too_large(rows), func.abs(quantity_units) >= _EXACT_QUANTITY_BELOW, ~func.bool_and(known)).label(
                "too_large"
            ),
        )
        .group_by(*keys(rows))
        .having(record_count != ZERO)
        .subquery(f"g{next(builder.names)}")
    )


def _shares(builder: Builder, boundary: Statement, groups: frozenset[GroupBy]) -> Any:
    """statements.boundary_days' rows held in part, with their seconds (sums.add_boundary_days)."""
    days = boundary.subquery(f"b{next(builder.names)}")
    utc = sql_text.const("UTC")
    midnight = func.timezone(utc, cast(days.c.usage_date, DateTime()))
    next_midnight = func.timezone(utc, cast(days.c.usage_date + literal_column("1", Integer()), DateTime()))
    # least() skips NULL: an open interval runs to the day's end.
    held = func.least(next_midnight, days.c.valid_to) - func.greatest(midnight, days.c.valid_from)
    seconds = func.greatest(_number(0), func.floor(extract("epoch", held)))
    rollup = [
        days.c.subscription_id,
        days.c.usage_date,
        days.c.service_name,
        days.c.currency,
        days.c.partner_id,
        days.c.type,
        *([days.c.tenant_id] if GroupBy.TENANT in groups else []),
        *([days.c.recognition_role] if GroupBy.RECOGNITION_ROLE in groups else []),
        days.c.quantity,
        days.c.amount,
        days.c.record_count,
    ]
    return (
        select(*rollup, cast(func.sum(seconds), Integer()).label("seconds"))
        .where(seconds > _number(0), seconds < _DAY)
        .group_by(*rollup)
        .subquery(f"h{next(builder.names)}")
    )


def _share_key(shares: Any, groups: frozenset[GroupBy]) -> list[Any]:
    """A share's aggregate key (sums._key), labelled and ordered as the whole-day statements' keys."""
    day = shares.c.usage_date
    month = cast(func.date_trunc(sql_text.const("month"), day), Date())
    found = {
        "month": month if GroupBy.MONTH in groups else None,
        "day": day if GroupBy.DAY in groups else None,
        "service": shares.c.service_name if GroupBy.SERVICE in groups else None,
        "subscription_id": shares.c.subscription_id if GroupBy.SUBSCRIPTION in groups else None,
        "tenant_id": shares.c.tenant_id if GroupBy.TENANT in groups else None,
        "partner_id": shares.c.partner_id,
        "association_type": shares.c.type,
        "recognition_role": shares.c.recognition_role if GroupBy.RECOGNITION_ROLE in groups else None,
        "currency": shares.c.currency,
    }
    return [value.label(label) for label, value in found.items() if value is not None]


def attribution_json(builder: Builder, rows: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    pairs: list[ColumnElement[Any]] = []
    for key, field_nodes in builder.selections.under("UsageAttribution", nodes).items():
        name = field_nodes[0].name.value
        if name == "amount":
            value = _presented(rows.c.amount_units, rows.c.currency)
        elif name == "amountExact":
            value = _fraction_text(rows.c.amount_units)
        elif name == "quantity":
            rounded = _half_even(rows.c.quantity_units, 6)
            negative_zero = and_(rows.c.quantity_units < _number(0), rounded == _number(0))
            value = case((negative_zero, sql_text.const("-0.000000")), else_=cast(rounded * _scale(6), Text))
        elif name == "partialDays":
            value = _partial_days(builder, rows, field_nodes)
        elif name == "__typename":
            value = sql_text.const("UsageAttribution")
        else:
            raise NotCompilable(f"UsageAttribution.{name}")
        pairs += [sql_text.const(key), value]
    return func.json_build_object(*pairs)


def _partial_days(builder: Builder, rows: Any, nodes: Sequence[FieldNode]) -> ColumnElement[Any]:
    days = func.json_array_elements(rows.c.partial_days).table_valued("value", with_ordinality="ordinality")
    day = days.alias(f"d{next(builder.names)}")

    def part(name: str) -> ColumnElement[Any]:
        return day.c.value.op("->>")(sql_text.const(name))

    pairs: list[ColumnElement[Any]] = []
    for key, field_nodes in builder.selections.under("PartialDay", nodes).items():
        name = field_nodes[0].name.value
        if name == "subscriptionId":
            value = sql_text.global_id("Subscription", part("s"))
        elif name in ("day", "quantity", "amount"):
            value = part(name[0])
        elif name == "seconds":
            value = day.c.value.op("->")(sql_text.const("n"))
        elif name == "__typename":
            value = sql_text.const("PartialDay")
        else:
            raise NotCompilable(f"PartialDay.{name}")
        pairs += [sql_text.const(key), value]
    listed = func.json_agg(aggregate_order_by(func.json_build_object(*pairs), day.c.ordinality))
    return select(func.coalesce(listed, literal_column("'[]'::json"))).select_from(day).scalar_subquery()


def _half_even(units: ColumnElement[Any], places: int) -> ColumnElement[Any]:
    """round(Fraction(units, UNITS_PER_WHOLE) * 10**places): the nearest integer, a half to the even one."""
    scaled = func.abs(units) * _number(10**places)
    quotient = func.div(scaled, _WHOLE)
    twice_rest = (scaled - quotient * _WHOLE) * _TWO
    odd = func.mod(quotient, _TWO) == _ONE
    up = case((or_(twice_rest > _WHOLE, and_(twice_rest == _WHOLE, odd)), _ONE), else_=_number(0))
    return func.sign(units) * (quotient + up)


def _scale(places: int) -> ColumnElement[Any]:
    """10**-places with `places` decimals: a product with it has the scale Decimal.scaleb(-places) gives."""
    return literal_column(f"0.{'0' * (places - 1)}1" if places else "1", Numeric())


def _presented(units: ColumnElement[Any], currency: ColumnElement[Any]) -> ColumnElement[Any]:
    """currencies.present: half-even to the currency's minor unit (a row of another currency is `too_large`)."""
    whens = [
        (currency.in_([sql_text.const(code) for code in codes]), cast(_half_even(units, places) * _scale(places), Text))
        for places, codes in _PLACES.items()
    ]
    return case(*whens)


def _fraction_text(units: ColumnElement[Any]) -> ColumnElement[Any]:
    """str(Fraction(units, UNITS_PER_WHOLE)) as schema/usage._fraction_text writes it."""
    divisor = func.gcd(units, _WHOLE)
    numerator, denominator = cast(func.div(units, divisor), Text), func.div(_WHOLE, divisor)
    return case(
        (denominator == _ONE, numerator),
        else_=sql_text.concat(numerator, sql_text.const("/"), cast(denominator, Text)),
    )
