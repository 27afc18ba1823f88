"""The Mutation root: one `input` argument, a payload type, one transaction each, audited.

Resolvers here only decode and validate arguments, call the plain function in resolvers/ inside a transaction, and
shape the payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.permission import BasePermission
from strawberry.types import Info

from db.association import PartnerAssociation as AssociationRow
from resolvers import associations, ingest, provisioning, validation
from resolvers.caller import caller_scope, loaders_of
from resolvers.context import RequestContext
from resolvers.errors import NotFound
from resolvers.idempotency import check_key
from resolvers.transaction import in_transaction
from resolvers.usage import validation as usage_validation
from schema import global_id
from schema.arguments import MutationInput
from schema.association import PartnerAssociation
from schema.contact import Contact
from schema.delegation import DelegatedAdminRelationship
from schema.enums import AssociationType, Offer, SubscriptionStatus, TenantStatus
from schema.partner import Partner
from schema.permissions import OperationPolicy
from schema.subscription import Subscription
from schema.tenant import Tenant
from schema.usage import bad_usage_input

T = TypeVar("T")

_VERSION = (
    "The subscription's `version` as last read. Any mismatch is CONFLICT and nothing is written, also when the request"
    " would have changed nothing (e.g. naming the partner that already is the DPOR)."
)
# Shared by the association mutations' descriptions: the status rule in auth.policy.
_ACTIVE_ONLY = (
    " Refused with NOT_ACTIVE while the tenant is SUSPENDED or DELETED or the subscription is not ACTIVE (reads still"
    " work). A subscription or association outside the caller's reach is NOT_FOUND, exactly as one that does not exist."
)
_KEY = (
    "Optional idempotency key (1-128 characters): the same key and input from the same caller returns the first"
    " result and writes nothing; the same key with another input is CONFLICT."
)


async def _run(info: Info[RequestContext, None], work: Callable[[AsyncSession, Any, str], Awaitable[T]]) -> T:
    scope = await caller_scope(info.context)
    request_id = info.context.request_id
    return await in_transaction(info.context.database, lambda session: work(session, scope, request_id))


# Association changes -------------------------------------------------------------------------------------------


@strawberry.input(description="Attach or replace a subscription's Digital Partner of Record.")
class SetDigitalPartnerOfRecordInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    partner_id: strawberry.ID = strawberry.field(description="The partner to make its DPOR.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input(description="Remove a subscription's Digital Partner of Record.")
class RemoveDigitalPartnerOfRecordInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input(description="Link a partner to a subscription with an association type other than DPOR.")
class LinkPartnerInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    partner_id: strawberry.ID = strawberry.field(description="The partner to link.")
    type: AssociationType = strawberry.field(description="The association type (not DIGITAL_PARTNER_OF_RECORD).")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.input(description="End a non-DPOR partner association.")
class UnlinkPartnerInput:
    association_id: strawberry.ID = strawberry.field(description="The active association to end.")
    expected_version: int = strawberry.field(description=_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.type(
    description="The result of a partner association change, as its transaction wrote it. A replayed idempotency"
    " key returns the first request's result as recorded."
)
class PartnerAssociationChangePayload:
    subscription: Subscription = strawberry.field(
        description="The subscription; its `version` is the one this change wrote (a replay: the first request's),"
        " never a later writer's."
    )
    association: PartnerAssociation | None = strawberry.field(
        description="The association now in effect (the new or unchanged one) as this change left it, or null."
    )
    previous_association: PartnerAssociation | None = strawberry.field(
        description="The association this change ended, if any, as this change left it."
    )
    changed: bool = strawberry.field(description="False when the request changed nothing (see message).")
    message: str = strawberry.field(description="What happened, in words.")


async def _change_payload(
    info: Info[RequestContext, None], change: associations.AssociationChange
) -> PartnerAssociationChangePayload:
    """The payload of what the transaction wrote (or, on a replay, what the first request wrote).

    The subscription is read through the caller's row filters (DataLoader) for its other fields; its version and
    the association rows are the ones recorded in the change, never re-read: a writer committing right after ours
    must not show through, and a replay must answer what the first request did.
    """
    loaders = await loaders_of(info.context)
    row = await loaders.subscription.load(uuid.UUID(change.subscription_id))
    if row is None:
        raise NotFound("subscription")  # out of the caller's reach since the change (e.g. its delegation ended)
    subscription = Subscription.from_row(row)
    if change.subscription_version is not None:
        subscription.version = change.subscription_version
    current, previous = await _changed_associations(info, change)
    return PartnerAssociationChangePayload(
        subscription=subscription,
        association=PartnerAssociation.from_row(current) if current else None,
        previous_association=PartnerAssociation.from_row(previous) if previous else None,
        changed=change.changed,
        message=change.message,
    )


async def _changed_associations(
    info: Info[RequestContext, None], change: associations.AssociationChange
) -> tuple[AssociationRow | None, AssociationRow | None]:
    """The association rows as written; for a result stored before rows were recorded, as they are now."""
    if change.subscription_version is not None:
        return tuple(  # type: ignore[return-value]
            associations.as_written(snapshot) if snapshot else None
            for snapshot in (change.association, change.previous_association)
        )
    loaders = await loaders_of(info.context)
    found = []
    for association_id in (change.association_id, change.previous_association_id):
        found.append(await loaders.association.load(uuid.UUID(association_id)) if association_id else None)
    return found[0], found[1]


# Provisioning --------------------------------------------------------------------------------------------------


@strawberry.input(description="A new tenant.")
class CreateTenantInput:
    external_id: str = strawberry.field(description="The directory's GUID for the tenant.")
    display_name: str = strawberry.field(description="Display name (1-256 characters).")
    primary_domain: str = strawberry.field(description="Primary verified domain.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")


@strawberry.input(description="Changes to a tenant; omitted fields stay as they are.")
class UpdateTenantInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant.")
    display_name: str | None = strawberry.field(default=None, description="New display name.")
    primary_domain: str | None = strawberry.field(default=None, description="New primary domain.")
    country_code: str | None = strawberry.field(default=None, description="New country code.")
    status: TenantStatus | None = strawberry.field(default=None, description="New status.")


@strawberry.type(description="The tenant created or changed.")
class TenantPayload:
    tenant: Tenant = strawberry.field(description="The tenant.")


@strawberry.input(description="A contact person for a tenant (personal data).")
class AddTenantContactInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant.")
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Email address.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")


@strawberry.type(description="The contact added, and its tenant.")
class AddTenantContactPayload:
    tenant: Tenant = strawberry.field(description="The tenant.")
    contact: Contact = strawberry.field(description="The new contact.")


@strawberry.input(description="A new partner.")
class CreatePartnerInput:
    mpn_id: str = strawberry.field(description="Partner network (MPN) id: 1-20 digits.")
    name: str = strawberry.field(description="The partner's name.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")


@strawberry.type(description="The partner created.")
class PartnerPayload:
    partner: Partner = strawberry.field(description="The partner.")


@strawberry.input(description="A new subscription for a tenant.")
class CreateSubscriptionInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant holding it.")
    external_id: str = strawberry.field(description="The subscription's id in the commerce platform.")
    offer: Offer = strawberry.field(description="The offer.")
    display_name: str = strawberry.field(description="Display name.")


@strawberry.input(description="A subscription's new status. DELETED is final and ends its partner associations.")
class SetSubscriptionStatusInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    status: SubscriptionStatus = strawberry.field(description="The new status.")


@strawberry.type(description="The subscription created or changed.")
class SubscriptionPayload:
    subscription: Subscription = strawberry.field(description="The subscription.")


@strawberry.input(description="Give a partner admin rights on a customer tenant.")
class CreateDelegatedAdminRelationshipInput:
    tenant_id: strawberry.ID = strawberry.field(description="The customer tenant.")
    partner_id: strawberry.ID = strawberry.field(description="The partner.")


@strawberry.input(description="End a delegated admin relationship (and the partner's admin links on the tenant).")
class EndDelegatedAdminRelationshipInput:
    relationship_id: strawberry.ID = strawberry.field(description="The relationship.")


@strawberry.type(description="The delegated admin relationship created or ended.")
class DelegatedAdminRelationshipPayload:
    relationship: DelegatedAdminRelationship = strawberry.field(description="The relationship.")


# Usage ingestion ------------------------------------------------------------------------------------------------


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


@strawberry.input(description="A batch of usage records, written all or nothing.")
class IngestUsageInput:
    records: list[UsageRecordInput] = strawberry.field(
        description=(
            "At most 5,000 records. A record whose natural key exists replaces it (a correction); a natural key"
            " twice in one batch is refused (DUPLICATE_KEY), since which of the two is meant is unknowable."
        )
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_KEY)


@strawberry.type(description="The latest usage day now ingested for a subscription.")
class UsageFreshness:
    subscription_external_id: str = strawberry.field(description="The subscription's external id.")
    usage_data_as_of: date = strawberry.field(description="The latest usage day ingested (UTC).")


@strawberry.type(description="What an ingested batch did.")
class IngestUsagePayload:
    inserted: int = strawberry.field(description="Records new to the store.")
    replaced: int = strawberry.field(description="Records that replaced one with the same natural key.")
    freshness: list[UsageFreshness] = strawberry.field(description="Per subscription touched, its latest usage day.")


# Root operations are checked against auth.policy.OPERATIONS before they run.
GUARDED: list[type[BasePermission]] = [OperationPolicy]


@strawberry.type(description="Write operations. Each runs in one transaction and writes an audit event.")
class Mutation:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Attach or replace the Digital Partner of Record (tenant OWNER only). The previous DPOR ends with"
        " REPLACED at the instant the new one starts (server time, no backdating)." + _ACTIVE_ONLY,
    )
    async def set_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[SetDigitalPartnerOfRecordInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        check_key(input.idempotency_key)
        args = associations.SetDporArgs(
            subscription_id=global_id.decode(input.subscription_id, "Subscription", field="subscriptionId"),
            partner_id=global_id.decode(input.partner_id, "Partner", field="partnerId"),
            expected_version=validation.expected_version(input.expected_version),
            idempotency_key=input.idempotency_key,
        )
        change = await _run(info, lambda s, scope, rid: associations.set_digital_partner_of_record(s, scope, rid, args))
        return await _change_payload(info, change)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Remove the Digital Partner of Record (tenant OWNER only); it ends with REMOVED_BY_OWNER."
        + _ACTIVE_ONLY,
    )
    async def remove_digital_partner_of_record(
        self, info: Info[RequestContext, None], input: Annotated[RemoveDigitalPartnerOfRecordInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        check_key(input.idempotency_key)
        args = associations.RemoveDporArgs(
            subscription_id=global_id.decode(input.subscription_id, "Subscription", field="subscriptionId"),
            expected_version=validation.expected_version(input.expected_version),
            idempotency_key=input.idempotency_key,
        )
        change = await _run(
            info, lambda s, scope, rid: associations.remove_digital_partner_of_record(s, scope, rid, args)
        )
        return await _change_payload(info, change)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Link a partner with another association type (OWNER, SERVICE_ADMIN; a DELEGATED_ADMIN only a"
        " PARTNER_ADMIN_LINK naming its own partner)." + _ACTIVE_ONLY,
    )
    async def link_partner(
        self, info: Info[RequestContext, None], input: Annotated[LinkPartnerInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        check_key(input.idempotency_key)
        args = associations.LinkArgs(
            subscription_id=global_id.decode(input.subscription_id, "Subscription", field="subscriptionId"),
            partner_id=global_id.decode(input.partner_id, "Partner", field="partnerId"),
            type=input.type,
            expected_version=validation.expected_version(input.expected_version),
            idempotency_key=input.idempotency_key,
        )
        change = await _run(info, lambda s, scope, rid: associations.link_partner(s, scope, rid, args))
        return await _change_payload(info, change)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="End a non-DPOR association with UNLINKED (same roles as linkPartner)." + _ACTIVE_ONLY,
    )
    async def unlink_partner(
        self, info: Info[RequestContext, None], input: Annotated[UnlinkPartnerInput, MutationInput]
    ) -> PartnerAssociationChangePayload:
        check_key(input.idempotency_key)
        args = associations.UnlinkArgs(
            association_id=global_id.decode(input.association_id, "PartnerAssociation", field="associationId"),
            expected_version=validation.expected_version(input.expected_version),
            idempotency_key=input.idempotency_key,
        )
        change = await _run(info, lambda s, scope, rid: associations.unlink_partner(s, scope, rid, args))
        return await _change_payload(info, change)

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
        check_key(input.idempotency_key)
        records = [
            usage_validation.UsageRecordInput(
                subscription_id=record.subscription_id,
                usage_date=record.usage_date,
                service=record.service,
                meter_id=record.meter_id,
                meter_name=record.meter_name,
                quantity=record.quantity,
                unit=record.unit,
                amount=record.amount,
                currency=record.currency,
            )
            for record in input.records
        ]
        try:
            outcome = await _run(
                info, lambda s, scope, rid: ingest.ingest(s, scope, rid, records, input.idempotency_key)
            )
        except usage_validation.UsageInputError as error:
            raise bad_usage_input(error) from None
        return IngestUsagePayload(
            inserted=outcome.inserted,
            replaced=outcome.replaced,
            freshness=[
                UsageFreshness(subscription_external_id=external_id, usage_data_as_of=date.fromisoformat(day))
                for external_id, day in outcome.freshness
            ],
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Create a tenant (PLATFORM_ADMIN).",
    )
    async def create_tenant(
        self, info: Info[RequestContext, None], input: Annotated[CreateTenantInput, MutationInput]
    ) -> TenantPayload:
        args = provisioning.CreateTenantArgs(
            **validation.every(
                external_id=lambda: validation.external_tenant_id(input.external_id),
                display_name=lambda: validation.name(input.display_name, "displayName"),
                primary_domain=lambda: validation.domain(input.primary_domain),
                country_code=lambda: validation.country_code(input.country_code),
            )
        )
        row = await _run(info, lambda s, scope, rid: provisioning.create_tenant(s, scope, rid, args))
        return TenantPayload(tenant=Tenant.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED, description="Change a tenant's details or status (PLATFORM_ADMIN)."
    )
    async def update_tenant(
        self, info: Info[RequestContext, None], input: Annotated[UpdateTenantInput, MutationInput]
    ) -> TenantPayload:
        display_name, primary_domain, country_code = input.display_name, input.primary_domain, input.country_code
        args = provisioning.UpdateTenantArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(input.tenant_id, "Tenant", field="tenantId"),
                display_name=lambda: validation.name(display_name, "displayName") if display_name is not None else None,
                primary_domain=lambda: validation.domain(primary_domain) if primary_domain is not None else None,
                country_code=lambda: validation.country_code(country_code) if country_code is not None else None,
            ),
            status=input.status,
        )
        row = await _run(info, lambda s, scope, rid: provisioning.update_tenant(s, scope, rid, args))
        return TenantPayload(tenant=Tenant.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Add a contact person to a tenant (PLATFORM_ADMIN).",
    )
    async def add_tenant_contact(
        self, info: Info[RequestContext, None], input: Annotated[AddTenantContactInput, MutationInput]
    ) -> AddTenantContactPayload:
        args = provisioning.AddContactArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(input.tenant_id, "Tenant", field="tenantId"),
                name=lambda: validation.name(input.name, "name"),
                email=lambda: validation.email(input.email),
                phone=lambda: validation.phone(input.phone),
            )
        )
        tenant, contact = await _run(info, lambda s, scope, rid: provisioning.add_tenant_contact(s, scope, rid, args))
        return AddTenantContactPayload(tenant=Tenant.from_row(tenant), contact=Contact.from_row(contact))

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Register a partner (PLATFORM_ADMIN).",
    )
    async def create_partner(
        self, info: Info[RequestContext, None], input: Annotated[CreatePartnerInput, MutationInput]
    ) -> PartnerPayload:
        args = provisioning.CreatePartnerArgs(
            **validation.every(
                mpn_id=lambda: validation.mpn_id(input.mpn_id),
                name=lambda: validation.name(input.name, "name"),
                country_code=lambda: validation.country_code(input.country_code),
            )
        )
        row = await _run(info, lambda s, scope, rid: provisioning.create_partner(s, scope, rid, args))
        return PartnerPayload(partner=Partner.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Create a subscription for a tenant (PLATFORM_ADMIN).",
    )
    async def create_subscription(
        self, info: Info[RequestContext, None], input: Annotated[CreateSubscriptionInput, MutationInput]
    ) -> SubscriptionPayload:
        args = provisioning.CreateSubscriptionArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(input.tenant_id, "Tenant", field="tenantId"),
                external_id=lambda: validation.external_subscription_id(input.external_id),
                display_name=lambda: validation.name(input.display_name, "displayName"),
            ),
            offer=input.offer,
        )
        row = await _run(info, lambda s, scope, rid: provisioning.create_subscription(s, scope, rid, args))
        return SubscriptionPayload(subscription=Subscription.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED,
        description=(
            "Change a subscription's status (PLATFORM_ADMIN). DELETED ends its associations with SUBSCRIPTION_DELETED."
        ),
    )
    async def set_subscription_status(
        self, info: Info[RequestContext, None], input: Annotated[SetSubscriptionStatusInput, MutationInput]
    ) -> SubscriptionPayload:
        args = provisioning.SetStatusArgs(
            subscription_id=global_id.decode(input.subscription_id, "Subscription", field="subscriptionId"),
            status=input.status,
        )
        row = await _run(info, lambda s, scope, rid: provisioning.set_subscription_status(s, scope, rid, args))
        return SubscriptionPayload(subscription=Subscription.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED, description="Give a partner admin rights on a customer tenant (PLATFORM_ADMIN)."
    )
    async def create_delegated_admin_relationship(
        self, info: Info[RequestContext, None], input: Annotated[CreateDelegatedAdminRelationshipInput, MutationInput]
    ) -> DelegatedAdminRelationshipPayload:
        args = provisioning.CreateDelegationArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(input.tenant_id, "Tenant", field="tenantId"),
                partner_id=lambda: global_id.decode(input.partner_id, "Partner", field="partnerId"),
            )
        )
        row = await _run(
            info, lambda s, scope, rid: provisioning.create_delegated_admin_relationship(s, scope, rid, args)
        )
        return DelegatedAdminRelationshipPayload(relationship=DelegatedAdminRelationship.from_row(row))

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="End a delegated admin relationship (PLATFORM_ADMIN, or the tenant's OWNER); the partner's admin"
        " links on the tenant end with DELEGATION_ENDED.",
    )
    async def end_delegated_admin_relationship(
        self, info: Info[RequestContext, None], input: Annotated[EndDelegatedAdminRelationshipInput, MutationInput]
    ) -> DelegatedAdminRelationshipPayload:
        relationship_id = global_id.decode(input.relationship_id, "DelegatedAdminRelationship", field="relationshipId")
        row = await _run(
            info,
            lambda s, scope, rid: provisioning.end_delegated_admin_relationship(s, scope, rid, relationship_id),
        )
        return DelegatedAdminRelationshipPayload(relationship=DelegatedAdminRelationship.from_row(row))
