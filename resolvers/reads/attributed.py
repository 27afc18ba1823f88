"""`attributedSubscriptions` (and `Partner.attributedSubscriptions`): the subscriptions a partner is or was
associated with, in subscription order, each with the partner's association rows on it, oldest first.

Whose rows is decided by auth.policy.OPERATIONS["attributedSubscriptions"]: a role with an OWN_PARTNER grant gets
its own partner's when no partner is named; a named partner must be within a held grant's reach, otherwise it is
NOT_FOUND, exactly like a partner that does not exist.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Uuid, bindparam, func, select
from sqlalchemy.orm import aliased

from auth.policy import Entity, RowFilter, grants, operation_reaches_partner
from auth.principal import Role
from auth.row_filters import Shape, predicate, visibility
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.engine import Database
from db.enums import AssociationType
from db.subscription import Subscription
from db.tenant import Tenant
from resolvers import queries
from resolvers.authorize import granted
from resolvers.errors import BadUserInput, NotFound
from resolvers.loaders import SUBSCRIPTION_ORDER
from resolvers.pagination import Page, Paging, build_page
from resolvers.queries import IDS, among_ids

OPERATION = "attributedSubscriptions"
PARTNER_ID = "attributed_partner_id"  # the bind parameter of the partner whose rows are read
TOTAL = "attributed_total"  # a first page's column: how many subscriptions match in all


@dataclass(frozen=True, slots=True)
class AssociationFilter:
    """Which of the partner's association rows count. Omitted (None) fields do not filter."""

    type: AssociationType | None = None
    active_at: datetime | None = None  # in effect at this instant
    from_: datetime | None = None  # in effect at some point at or after this instant
    to: datetime | None = None  # in effect at some point before this instant


@dataclass(frozen=True)
class AttributedPage:
    """A page of subscriptions, the partner's matching association rows on each, and how many match in all."""

    page: Page[Subscription]
    total: int
    associations: Mapping[uuid.UUID, Sequence[PartnerAssociation]] = field(default_factory=dict)
    # The page's tenants the caller may see, by id, when the page statement read them (a first page): for the
    # tenant loader to be primed with (Loaders.tenant reads them under the same row filter).
    tenants: Mapping[uuid.UUID, Tenant] = field(default_factory=dict)

    def associations_of(self, subscription_id: uuid.UUID) -> Sequence[PartnerAssociation]:
        return self.associations.get(subscription_id, ())


def _reach(roles: Iterable[Role]) -> frozenset[RowFilter]:
    return frozenset(grant.reach for grant in grants(OPERATION, roles).values())


def reads_own_partner(roles: Iterable[Role]) -> bool:
    """A held grant is OWN_PARTNER: a caller naming no partner reads its own partner's rows."""
    return RowFilter.OWN_PARTNER in _reach(roles)


def reaches_every_partner(roles: Iterable[Role]) -> bool:
    """A held grant is ALL: any named partner is in reach (resolvers/compiled/ compiles only this case)."""
    return RowFilter.ALL in _reach(roles)


def require_own_partner(roles: Iterable[Role]) -> None:
    """BAD_USER_INPUT for a caller naming no partner whose grants do not read its own (resolvers/compiled/ words
    the same refusal at plan time)."""
    if not reads_own_partner(roles):
        raise BadUserInput("partnerId is required for callers that do not act as a partner", field="partnerId")


def target_partner(scope: CallerScope, requested: uuid.UUID | None) -> uuid.UUID | None:
    """The partner whose rows are read, from the caller's grants on the operation. None: the caller's own partner,
    but its token's MPN id names no partner (yet: it may be provisioned later)."""
    granted(OPERATION, scope)  # FORBIDDEN without a grant (on the GraphQL path the field's guard said so first)
    if requested is None:
        require_own_partner(scope.roles)
        return scope.partner_id
    if not operation_reaches_partner(OPERATION, scope.roles, requested, scope.partner_id):
        raise NotFound("partner")
    return requested


def _association_conditions(given: AssociationFilter) -> list[ColumnElement[bool]]:
    """The partner's (bound as PARTNER_ID) association rows that `given` counts."""
    check_association_filter(given)
    return [PartnerAssociation.partner_id == bindparam(PARTNER_ID, type_=Uuid()), *association_conditions(given)]


def check_association_filter(given: AssociationFilter) -> None:
    if given.from_ is not None and given.to is not None and given.from_ >= given.to:
        raise BadUserInput("`from` must be before `to`", field="filter.from")


def association_conditions(given: Any) -> list[ColumnElement[bool]]:
    """The conditions of `given` (an AssociationFilter; resolvers/compiled/ passes bind parameters for its values)
    on PartnerAssociation rows, whoever's they are."""
    conditions: list[ColumnElement[bool]] = []
    if given.type is not None:
        conditions.append(PartnerAssociation.type == given.type)
    if given.active_at is not None:
        conditions += [
            PartnerAssociation.valid_from <= given.active_at,
            (PartnerAssociation.valid_to.is_(None)) | (PartnerAssociation.valid_to > given.active_at),
        ]
    if given.to is not None:
        conditions.append(PartnerAssociation.valid_from < given.to)
    if given.from_ is not None:
        conditions.append((PartnerAssociation.valid_to.is_(None)) | (PartnerAssociation.valid_to > given.from_))
    return conditions


