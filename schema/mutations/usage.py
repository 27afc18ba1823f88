"""Usage mutations: ingesting a batch of usage records (new days and corrections), all or nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import ingest
from resolvers.context import RequestContext
from resolvers.idempotency import check_key
from resolvers.usage import validation as usage_validation
from schema.arguments import MutationInput
from schema.mutations.common import GUARDED, IDEMPOTENCY_KEY, run
from schema.usage import bad_usage_input


@strawberry.input(
    description="One day of one meter of one subscription. Its natural key is (subscription, day, meter)."
)
class UsageRecordInput:
    subscription_id: str = strawberry.field(
        description=(
            "The subscription's external id (as in the commerce platform). It must exist and not be DELETED:"
            " a deleted subscription's usage is closed, so a record for it (whatever its day, corrections of"
            " days before the deletion too) is refused with code SUBSCRIPTION_DELETED."
        )
    )
    usage_date: date = strawberry.field(description="The UTC day of the usage, from 2000-01-01 up to tomorrow.")
    service: str = strawberry.field(description='Service (meter category), e.g. "Virtual Machines".')
    meter_id: str = strawberry.field(description="The meter's id.")
    meter_name: str = strawberry.field(description="The meter's name.")
    quantity: Decimal = strawberry.field(description="Quantity consumed (non-negative, at most 6 decimals).")
    unit: str = strawberry.field(description='Unit of the quantity, e.g. "Hours".')
    amount: Decimal = strawberry.field(description="Amount charged (at most 6 decimals; negative for credits).")
    currency: str = strawberry.field(description='ISO 4217 currency code, e.g. "EUR".')

    def record(self) -> usage_validation.UsageRecordInput:
        """The record as ingestion validates it (resolvers.usage.validation: every bad record reported at once)."""
        return usage_validation.UsageRecordInput(
            subscription_id=self.subscription_id,
            usage_date=self.usage_date,
            service=self.service,
            meter_id=self.meter_id,
            meter_name=self.meter_name,
            quantity=self.quantity,
            unit=self.unit,
            amount=self.amount,
            currency=self.currency,
        )


@strawberry.input(description="A batch of usage records, written all or nothing.")
class IngestUsageInput:
    records: list[UsageRecordInput] = strawberry.field(
        description=(
            "At most 5,000 records. A record whose natural key exists replaces it (a correction); a natural key"
            " twice in one batch is refused (DUPLICATE_KEY), since which of the two is meant is unknowable."
        )
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def arguments(self) -> ingest.IngestArgs:
        check_key(self.idempotency_key)
        return ingest.IngestArgs([record.record() for record in self.records], self.idempotency_key)


@strawberry.type(description="The latest usage day now ingested for a subscription.")
class UsageFreshness:
    subscription_external_id: str = strawberry.field(description="The subscription's external id.")
    usage_data_as_of: date = strawberry.field(description="The latest usage day ingested (UTC).")


@strawberry.type(description="What an ingested batch did.")
class IngestUsagePayload:
    inserted: int = strawberry.field(description="Records new to the store.")
    replaced: int = strawberry.field(description="Records that replaced one with the same natural key.")
    freshness: list[UsageFreshness] = strawberry.field(description="Per subscription touched, its latest usage day.")

    @classmethod
    def from_outcome(cls, outcome: ingest.IngestOutcome) -> IngestUsagePayload:
        return cls(
            inserted=outcome.inserted,
            replaced=outcome.replaced,
            freshness=[
                UsageFreshness(subscription_external_id=external_id, usage_data_as_of=date.fromisoformat(day))
                for external_id, day in outcome.freshness
            ],
        )


@strawberry.type
class UsageMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description=(
            "Ingest usage records (USAGE_INGEST), all or nothing: when any record is invalid nothing is written and"
            " the error's `problems` list every bad record by index, field, code (INVALID_VALUE, DUPLICATE_KEY,"
            " UNKNOWN_SUBSCRIPTION, SUBSCRIPTION_DELETED) and message. Rollups move by exact differences."
        ),
    )
    async def ingest_usage(
        self, info: Info[RequestContext, None], input: Annotated[IngestUsageInput, MutationInput]
    ) -> IngestUsagePayload:
        try:
            return await run(info, ingest.ingest, input.arguments(), IngestUsagePayload.from_outcome)
        except usage_validation.UsageInputError as error:
            raise bad_usage_input(error) from None
