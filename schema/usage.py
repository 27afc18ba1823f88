"""Usage and consumption: aggregates (from the exact rollups) and ingestion.

Attribution rule: associations hold second-precision half-open intervals [validFrom, validTo). A partner's share
of a subscription's usage on UTC day d is the fraction of day d its association of that type was in effect
(seconds active / 86,400). Attributed amount = daily amount x fraction, exact, rounded only at presentation (to
the currency's minor unit, half to even). Each association type is attributed on its own; amounts of different
currencies are never added together. Only associations in effect (status ACTIVE) are attributed: a claim is not while
PENDING (inside its decline window), never once DECLINED, and from its claim time once its window passed undeclined.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from resolvers.caller import caller_scope, loaders_of
from resolvers.context import RequestContext
from resolvers.errors import BadUserInput, TooManyUsageRows
from resolvers.usage import reads
from resolvers.usage.aggregate_types import AggregateFilter, AggregateRow, GroupBy
from resolvers.usage.loaders import UsageRequest
from resolvers.usage.validation import UsageInputError
from schema import global_id
from schema.enums import AssociationType, RecognitionRole

if TYPE_CHECKING:
    from schema.partner import Partner
    from schema.subscription import Subscription
    from schema.tenant import Tenant

strawberry.enum(
    GroupBy,
    name="UsageGroupBy",
    description="How usage rows are grouped. PARTNER and RECOGNITION_ROLE make the rows partner-scoped (attributed):"
    " RECOGNITION_ROLE splits each partner's attribution by the recognition role its associations carry.",
)
UsageGroupBy = GroupBy  # registered in place, like the model enums (schema/enums.py)

# The storage scale of quantities: attributed quantities are presented at it (half to even).
QUANTITY_PLACES = Decimal("0.000001")


@strawberry.type(description="A day of a subscription attributed only in part: the basis of an attributed amount.")
class PartialDay:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription's global ID.")
    day: date = strawberry.field(description="The UTC day.")
    seconds: int = strawberry.field(description="Seconds of the day the association was in effect (of 86,400).")
    quantity: Decimal = strawberry.field(description="That day's quantity within this row.")
    amount: Decimal = strawberry.field(description="That day's amount within this row.")


@strawberry.type(
    description=(
        "What a partner is attributed in a row: every day of the row counts whole except the partial days listed,"
        " which count for seconds / 86,400. Only associations in effect (status ACTIVE) are attributed: a claim is"
        " not while PENDING (inside its decline window), never once DECLINED (declined by the owner), and once its"
        " window passed undeclined it is ACTIVE and attributed from its claim time (validFrom)."
    )
)
class UsageAttribution:
    amount: Decimal = strawberry.field(
        description="Attributed amount, rounded to the currency's minor unit (half even)."
    )
    amount_exact: str = strawberry.field(description='Attributed amount as an exact fraction, e.g. "337/8".')
    quantity: Decimal = strawberry.field(description="Attributed quantity, rounded to 6 decimal places (half even).")
    partial_days: list[PartialDay] = strawberry.field(description="The days attributed in part, with their seconds.")


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@strawberry.type(description="Usage summed over a group: the group's keys (null when not grouped by), sums, currency.")
class UsageAggregate:
    month: date | None = strawberry.field(description="First day of the month (MONTH grouping).")
    day: date | None = strawberry.field(description="The UTC day (DAY grouping).")
    service: str | None = strawberry.field(description="The service / meter category (SERVICE grouping).")
    association_type: AssociationType | None = strawberry.field(
        description="The association type attributed (partner-scoped rows)."
    )
    recognition_role: RecognitionRole | None = strawberry.field(
        description="The recognition role of the associations attributed (RECOGNITION_ROLE grouping; null there for"
        " associations that name none, and always null without that grouping)."
    )
    currency: str = strawberry.field(description="ISO 4217 currency: amounts of different currencies never mix.")
    quantity: Decimal = strawberry.field(description="Summed quantity (for partner rows: of the days attributed).")
    amount: Decimal = strawberry.field(description="Summed amount (for partner rows: of the days attributed).")
    record_count: int = strawberry.field(description="Number of daily usage records summed.")
    attribution: UsageAttribution | None = strawberry.field(
        description="For partner-scoped rows: the attributed share and its basis."
    )
    subscription_id: strawberry.Private[uuid.UUID | None]
    tenant_id: strawberry.Private[uuid.UUID | None]
    partner_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: AggregateRow) -> UsageAggregate:
        attribution = None
        if row.attribution is not None:
            attribution = UsageAttribution(
                amount=row.attribution.amount_presented,
                amount_exact=_fraction_text(row.attribution.amount),
                quantity=(Decimal(row.attribution.quantity.numerator) / row.attribution.quantity.denominator).quantize(
                    QUANTITY_PLACES
                ),
                partial_days=[
                    PartialDay(
                        subscription_id=strawberry.ID(global_id.encode("Subscription", day.subscription_id)),
                        day=day.day,
                        seconds=day.seconds,
                        quantity=day.quantity,
                        amount=day.amount,
                    )
                    for day in row.attribution.partial_days
                ],
            )
        return cls(
            month=row.month,
            day=row.day,
            service=row.service,
            association_type=row.association_type,
            recognition_role=row.recognition_role,
            currency=row.currency,
            quantity=row.quantity,
            amount=row.amount,
            record_count=row.record_count,
            attribution=attribution,
            subscription_id=row.subscription_id,
            tenant_id=row.tenant_id,
            partner_id=row.partner_id,
        )

    @strawberry.field(description="The subscription (SUBSCRIPTION grouping).")
    async def subscription(
        self, info: Info[RequestContext, None]
    ) -> Annotated[Subscription, strawberry.lazy("schema.subscription")] | None:
        from schema.subscription import Subscription

        if self.subscription_id is None:
            return None
        row = await (await loaders_of(info.context)).subscription.load(self.subscription_id)
        return Subscription.from_row(row) if row else None

    @strawberry.field(description="The tenant (TENANT grouping).")
    async def tenant(
        self, info: Info[RequestContext, None]
    ) -> Annotated[Tenant, strawberry.lazy("schema.tenant")] | None:
        from schema.tenant import Tenant

        if self.tenant_id is None:
            return None
        row = await (await loaders_of(info.context)).tenant.load(self.tenant_id)
        return Tenant.from_row(row) if row else None

    @strawberry.field(description="The partner (partner-scoped rows).")
    async def partner(
        self, info: Info[RequestContext, None]
    ) -> Annotated[Partner, strawberry.lazy("schema.partner")] | None:
        from schema.partner import Partner

        if self.partner_id is None:
            return None
        row = await (await loaders_of(info.context)).partner.load(self.partner_id)
        return Partner.from_row(row) if row else None


@strawberry.input(description="Which usage to aggregate. Dates are UTC days, both ends inclusive.")
class UsageAggregatesFilter:
    from_: date = strawberry.field(name="from", description="First day (inclusive).")
    to: date = strawberry.field(description="Last day (inclusive). At most 36 months after `from`.")
    tenant_id: strawberry.ID | None = strawberry.field(default=None, description="Only this tenant's usage.")
    subscription_id: strawberry.ID | None = strawberry.field(default=None, description="Only this subscription.")
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only what this partner is attributed."
    )
    association_type: AssociationType | None = strawberry.field(
        default=None, description="Only attribution through this association type."
    )
    service: str | None = strawberry.field(default=None, description="Only this service.")


def _optional(value: strawberry.ID | None, type_name: str, field: str) -> uuid.UUID | None:
    return global_id.decode(value, type_name, field=field) if value is not None else None


def to_filter(given: UsageAggregatesFilter) -> AggregateFilter:
    return AggregateFilter(
        date_from=given.from_,
        date_to=given.to,
        tenant_id=_optional(given.tenant_id, "Tenant", "filter.tenantId"),
        subscription_id=_optional(given.subscription_id, "Subscription", "filter.subscriptionId"),
        partner_id=_optional(given.partner_id, "Partner", "filter.partnerId"),
        association_type=given.association_type,
        service=given.service,
    )


def bad_usage_input(error: UsageInputError) -> BadUserInput:
    problems = [{"index": p.index, "field": p.field, "code": p.code, "message": p.message} for p in error.problems]
    first = error.problems[0].field if error.problems else None
    return BadUserInput(str(error), field=first, problems=problems)


async def aggregate(
    info: Info[RequestContext, None], filter: AggregateFilter, group_by: list[GroupBy]
) -> list[UsageAggregate]:
    caller = await caller_scope(info.context)
    try:
        rows = await reads.aggregate_usage(info.context.database, caller, filter, group_by)
    except UsageInputError as error:
        raise bad_usage_input(error) from None
    return _presented(info, rows)


def _presented(info: Info[RequestContext, None], rows: list[AggregateRow]) -> list[UsageAggregate]:
    """The rows as GraphQL objects, unless there are more than `max_usage_rows`: the cost estimate
    (schema/extensions/cost.py) assumes `usage_group_size` groups per unpinned key, and a window can hold more."""
    maximum = info.context.max_usage_rows
    if len(rows) > maximum:
        raise TooManyUsageRows(len(rows), maximum)
    return [UsageAggregate.from_row(row) for row in rows]


async def parent_usage(
    info: Info[RequestContext, None],
    parent: GroupBy,
    parent_id: uuid.UUID,
    request: UsageRequest,
    *,
    tenant_id: uuid.UUID | None = None,
) -> list[UsageAggregate]:
    """A nested usage field (parent = SUBSCRIPTION, TENANT or PARTNER): see resolvers.usage.reads.parent_usage."""
    caller = await caller_scope(info.context)
    try:
        rows = await reads.parent_usage(info.context, caller, parent, parent_id, request, tenant_id=tenant_id)
    except UsageInputError as error:
        raise bad_usage_input(error) from None
    return _presented(info, rows)