@dataclass(frozen=True, slots=True)
class AttributedStatements:
    """The statements of one read, the partner bound as PARTNER_ID: `subscriptions`, those the partner's matching
    rows are on (paged and counted under the subscriptions' row filter by resolvers.queries), and `associations`,
    the partner's matching rows on the subscriptions bound as IDS (the page's), oldest first."""

    subscriptions: Select[Any]  # of Subscription rows
    associations: Select[Any]  # of PartnerAssociation rows


def attributed_statements(
    given: AssociationFilter, associations_visible: ColumnElement[bool], dialect: str
) -> AttributedStatements:
    """A pure builder (the floor, bench.floor, runs the same statements); `associations_visible`: the caller's row
    filter on the association rows."""
    conditions = _association_conditions(given)
    matching = select(PartnerAssociation.subscription_id).where(*conditions, associations_visible)
    associations = (
        select(PartnerAssociation)
        .where(among_ids(PartnerAssociation.subscription_id, dialect), *conditions, associations_visible)
        .order_by(PartnerAssociation.valid_from, PartnerAssociation.id)
    )
    return AttributedStatements(select(Subscription).where(Subscription.id.in_(matching)), associations)


@functools.lru_cache(maxsize=256)
def first_page_statements(
    given: AssociationFilter,
    associations_shape: Shape,
    subscriptions_shape: Shape,
    tenants_shape: Shape,
    dialect: str,
) -> tuple[Select[Any], Select[Any]]:
    """The first page (no cursor), each subscription with its tenant under the tenants' row filter (null when
    hidden) and the count of every matching subscription (`count(*) OVER ()`, counted before LIMIT: the rows
    `count_rows` counts, without its statement); and the associations statement. Built once per filter and caller
    shape, so SQLAlchemy keys and compiles them once. The tenants are a derived table, so the row filters'
    subqueries stay uncorrelated, as when the tenant loader reads them on its own."""
    statements = attributed_statements(given, predicate(associations_shape), dialect)
    paged = queries.page_statement(
        statements.subscriptions, predicate(subscriptions_shape), key=SUBSCRIPTION_ORDER, after=None
    )
    tenants = select(Tenant).where(predicate(tenants_shape)).subquery("page_tenants")
    tenant = aliased(Tenant, tenants)
    paged = paged.outerjoin(tenants, tenant.id == Subscription.tenant_id)
    return paged.add_columns(tenant, func.count().over().label(TOTAL)), statements.associations


async def attributed_subscriptions(
    database: Database,
    scope: CallerScope,
    partner_id: uuid.UUID | None,
    filter: AssociationFilter,
    paging: Paging,
) -> AttributedPage:
    """`partner_id` None: the caller's own partner. Two statements for a first page (the page counted by a window
    function and read with its tenants, the page's rows), three after a cursor (the page, its count, the page's
    rows)."""
    partner = target_partner(scope, partner_id)
    if partner is None:
        # Nothing is attributed to a partner that does not exist: an empty page, as every other read answers such a
        # partner (its row filters match no row).
        return AttributedPage(Page([], [], has_next_page=False, has_previous_page=paging.after is not None), 0)
    size = paging.size()
    associations_visible = visibility(Entity.PARTNER_ASSOCIATION, scope)
    # Both predicates take the same caller values (row_filters.parameters), passed with each statement.
    subscriptions_visible = visibility(Entity.SUBSCRIPTION, scope)
    values = {PARTNER_ID: partner}

    async with database.read() as session:
        if paging.after is None:
            check_association_filter(filter)
            # (mypy reads the shapes' frozensets as unhashable here; they hash)
            paged, associations = first_page_statements(
                filter,
                associations_visible.shape,
                subscriptions_visible.shape,
                visibility(Entity.TENANT, scope).shape,
                database.dialect,
            )
            parameters = queries.with_visibility(subscriptions_visible, **values, **{queries.PAGE_LIMIT: size + 1})
            counted = (await session.execute(paged, parameters)).all()
            total = int(counted[0][2]) if counted else 0
            tenants = {row[1].id: row[1] for row in counted[:size] if row[1] is not None}
            page = build_page(
                [row[0] for row in counted],
                size,
                SUBSCRIPTION_ORDER,
                lambda row: queries.sort_values(SUBSCRIPTION_ORDER, row),
                after=None,
            )
        else:
            statements = attributed_statements(filter, associations_visible.predicate, database.dialect)
            associations = statements.associations
            page = await queries.fetch_page(
                session,
                statements.subscriptions,
                visible=subscriptions_visible,
                key=SUBSCRIPTION_ORDER,
                size=size,
                after=paging.after,
                values=values,
            )
            total = await queries.count_rows(
                session, statements.subscriptions, visible=subscriptions_visible, values=values
            )
            tenants = {}
        ids = [row.id for row in page.items]
        rows = (
            (
                await session.scalars(
                    associations, queries.with_visibility(subscriptions_visible, **values, **{IDS: ids})
                )
            ).all()
            if ids
            else []
        )
    by_subscription: defaultdict[uuid.UUID, list[PartnerAssociation]] = defaultdict(list)
    for row in rows:
        by_subscription[row.subscription_id].append(row)
    return AttributedPage(page, total, dict(by_subscription), tenants)
