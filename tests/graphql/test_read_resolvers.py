"""The root reads of resolvers/reads/, called as plain functions without GraphQL, on both databases: a caller gets
the rows its row filters reach and never another tenant's, pages follow their keyset, filters narrow, and
attributedSubscriptions takes whose rows from auth.policy.OPERATIONS."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from auth.policy import OPERATIONS, RowFilter
from auth.principal import Principal, Role
from auth.scope import CallerScope, resolve_scope
from db import statement_counter
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType, Offer, SubscriptionStatus, TenantStatus
from db.models import PartnerAssociation
from resolvers.errors import BadUserInput, Forbidden, NotFound
from resolvers.loaders import Loaders
from resolvers.pagination import Paging
from resolvers.reads.attributed import AssociationFilter, attributed_subscriptions
from resolvers.reads.audit_events import AuditEventFilter, list_audit_events
from resolvers.reads.listing import Listing
from resolvers.reads.nodes import NODE_LOADERS, load_nodes
from resolvers.reads.partners import list_partners, partner_by_mpn_id
from resolvers.reads.subscriptions import SubscriptionFilter, list_subscriptions
from resolvers.reads.tenants import TenantFilter, list_tenants
from schema.query import NODE_TYPES
from tests import factories
from tests.api import combined, principal


def _at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


@dataclass
class World:
    """Tenants alpha (US, active) and beta (DE, suspended); partners p and q. Alpha holds a1 < a2 < a3 (creation
    order), beta b1. p: a1's DPOR, an ended transacting row on a1 before it, and an ended one on b1; q: a2's DPOR
    and an active delegated admin relationship on alpha. Audit: two events of alpha, one of beta."""

    ids: dict[str, uuid.UUID]
    callers: dict[str, Principal]
    mpn: dict[str, str]

    def names(self, rows: Sequence[Any]) -> list[str]:
        by_id = {row_id: name for name, row_id in self.ids.items()}
        return [by_id[row.id] for row in rows]


@pytest.fixture
async def world(database: Database) -> World:
    alpha = factories.tenant(display_name="Alpha", country_code="US")
    beta = factories.tenant(display_name="Beta", country_code="DE", status=TenantStatus.SUSPENDED)
    p, q = factories.partner(name="Contoso"), factories.partner(name="Fabrikam")
    a1 = factories.subscription(alpha, created_at=_at(1, 1))
    a2 = factories.subscription(alpha, created_at=_at(1, 2), offer=Offer.MICROSOFT_365)
    a3 = factories.subscription(alpha, created_at=_at(1, 3), status=SubscriptionStatus.SUSPENDED)
    b1 = factories.subscription(beta, created_at=_at(1, 4))
    ended = {"end_reason": AssociationEndReason.UNLINKED, "ended_by": "test-subject"}
    rows: dict[str, Any] = {
        "p_a1_dpor": factories.association(a1, p, valid_from=_at(2, 1)),
        "p_a1_transacting": factories.association(
            a1, p, type=AssociationType.TRANSACTING_PARTNER, valid_from=_at(1, 10), valid_to=_at(1, 20), **ended
        ),
        "q_a2_dpor": factories.association(a2, q, valid_from=_at(2, 1)),
        "p_b1_transacting": factories.association(
            b1, p, type=AssociationType.TRANSACTING_PARTNER, valid_from=_at(3, 1), valid_to=_at(4, 1), **ended
        ),
    }
    events = {
        "alpha_link": _event("linkPartner", alpha.id, None, _at(5, 1)),
        "alpha_dpor": _event("setDigitalPartnerOfRecord", alpha.id, a1.id, _at(5, 2)),
        "beta_update": _event("updateTenant", beta.id, None, _at(5, 3)),
    }
    async with database.write() as session:
        await factories.add_flushed(session, alpha, beta, p, q)
        await factories.add_flushed(
            session, a1, a2, a3, b1, DelegatedAdminRelationship(tenant_id=alpha.id, partner_id=q.id)
        )
        await factories.add_flushed(session, *rows.values(), *events.values())
    named = {"alpha": alpha, "beta": beta, "p": p, "q": q, "a1": a1, "a2": a2, "a3": a3, "b1": b1}
    callers = {
        "owner_alpha": principal(Role.OWNER, tenant=alpha.external_id),
        "co_admin_beta": principal(Role.CO_ADMIN, tenant=beta.external_id),
        "delegated_q_alpha": principal(Role.DELEGATED_ADMIN, tenant=alpha.external_id, partner=q.mpn_id),
        "delegated_p_alpha": principal(Role.DELEGATED_ADMIN, tenant=alpha.external_id, partner=p.mpn_id),
        "partner_p": principal(Role.PARTNER, partner=p.mpn_id),
        "partner_q": principal(Role.PARTNER, partner=q.mpn_id),
        "partner_unknown": principal(Role.PARTNER, partner="999999999"),
        "platform_admin": principal(Role.PLATFORM_ADMIN),
        "usage_ingest": principal(Role.USAGE_INGEST),
    }
    callers["owner_beta_partner_p"] = combined(
        principal(Role.OWNER, tenant=beta.external_id), callers["partner_p"], subject="owner-beta-partner-p"
    )
    return World(
        ids={name: row.id for name, row in (named | rows | events).items()},
        callers=callers,
        mpn={"p": p.mpn_id, "q": q.mpn_id},
    )


def _event(action: str, tenant_id: uuid.UUID, subscription_id: uuid.UUID | None, at: datetime) -> AuditEvent:
    return AuditEvent(
        occurred_at=at,
        request_id="test-request",
        actor_subject="test-subject",
        actor_role=Role.OWNER.value,
        action=action,
        target_type="Tenant",
        target_id=tenant_id.hex,
        tenant_id=tenant_id,
        subscription_id=subscription_id,
    )


async def _scope(database: Database, world: World, caller: str) -> CallerScope:
    async with database.read() as session:
        return await resolve_scope(session, world.callers[caller])


async def _all(listing: Listing[Any], world: World) -> tuple[list[str], int]:
    return world.names(listing.page.items), await listing.count()


# Who sees which rows, written out by hand from auth.policy.READ (a delegated admin without an active relationship
# is no delegated admin; a partner whose MPN id names no partner reaches nothing).
SUBSCRIPTIONS = {
    "owner_alpha": ["a1", "a2", "a3"],
    "co_admin_beta": ["b1"],
    "delegated_q_alpha": ["a1", "a2", "a3"],
    "delegated_p_alpha": [],
    "partner_p": ["a1", "b1"],
    "partner_q": ["a2"],
    "partner_unknown": [],
    "platform_admin": ["a1", "a2", "a3", "b1"],
    "usage_ingest": [],
    "owner_beta_partner_p": ["a1", "b1"],
}
TENANTS = {
    "owner_alpha": ["alpha"],
    "co_admin_beta": ["beta"],
    "delegated_q_alpha": ["alpha"],
    "delegated_p_alpha": [],
    "partner_p": ["alpha", "beta"],
    "partner_q": ["alpha"],
    "partner_unknown": [],
    "platform_admin": ["alpha", "beta"],
    "usage_ingest": [],
    "owner_beta_partner_p": ["alpha", "beta"],
}
PARTNERS = {
    "owner_alpha": ["p", "q"],
    "co_admin_beta": ["p", "q"],
    "delegated_q_alpha": ["p", "q"],
    "delegated_p_alpha": [],
    "partner_p": ["p"],
    "partner_q": ["q"],
    "partner_unknown": [],
    "platform_admin": ["p", "q"],
    "usage_ingest": [],
    "owner_beta_partner_p": ["p", "q"],
}
AUDIT_EVENTS = {
    "owner_alpha": ["alpha_dpor", "alpha_link"],
    "co_admin_beta": ["beta_update"],
    "delegated_q_alpha": ["alpha_dpor", "alpha_link"],
    "delegated_p_alpha": [],
    "partner_p": [],
    "partner_q": [],
    "partner_unknown": [],
    "platform_admin": ["beta_update", "alpha_dpor", "alpha_link"],
    "usage_ingest": [],
    "owner_beta_partner_p": ["beta_update"],
}
EVERY = Paging(first=100)


@pytest.mark.parametrize("caller", sorted(SUBSCRIPTIONS))
async def test_each_list_holds_exactly_the_rows_the_callers_row_filters_reach(
    database: Database, world: World, caller: str
) -> None:
    scope = await _scope(database, world, caller)
    expected = {
        "subscriptions": SUBSCRIPTIONS[caller],
        "tenants": TENANTS[caller],
        "partners": PARTNERS[caller],
        "auditEvents": AUDIT_EVENTS[caller],
    }
    found = {
        "subscriptions": await _all(await list_subscriptions(database, scope, SubscriptionFilter(), EVERY), world),
        "tenants": await _all(await list_tenants(database, scope, TenantFilter(), EVERY), world),
        "partners": await _all(await list_partners(database, scope, None, EVERY), world),
        "auditEvents": await _all(await list_audit_events(database, scope, AuditEventFilter(), EVERY), world),
    }
    assert found == {name: (rows, len(rows)) for name, rows in expected.items()}


async def test_a_filter_naming_another_tenant_finds_nothing_of_it(database: Database, world: World) -> None:
    scope = await _scope(database, world, "owner_alpha")
    beta = world.ids["beta"]
    subscriptions = await list_subscriptions(database, scope, SubscriptionFilter(tenant_id=beta), EVERY)
    events = await list_audit_events(database, scope, AuditEventFilter(tenant_id=beta), EVERY)
    tenants = await list_tenants(database, scope, TenantFilter(search="Beta"), EVERY)
    assert [await _all(listing, world) for listing in (subscriptions, events, tenants)] == [([], 0)] * 3


async def test_pages_follow_the_keyset_and_the_count_is_the_whole_list(database: Database, world: World) -> None:
    scope = await _scope(database, world, "platform_admin")
    first = await list_subscriptions(database, scope, SubscriptionFilter(), Paging(first=3))
    rest = await list_subscriptions(
        database, scope, SubscriptionFilter(), Paging(first=3, after=first.page.cursors[-1])
    )

    assert world.names(first.page.items) == ["a1", "a2", "a3"]
    assert (first.page.has_next_page, first.page.has_previous_page) == (True, False)
    assert world.names(rest.page.items) == ["b1"]
    assert (rest.page.has_next_page, rest.page.has_previous_page) == (False, True)
    assert (await first.count(), await rest.count()) == (4, 4)


async def test_the_default_page_is_twenty_and_never_above_the_bound(database: Database, world: World) -> None:
    scope = await _scope(database, world, "platform_admin")
    assert Paging().size() == 20
    bounded = await list_partners(database, scope, None, Paging(maximum=1))
    assert (world.names(bounded.page.items), bounded.page.has_next_page) == (["p"], True)


@pytest.mark.parametrize("paging", [Paging(first=0), Paging(first=3, maximum=2)])
async def test_a_page_size_outside_the_bound_is_bad_user_input(
    database: Database, world: World, paging: Paging
) -> None:
    scope = await _scope(database, world, "platform_admin")
    with pytest.raises(BadUserInput) as refused:
        await list_tenants(database, scope, TenantFilter(), paging)
    assert refused.value.extensions.get("field") == "first"


async def test_a_cursor_of_another_connection_is_bad_user_input(database: Database, world: World) -> None:
    scope = await _scope(database, world, "platform_admin")
    tenants = await list_tenants(database, scope, TenantFilter(), Paging(first=1))
    with pytest.raises(BadUserInput):
        await list_subscriptions(database, scope, SubscriptionFilter(), Paging(after=tenants.page.cursors[0]))


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (TenantFilter(search="LPH"), ["alpha"]),
        (TenantFilter(search="%"), []),  # LIKE wildcards are taken literally
        (TenantFilter(country_code="DE"), ["beta"]),
        (TenantFilter(status=TenantStatus.ACTIVE), ["alpha"]),
        (TenantFilter(search="a", status=TenantStatus.SUSPENDED), ["beta"]),
    ],
)
async def test_tenant_filters(database: Database, world: World, wanted: TenantFilter, expected: list[str]) -> None:
    scope = await _scope(database, world, "platform_admin")
    assert await _all(await list_tenants(database, scope, wanted, EVERY), world) == (expected, len(expected))


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ({"offer": Offer.MICROSOFT_365}, ["a2"]),
        ({"status": SubscriptionStatus.SUSPENDED}, ["a3"]),
        ({"has_digital_partner_of_record": True}, ["a1", "a2"]),
        ({"has_digital_partner_of_record": False}, ["a3", "b1"]),
        ({"partner_id": "p"}, ["a1", "b1"]),
        ({"tenant_id": "beta"}, ["b1"]),
        ({"tenant_id": "alpha", "partner_id": "q"}, ["a2"]),
    ],
)
async def test_subscription_filters(
    database: Database, world: World, wanted: dict[str, Any], expected: list[str]
) -> None:
    scope = await _scope(database, world, "platform_admin")
    ids = {key: world.ids[value] for key, value in wanted.items() if key in ("tenant_id", "partner_id")}
    filter = SubscriptionFilter(**(wanted | ids))
    assert await _all(await list_subscriptions(database, scope, filter, EVERY), world) == (expected, len(expected))


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ({"action": "linkPartner"}, ["alpha_link"]),
        ({"from_": _at(5, 2)}, ["beta_update", "alpha_dpor"]),
        ({"to": _at(5, 2)}, ["alpha_link"]),
        ({"from_": _at(5, 2), "to": _at(5, 3)}, ["alpha_dpor"]),
        ({"subscription_id": "a1"}, ["alpha_dpor"]),
        ({"tenant_id": "alpha"}, ["alpha_dpor", "alpha_link"]),
    ],
)
async def test_audit_event_filters(
    database: Database, world: World, wanted: dict[str, Any], expected: list[str]
) -> None:
    scope = await _scope(database, world, "platform_admin")
    ids = {key: world.ids[value] for key, value in wanted.items() if key in ("tenant_id", "subscription_id")}
    filter = AuditEventFilter(**(wanted | ids))
    assert await _all(await list_audit_events(database, scope, filter, EVERY), world) == (expected, len(expected))


async def test_partners_are_searched_by_part_of_the_name_or_the_exact_mpn_id(database: Database, world: World) -> None:
    scope = await _scope(database, world, "owner_alpha")
    by_name = await list_partners(database, scope, "abri", EVERY)
    by_mpn = await list_partners(database, scope, world.mpn["p"], EVERY)
    by_part_of_mpn = await list_partners(database, scope, world.mpn["p"][:-1], EVERY)
    assert [await _all(found, world) for found in (by_name, by_mpn, by_part_of_mpn)] == [
        (["q"], 1),
        (["p"], 1),
        ([], 0),
    ]


async def test_a_partner_by_mpn_id_out_of_reach_is_not_found_like_one_that_does_not_exist(
    database: Database, world: World
) -> None:
    partner_p = await _scope(database, world, "partner_p")
    owner = await _scope(database, world, "owner_alpha")
    assert world.names([await partner_by_mpn_id(database, partner_p, world.mpn["p"])]) == ["p"]
    assert world.names([await partner_by_mpn_id(database, owner, world.mpn["q"])]) == ["q"]
    for mpn_id in (world.mpn["q"], "999999999"):
        with pytest.raises(NotFound):
            await partner_by_mpn_id(database, partner_p, mpn_id)


async def _attributed(
    database: Database,
    world: World,
    caller: str,
    partner: str | None = None,
    filter: AssociationFilter | None = None,
) -> list[tuple[str, list[str]]]:
    """Every attributed subscription (one page holds them all), each with its association rows."""
    scope = await _scope(database, world, caller)
    partner_id = world.ids[partner] if partner is not None else None
    found = await attributed_subscriptions(database, scope, partner_id, filter or AssociationFilter(), EVERY)
    assert (found.total, found.page.has_next_page) == (len(found.page.items), False)
    return [(world.names([row])[0], world.names(found.associations_of(row.id))) for row in found.page.items]


P_ATTRIBUTED = [("a1", ["p_a1_transacting", "p_a1_dpor"]), ("b1", ["p_b1_transacting"])]


@pytest.mark.parametrize(
    ("caller", "partner", "expected"),
    [
        ("partner_p", None, P_ATTRIBUTED),
        ("partner_p", "p", P_ATTRIBUTED),
        ("partner_q", None, [("a2", ["q_a2_dpor"])]),
        ("platform_admin", "p", P_ATTRIBUTED),
        ("platform_admin", "q", [("a2", ["q_a2_dpor"])]),
        # A tenant owner who is also partner p: p's rows, of every tenant, whatever the owner role reaches.
        ("owner_beta_partner_p", None, P_ATTRIBUTED),
        # The token's MPN id names no partner (yet): an empty page, not an error.
        ("partner_unknown", None, []),
    ],
)
async def test_attributed_subscriptions_are_the_partners_own_with_its_rows_oldest_first(
    database: Database, world: World, caller: str, partner: str | None, expected: list[tuple[str, list[str]]]
) -> None:
    assert await _attributed(database, world, caller, partner) == expected


@pytest.mark.parametrize(
    ("caller", "partner", "refusal"),
    [
        ("partner_p", "q", NotFound),  # another partner: as if it did not exist
        ("partner_unknown", "p", NotFound),
        ("owner_beta_partner_p", "q", NotFound),
        ("platform_admin", None, BadUserInput),  # no partner of its own: partnerId is required
        ("owner_alpha", None, Forbidden),  # no grant on the operation at all
        ("owner_alpha", "p", Forbidden),
        ("delegated_q_alpha", "q", Forbidden),
    ],
)
async def test_attributed_subscriptions_refuse_what_the_grants_do_not_reach(
    database: Database, world: World, caller: str, partner: str | None, refusal: type[Exception]
) -> None:
    with pytest.raises(refusal):
        await _attributed(database, world, caller, partner)


def test_the_refusals_above_follow_the_operations_grants() -> None:
    """Who may omit partnerId is whoever holds an OWN_PARTNER grant, and a named partner needs ALL or its own: if
    the table changes, the expectations above must be rewritten rather than silently pass."""
    grants = OPERATIONS["attributedSubscriptions"].grants
    assert {role: grant.reach for role, grant in grants.items()} == {
        Role.PARTNER: RowFilter.OWN_PARTNER,
        Role.PLATFORM_ADMIN: RowFilter.ALL,
    }


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (AssociationFilter(type=AssociationType.DIGITAL_PARTNER_OF_RECORD), [("a1", ["p_a1_dpor"])]),
        (AssociationFilter(active_at=_at(1, 15)), [("a1", ["p_a1_transacting"])]),
        (AssociationFilter(active_at=_at(1, 20)), []),  # ended at that instant
        (AssociationFilter(from_=_at(3, 15), to=_at(3, 20)), [("a1", ["p_a1_dpor"]), ("b1", ["p_b1_transacting"])]),
        (AssociationFilter(to=_at(1, 31)), [("a1", ["p_a1_transacting"])]),
        (AssociationFilter(from_=_at(4, 1)), [("a1", ["p_a1_dpor"])]),
    ],
)
async def test_attributed_subscriptions_filter_the_association_rows(
    database: Database, world: World, filter: AssociationFilter, expected: list[tuple[str, list[str]]]
) -> None:
    assert await _attributed(database, world, "partner_p", filter=filter) == expected


async def test_an_empty_attributed_window_is_bad_user_input(database: Database, world: World) -> None:
    with pytest.raises(BadUserInput) as refused:
        await _attributed(database, world, "partner_p", filter=AssociationFilter(from_=_at(3, 1), to=_at(3, 1)))
    assert refused.value.extensions.get("field") == "filter.from"


async def test_attributed_subscriptions_page_by_subscription_order(database: Database, world: World) -> None:
    scope = await _scope(database, world, "partner_p")
    first = await attributed_subscriptions(database, scope, None, AssociationFilter(), Paging(first=1))
    rest = await attributed_subscriptions(
        database, scope, None, AssociationFilter(), Paging(first=1, after=first.page.cursors[0])
    )
    assert (world.names(first.page.items), first.page.has_next_page, first.total) == (["a1"], True, 2)
    assert (world.names(rest.page.items), rest.page.has_next_page, rest.page.has_previous_page) == (["b1"], False, True)
    assert world.names(rest.associations_of(world.ids["b1"])) == ["p_b1_transacting"]


async def test_attributed_first_pages_count_the_same_as_pages_after_a_cursor(database: Database, world: World) -> None:
    """A first page counts with a window function over its rows, a later page with a statement of its own: the same
    total either way, and 0 for a first page with no rows."""
    scope = await _scope(database, world, "partner_p")
    first = await attributed_subscriptions(database, scope, None, AssociationFilter(), Paging(first=1))
    rest = await attributed_subscriptions(
        database, scope, None, AssociationFilter(), Paging(first=1, after=first.page.cursors[0])
    )
    narrowed = AssociationFilter(type=AssociationType.DIGITAL_PARTNER_OF_RECORD)
    some = await attributed_subscriptions(database, scope, None, narrowed, Paging(first=5))
    none = await attributed_subscriptions(database, scope, None, AssociationFilter(to=_at(1, 1)), Paging(first=5))
    assert (first.total, rest.total) == (2, 2)
    # A first page reads the tenants it may see with it (for the tenant loader); a later page leaves them to it.
    assert (world.names(list(first.tenants.values())), rest.tenants) == (["alpha"], {})
    assert (world.names(some.page.items), some.total) == (["a1"], 1)
    assert (none.page.items, none.total, none.page.has_next_page) == ([], 0, False)


async def test_nodes_are_read_in_order_one_statement_per_type_and_none_out_of_reach(
    database: Database, world: World
) -> None:
    loaders = Loaders(database, await _scope(database, world, "owner_alpha"))
    refs = [
        ("Subscription", world.ids["a3"]),
        ("Tenant", world.ids["beta"]),
        ("Viewer", world.ids["alpha"]),
        ("Subscription", world.ids["b1"]),
        ("Tenant", world.ids["alpha"]),
        ("Subscription", world.ids["a1"]),
        ("PartnerAssociation", world.ids["p_b1_transacting"]),
    ]
    statement_counter.install(database.engine)
    with statement_counter.counting() as count:
        rows = await load_nodes(loaders, refs)
    assert [world.names([row])[0] if row is not None else None for row in rows] == [
        "a3",
        None,
        None,
        None,
        "alpha",
        "a1",
        None,
    ]
    assert count.statements == 3  # subscriptions, tenants, associations


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        # a1's DPOR is p's, a2's q's, a3 has none; partner_p reaches a1 only (a2 is not attributed to it).
        ("owner_alpha", {"a1": ["p_a1_dpor"], "a2": ["q_a2_dpor"], "a3": []}),
        ("partner_p", {"a1": ["p_a1_dpor"], "a2": None, "a3": None}),
        ("platform_admin", {"a1": ["p_a1_dpor"], "a2": ["q_a2_dpor"], "a3": []}),
    ],
)
async def test_subscriptions_by_id_bring_their_active_dpor_in_the_same_statement(
    database: Database, world: World, caller: str, expected: dict[str, list[str] | None]
) -> None:
    """The subscription loader reads each subscription's active DPOR rows and their partners in its one statement:
    the active_dpor loader then answers without a statement, with the rows it would read itself."""
    prefetched = Loaders(database, await _scope(database, world, caller))
    own = Loaders(database, await _scope(database, world, caller))
    names = ["a1", "a2", "a3"]
    statement_counter.install(database.engine)
    with statement_counter.counting() as count:
        subscriptions = await prefetched.subscription.load_many([world.ids[name] for name in names])
        dpor = [
            await prefetched.active_dpor.load(world.ids[name])
            for name, row in zip(names, subscriptions, strict=True)
            if row
        ]
        partners = [await prefetched.partner.load(row.partner_id) for rows in dpor for row in rows]
    assert count.statements == 1
    visible = [name for name, row in zip(names, subscriptions, strict=True) if row is not None]
    read_alone = [await own.active_dpor.load(world.ids[name]) for name in visible]
    found = dict(zip(visible, (world.names(rows) for rows in dpor), strict=True))
    assert {name: found.get(name) for name in names} == expected
    assert [world.names(rows) for rows in dpor] == [world.names(rows) for rows in read_alone]
    assert [partner.id if partner else None for partner in partners] == [
        row.partner_id for rows in read_alone for row in rows
    ]


def test_every_node_type_read_has_a_converter() -> None:
    assert set(NODE_LOADERS) == set(NODE_TYPES)


async def test_an_association_row_of_another_partner_never_rides_along(database: Database, world: World) -> None:
    """q's DPOR on a2 shares a tenant with p's rows: p's attributed page holds only rows naming p."""
    async with database.write() as session:
        await factories.add_flushed(
            session,
            PartnerAssociation(
                subscription_id=world.ids["a1"],
                partner_id=world.ids["q"],
                type=AssociationType.TRANSACTING_PARTNER,
                valid_from=_at(2, 2),
                created_by="test-subject",
            ),
        )
    assert await _attributed(database, world, "platform_admin", "p") == P_ATTRIBUTED
