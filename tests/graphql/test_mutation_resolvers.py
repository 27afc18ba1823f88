"""The mutations' plain functions, called without GraphQL: what they return is what the transaction wrote, and only
what the caller's row filters let it see (a payload is no way round them)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from auth.policy import READ, Entity
from auth.principal import Principal, Role
from auth.scope import CallerScope, resolve_scope
from db import statement_counter
from db.association import PartnerAssociation
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationType, DelegationStatus, Offer, SubscriptionStatus, TenantStatus
from db.idempotency import IdempotencyRecord
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers import associations, delegations, idempotency, ingest, provisioning
from resolvers.association_change import AssociationChange, shown_change, written
from resolvers.errors import NotFound
from resolvers.in_reach import MODELS, visible
from resolvers.transaction import in_transaction
from resolvers.usage.validation import UsageRecordInput
from tests import factories
from tests.api import principal

R = TypeVar("R")
ADMIN = principal(Role.PLATFORM_ADMIN, subject="admin")


async def _scope(database: Database, caller: Principal) -> CallerScope:
    async with database.read() as session:
        return await resolve_scope(session, caller)


async def _write(
    database: Database, caller: Principal, work: Callable[[Any, CallerScope, str, Any], Awaitable[R]], args: Any
) -> R:
    scope = await _scope(database, caller)
    return await in_transaction(database, lambda session: work(session, scope, "request-1", args))


async def _world(database: Database) -> dict[str, Any]:
    """Tenant A (subscription with partner X as DPOR and partner P admin-linked, a contact, P's delegation) and B."""
    a, b, x, p = factories.tenant(), factories.tenant(), factories.partner(), factories.partner()
    async with database.write() as session:
        await factories.add_flushed(session, a, b, x, p)
        sub, other = factories.subscription(a), factories.subscription(b)
        await factories.add_flushed(session, sub, other)
        dpor = factories.association(sub, x)
        link = factories.association(sub, p, type=AssociationType.PARTNER_ADMIN_LINK)
        contact = TenantContact(tenant_id=a.id, name="Ada", email="ada@a.example.com")
        delegation = DelegatedAdminRelationship(tenant_id=a.id, partner_id=p.id)
        await factories.add_flushed(session, dpor, link, contact, delegation)
    return {
        "a": a,
        "b": b,
        "x": x,
        "p": p,
        "sub": sub,
        "other": other,
        "dpor": dpor,
        "link": link,
        "contact": contact,
        "delegation": delegation,
        "owner_a": principal(Role.OWNER, tenant=a.external_id, subject="owner@a"),
        "owner_b": principal(Role.OWNER, tenant=b.external_id, subject="owner@b"),
        "partner_p": principal(Role.PARTNER, partner=p.mpn_id, subject="partner@p"),
    }


# The row filters on rows in hand (resolvers.in_reach) -----------------------------------------------------------

_ROWS_OF_TENANT_A = {
    Entity.TENANT: "a",
    Entity.CONTACT: "contact",
    Entity.SUBSCRIPTION: "sub",
    Entity.PARTNER_ASSOCIATION: "dpor",
    Entity.DELEGATED_ADMIN_RELATIONSHIP: "delegation",
}


@pytest.mark.parametrize("entity", list(_ROWS_OF_TENANT_A))
async def test_a_row_of_tenant_a_is_visible_to_its_owner_and_hidden_from_b_s(
    database: Database, entity: Entity
) -> None:
    w = await _world(database)
    row = w[_ROWS_OF_TENANT_A[entity]]
    assert isinstance(row, MODELS[entity])
    for caller, expected in ((w["owner_a"], True), (w["owner_b"], False)):
        scope = await _scope(database, caller)
        async with database.write() as session:
            assert await visible(session, scope, (entity, row.id)) == (expected,), (entity, caller.subject)


async def test_several_rows_are_checked_in_one_statement_and_a_platform_admin_s_in_none(database: Database) -> None:
    w = await _world(database)
    rows = ((Entity.SUBSCRIPTION, w["sub"].id), (Entity.PARTNER_ASSOCIATION, w["dpor"].id), (Entity.PARTNER, None))
    for caller, expected, statements in (
        (w["partner_p"], (True, False, False), 1),  # P reaches the subscription, not X's association
        (ADMIN, (True, True, False), 0),  # ALL: nothing to ask
    ):
        scope = await _scope(database, caller)
        statement_counter.install(database.engine)
        async with database.write() as session:
            with statement_counter.counting() as count:
                assert await visible(session, scope, *rows) == expected
        assert count.statements == statements


def test_every_entity_a_payload_carries_has_a_table() -> None:
    # Usage and audit events are never mutation payloads; every other entity of the READ table may be one.
    assert set(MODELS) == set(READ) - {Entity.USAGE, Entity.AUDIT_EVENT}


# Association changes -------------------------------------------------------------------------------------------


async def test_setting_the_dpor_returns_the_rows_as_written(database: Database) -> None:
    w = await _world(database)
    args = associations.SetDporArgs(w["sub"].id, w["p"].id, expected_version=1, idempotency_key="key-1")
    shown = await _write(database, w["owner_a"], associations.set_digital_partner_of_record, args)

    assert (shown.changed, shown.message, shown.subscription_version) == (True, "replaced", 2)
    assert shown.subscription.id == w["sub"].id
    assert shown.association is not None and shown.previous_association is not None
    assert (shown.association.partner_id, shown.association.valid_to) == (w["p"].id, None)
    assert shown.previous_association.id == w["dpor"].id
    assert shown.previous_association.valid_to == shown.association.valid_from


async def test_a_replay_shows_the_first_result_not_the_current_state(database: Database) -> None:
    w = await _world(database)
    first_args = associations.SetDporArgs(w["sub"].id, w["p"].id, expected_version=1, idempotency_key="key-1")
    first = await _write(database, w["owner_a"], associations.set_digital_partner_of_record, first_args)
    later = associations.SetDporArgs(w["sub"].id, w["x"].id, expected_version=2, idempotency_key=None)
    await _write(database, w["owner_a"], associations.set_digital_partner_of_record, later)

    replayed = await _write(database, w["owner_a"], associations.set_digital_partner_of_record, first_args)
    assert replayed.subscription_version == 2  # the row is at 3 now
    assert replayed.subscription.version == 3
    assert replayed.association is not None and first.association is not None
    assert (replayed.association.id, replayed.association.valid_to) == (first.association.id, None)


async def test_a_result_stored_before_rows_were_recorded_shows_the_rows_as_they_are_now(database: Database) -> None:
    w = await _world(database)
    args = associations.SetDporArgs(w["sub"].id, w["p"].id, expected_version=1, idempotency_key="old-key")
    # As resolvers.associations fingerprints an input (the key itself is not part of it).
    fingerprint = idempotency.input_hash("setDigitalPartnerOfRecord", asdict(args) | {"idempotency_key": None})
    old_result = {
        "subscription_id": w["sub"].id.hex,
        "association_id": w["dpor"].id.hex,
        "previous_association_id": None,
        "changed": True,
        "message": "set",
    }
    async with database.write() as session:
        session.add(
            IdempotencyRecord(
                caller="owner@a",
                key="old-key",
                operation="setDigitalPartnerOfRecord",
                input_hash=fingerprint,
                result=old_result,
            )
        )

    shown = await _write(database, w["owner_a"], associations.set_digital_partner_of_record, args)
    assert (shown.message, shown.subscription_version, shown.previous_association) == ("set", 1, None)
    assert shown.association is not None and shown.association.id == w["dpor"].id


async def test_an_association_change_shows_nothing_outside_the_caller_s_reach(database: Database) -> None:
    """The payload's read is scoped: the same recorded change, shown to other callers."""
    w = await _world(database)
    args = associations.SetDporArgs(w["sub"].id, w["p"].id, expected_version=1, idempotency_key=None)
    await _write(database, w["owner_a"], associations.set_digital_partner_of_record, args)
    async with database.read() as session:
        previous = (
            await session.scalars(select(PartnerAssociation).where(PartnerAssociation.id == w["dpor"].id))
        ).one()
    change = AssociationChange(
        subscription_id=w["sub"].id.hex,
        association_id=None,
        previous_association_id=previous.id.hex,
        changed=True,
        message="replaced",
        subscription_version=2,
        association=None,
        previous_association=written(previous),
    )

    async def show(caller: Principal) -> Any:
        scope = await _scope(database, caller)
        async with database.write() as session:
            subscription = await session.get(Subscription, w["sub"].id)
            assert subscription is not None
            return await shown_change(session, scope, subscription, change)

    assert (await show(w["owner_a"])).previous_association.id == previous.id
    # Partner P reaches the subscription (it is associated with it), never partner X's association row.
    as_partner = await show(w["partner_p"])
    assert (as_partner.subscription.id, as_partner.previous_association) == (w["sub"].id, None)
    # Tenant B's owner reaches neither: NOT_FOUND, as for a subscription that does not exist.
    with pytest.raises(NotFound):
        await show(w["owner_b"])


async def test_a_foreign_subscription_is_not_found_and_nothing_is_written(database: Database) -> None:
    w = await _world(database)
    args = associations.SetDporArgs(w["other"].id, w["p"].id, expected_version=1, idempotency_key=None)
    with pytest.raises(NotFound):
        await _write(database, w["owner_a"], associations.set_digital_partner_of_record, args)
    async with database.read() as session:
        assert await session.scalar(select(Subscription.version).where(Subscription.id == w["other"].id)) == 1


# Provisioning, delegations, ingestion ---------------------------------------------------------------------------


async def test_provisioning_returns_each_row_as_written(database: Database) -> None:
    w = await _world(database)
    tenant = await _write(
        database,
        ADMIN,
        provisioning.create_tenant,
        provisioning.CreateTenantArgs(uuid.uuid4(), "New tenant", "new.example.com", "DE"),
    )
    assert isinstance(tenant, Tenant) and tenant.display_name == "New tenant"
    updated = await _write(
        database,
        ADMIN,
        provisioning.update_tenant,
        provisioning.UpdateTenantArgs(tenant.id, "Renamed", None, None, TenantStatus.SUSPENDED),
    )
    assert (updated.id, updated.display_name, updated.status) == (tenant.id, "Renamed", TenantStatus.SUSPENDED)
    owner, contact = await _write(
        database,
        ADMIN,
        provisioning.add_tenant_contact,
        provisioning.AddContactArgs(tenant.id, "Grace", "grace@new.example.com", None),
    )
    assert (owner.id, contact.tenant_id, contact.name) == (tenant.id, tenant.id, "Grace")
    partner = await _write(
        database, ADMIN, provisioning.create_partner, provisioning.CreatePartnerArgs("4242", "Partner Q", "FR")
    )
    assert partner.mpn_id == "4242"
    created = await _write(
        database,
        ADMIN,
        provisioning.create_subscription,
        provisioning.CreateSubscriptionArgs(w["a"].id, "ext-new", Offer.AZURE, "Fresh"),
    )
    assert (created.tenant_id, created.version, created.status) == (w["a"].id, 1, SubscriptionStatus.ACTIVE)
    deleted = await _write(
        database,
        ADMIN,
        provisioning.set_subscription_status,
        provisioning.SetStatusArgs(w["sub"].id, SubscriptionStatus.DELETED),
    )
    assert (deleted.status, deleted.version) == (SubscriptionStatus.DELETED, 2)  # its associations ended


async def test_ending_a_delegation_returns_it_to_its_tenant_s_owner(database: Database) -> None:
    w = await _world(database)
    created = await _write(
        database,
        ADMIN,
        delegations.create_delegated_admin_relationship,
        delegations.CreateDelegationArgs(w["a"].id, w["x"].id),
    )
    assert (created.tenant_id, created.status) == (w["a"].id, DelegationStatus.ACTIVE)
    ended = await _write(database, w["owner_a"], delegations.end_delegated_admin_relationship, created.id)
    assert (ended.id, ended.status) == (created.id, DelegationStatus.ENDED)
    with pytest.raises(NotFound):  # another tenant's owner: the relationship is not in its reach
        await _write(database, w["owner_b"], delegations.end_delegated_admin_relationship, created.id)


async def test_an_ingested_batch_reports_its_outcome_and_a_replay_repeats_it(database: Database) -> None:
    w = await _world(database)
    record = UsageRecordInput(
        subscription_id=w["sub"].external_id,
        usage_date=date(2026, 1, 2),
        service="Virtual Machines",
        meter_id="m-1",
        meter_name="D2s v5",
        quantity=Decimal("2.5"),
        unit="Hours",
        amount=Decimal("1.25"),
        currency="EUR",
    )
    ingester = principal(Role.USAGE_INGEST, subject="ingester")
    args = ingest.IngestArgs([record], idempotency_key="batch-1")
    first = await _write(database, ingester, ingest.ingest, args)
    assert (first.inserted, first.replaced, first.freshness) == (1, 0, [(w["sub"].external_id, "2026-01-02")])
    assert await _write(database, ingester, ingest.ingest, args) == first
