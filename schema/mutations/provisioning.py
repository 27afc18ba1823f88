"""Provisioning mutations for admin tooling: tenants and their contacts, partners, subscriptions, delegated admins.

Each input decodes and validates itself (every invalid field reported at once, resolvers.validation.every) into the
arguments of its resolver in resolvers.provisioning or resolvers.delegations; the rows that come back are the ones
the transaction wrote, under the caller's row filters.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db.delegation import DelegatedAdminRelationship as DelegationRow
from db.partner import Partner as PartnerRow
from db.subscription import Subscription as SubscriptionRow
from db.tenant import Tenant as TenantRow
from db.tenant import TenantContact as ContactRow
from resolvers import delegations, provisioning, validation
from resolvers.context import RequestContext
from schema import global_id
from schema.arguments import MutationInput
from schema.contact import Contact
from schema.delegation import DelegatedAdminRelationship
from schema.enums import Offer, SubscriptionStatus, TenantStatus
from schema.mutations.common import GUARDED, run
from schema.partner import Partner
from schema.subscription import Subscription
from schema.tenant import Tenant


@strawberry.input(description="A new tenant.")
class CreateTenantInput:
    external_id: str = strawberry.field(description="The directory's GUID for the tenant.")
    display_name: str = strawberry.field(description="Display name (1-256 characters).")
    primary_domain: str = strawberry.field(description="Primary verified domain.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")

    def arguments(self) -> provisioning.CreateTenantArgs:
        return provisioning.CreateTenantArgs(
            **validation.every(
                external_id=lambda: validation.external_tenant_id(self.external_id),
                display_name=lambda: validation.name(self.display_name, "displayName"),
                primary_domain=lambda: validation.domain(self.primary_domain),
                country_code=lambda: validation.country_code(self.country_code),
            )
        )


@strawberry.input(description="Changes to a tenant; omitted fields stay as they are.")
class UpdateTenantInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant.")
    display_name: str | None = strawberry.field(default=None, description="New display name.")
    primary_domain: str | None = strawberry.field(default=None, description="New primary domain.")
    country_code: str | None = strawberry.field(default=None, description="New country code.")
    status: TenantStatus | None = strawberry.field(default=None, description="New status.")

    def arguments(self) -> provisioning.UpdateTenantArgs:
        display_name, primary_domain, country_code = self.display_name, self.primary_domain, self.country_code
        return provisioning.UpdateTenantArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(self.tenant_id, "Tenant", field="tenantId"),
                display_name=lambda: validation.name(display_name, "displayName") if display_name is not None else None,
                primary_domain=lambda: validation.domain(primary_domain) if primary_domain is not None else None,
                country_code=lambda: validation.country_code(country_code) if country_code is not None else None,
            ),
            status=self.status,
        )


@strawberry.type(description="The tenant created or changed.")
class TenantPayload:
    tenant: Tenant = strawberry.field(description="The tenant.")

    @classmethod
    def from_row(cls, row: TenantRow) -> TenantPayload:
        return cls(tenant=Tenant.from_row(row))


@strawberry.input(description="A contact person for a tenant (personal data).")
class AddTenantContactInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant.")
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Email address.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")

    def arguments(self) -> provisioning.AddContactArgs:
        return provisioning.AddContactArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(self.tenant_id, "Tenant", field="tenantId"),
                name=lambda: validation.name(self.name, "name"),
                email=lambda: validation.email(self.email),
                phone=lambda: validation.phone(self.phone),
            )
        )


@strawberry.type(description="The contact added, and its tenant.")
class AddTenantContactPayload:
    tenant: Tenant = strawberry.field(description="The tenant.")
    contact: Contact = strawberry.field(description="The new contact.")

    @classmethod
    def from_rows(cls, rows: tuple[TenantRow, ContactRow]) -> AddTenantContactPayload:
        tenant, contact = rows
        return cls(tenant=Tenant.from_row(tenant), contact=Contact.from_row(contact))


@strawberry.input(description="A new partner.")
class CreatePartnerInput:
    mpn_id: str = strawberry.field(description="Partner network (MPN) id: 1-20 digits.")
    name: str = strawberry.field(description="The partner's name.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")

    def arguments(self) -> provisioning.CreatePartnerArgs:
        return provisioning.CreatePartnerArgs(
            **validation.every(
                mpn_id=lambda: validation.mpn_id(self.mpn_id),
                name=lambda: validation.name(self.name, "name"),
                country_code=lambda: validation.country_code(self.country_code),
            )
        )


@strawberry.type(description="The partner created.")
class PartnerPayload:
    partner: Partner = strawberry.field(description="The partner.")

    @classmethod
    def from_row(cls, row: PartnerRow) -> PartnerPayload:
        return cls(partner=Partner.from_row(row))


@strawberry.input(description="A new subscription for a tenant.")
class CreateSubscriptionInput:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant holding it.")
    external_id: str = strawberry.field(description="The subscription's id in the commerce platform.")
    offer: Offer = strawberry.field(description="The offer.")
    display_name: str = strawberry.field(description="Display name.")

    def arguments(self) -> provisioning.CreateSubscriptionArgs:
        return provisioning.CreateSubscriptionArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(self.tenant_id, "Tenant", field="tenantId"),
                external_id=lambda: validation.external_subscription_id(self.external_id),
                display_name=lambda: validation.name(self.display_name, "displayName"),
            ),
            offer=self.offer,
        )


@strawberry.input(description="A subscription's new status. DELETED is final and ends its partner associations.")
class SetSubscriptionStatusInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    status: SubscriptionStatus = strawberry.field(description="The new status.")

    def arguments(self) -> provisioning.SetStatusArgs:
        return provisioning.SetStatusArgs(
            subscription_id=global_id.decode(self.subscription_id, "Subscription", field="subscriptionId"),
            status=self.status,
        )


@strawberry.type(description="The subscription created or changed.")
class SubscriptionPayload:
    subscription: Subscription = strawberry.field(description="The subscription.")

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> SubscriptionPayload:
        return cls(subscription=Subscription.from_row(row))


@strawberry.input(description="Give a partner admin rights on a customer tenant.")
class CreateDelegatedAdminRelationshipInput:
    tenant_id: strawberry.ID = strawberry.field(description="The customer tenant.")
    partner_id: strawberry.ID = strawberry.field(description="The partner.")
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When the rights lapse by themselves (UTC, whole seconds; fractions are dropped; in the future)."
        " From then on the partner holds no delegated admin role, and the relationship and the partner's admin links"
        " on the tenant end at this instant (ROLE_REVOKED), whenever the sweep records it. Null: until ended.",
    )

    def arguments(self) -> delegations.CreateDelegationArgs:
        return delegations.CreateDelegationArgs(
            **validation.every(
                tenant_id=lambda: global_id.decode(self.tenant_id, "Tenant", field="tenantId"),
                partner_id=lambda: global_id.decode(self.partner_id, "Partner", field="partnerId"),
            ),
            expires_at=self.expires_at.replace(microsecond=0) if self.expires_at is not None else None,
        )


@strawberry.input(description="End a delegated admin relationship (and the partner's admin links on the tenant).")
class EndDelegatedAdminRelationshipInput:
    relationship_id: strawberry.ID = strawberry.field(description="The relationship.")

    def arguments(self) -> uuid.UUID:
        return global_id.decode(self.relationship_id, "DelegatedAdminRelationship", field="relationshipId")


@strawberry.type(description="The delegated admin relationship created or ended.")
class DelegatedAdminRelationshipPayload:
    relationship: DelegatedAdminRelationship = strawberry.field(description="The relationship.")

    @classmethod
    def from_row(cls, row: DelegationRow) -> DelegatedAdminRelationshipPayload:
        return cls(relationship=DelegatedAdminRelationship.from_row(row))


@strawberry.type
class ProvisioningMutations:
    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Create a tenant (PLATFORM_ADMIN).",
    )
    async def create_tenant(
        self, info: Info[RequestContext, None], input: Annotated[CreateTenantInput, MutationInput]
    ) -> TenantPayload:
        return await run(info, provisioning.create_tenant, input.arguments(), TenantPayload.from_row)

    @strawberry.mutation(
        permission_classes=GUARDED, description="Change a tenant's details or status (PLATFORM_ADMIN)."
    )
    async def update_tenant(
        self, info: Info[RequestContext, None], input: Annotated[UpdateTenantInput, MutationInput]
    ) -> TenantPayload:
        return await run(info, provisioning.update_tenant, input.arguments(), TenantPayload.from_row)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Add a contact person to a tenant (PLATFORM_ADMIN).",
    )
    async def add_tenant_contact(
        self, info: Info[RequestContext, None], input: Annotated[AddTenantContactInput, MutationInput]
    ) -> AddTenantContactPayload:
        return await run(info, provisioning.add_tenant_contact, input.arguments(), AddTenantContactPayload.from_rows)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Register a partner (PLATFORM_ADMIN).",
    )
    async def create_partner(
        self, info: Info[RequestContext, None], input: Annotated[CreatePartnerInput, MutationInput]
    ) -> PartnerPayload:
        return await run(info, provisioning.create_partner, input.arguments(), PartnerPayload.from_row)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Create a subscription for a tenant (PLATFORM_ADMIN).",
    )
    async def create_subscription(
        self, info: Info[RequestContext, None], input: Annotated[CreateSubscriptionInput, MutationInput]
    ) -> SubscriptionPayload:
        return await run(info, provisioning.create_subscription, input.arguments(), SubscriptionPayload.from_row)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description=(
            "Change a subscription's status (PLATFORM_ADMIN). DELETED ends its associations with SUBSCRIPTION_DELETED."
        ),
    )
    async def set_subscription_status(
        self, info: Info[RequestContext, None], input: Annotated[SetSubscriptionStatusInput, MutationInput]
    ) -> SubscriptionPayload:
        return await run(info, provisioning.set_subscription_status, input.arguments(), SubscriptionPayload.from_row)

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="Give a partner admin rights on a customer tenant (PLATFORM_ADMIN), until ended or until"
        " `expiresAt`.",
    )
    async def create_delegated_admin_relationship(
        self, info: Info[RequestContext, None], input: Annotated[CreateDelegatedAdminRelationshipInput, MutationInput]
    ) -> DelegatedAdminRelationshipPayload:
        return await run(
            info,
            delegations.create_delegated_admin_relationship,
            input.arguments(),
            DelegatedAdminRelationshipPayload.from_row,
        )

    @strawberry.mutation(
        permission_classes=GUARDED,
        description="End a delegated admin relationship (PLATFORM_ADMIN, or the tenant's OWNER); the partner's admin"
        " links on the tenant end at the same instant with ROLE_REVOKED, and attribution through them stops there."
        " A relationship already past its expiresAt ends at that expiry.",
    )
    async def end_delegated_admin_relationship(
        self, info: Info[RequestContext, None], input: Annotated[EndDelegatedAdminRelationshipInput, MutationInput]
    ) -> DelegatedAdminRelationshipPayload:
        return await run(
            info,
            delegations.end_delegated_admin_relationship,
            input.arguments(),
            DelegatedAdminRelationshipPayload.from_row,
        )
