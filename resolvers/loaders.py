"""Per-request DataLoaders: every nested field loads through one of these, so a page of N parents costs one
statement per level, not N. Each batch opens its own session (one session per task: batches run concurrently)."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.dataloader import DataLoader

from auth.policy import Entity
from auth.row_filters import visible
from auth.scope import CallerScope
from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from resolvers import queries
from resolvers.filters import subscription_conditions
from resolvers.pagination import Page, SortKey, parse_datetime, parse_str, parse_uuid

M = TypeVar("M")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class PageRequest:
    """Everything that shapes a nested page besides its parent: keys with equal requests batch together."""

    size: int
    after: str | None
    filters: tuple[tuple[str, Any], ...] = ()


class ParentPages(Generic[M]):
    """Pages of a child entity for many parents, plus their counts, each in one statement per distinct request."""

    def __init__(
        self,
        database: Database,
        model: type[M],
        parent: InstrumentedAttribute[uuid.UUID],
        predicate: ColumnElement[bool],
        key: SortKey,
        where: Callable[[PageRequest], list[ColumnElement[bool]]],
    ) -> None:
        self._database, self._model, self._parent = database, model, parent
        self._predicate, self._key, self._where = predicate, key, where
        self.pages: DataLoader[tuple[uuid.UUID, PageRequest], Page[M]] = DataLoader(self._load_pages)
        self.counts: DataLoader[tuple[uuid.UUID, PageRequest], int] = DataLoader(self._load_counts)

    async def _load_pages(self, keys: Sequence[tuple[uuid.UUID, PageRequest]]) -> list[Page[M]]:
        results: dict[tuple[uuid.UUID, PageRequest], Page[M]] = {}
        for request, parent_ids in _group(keys).items():
            async with self._database.read() as session:
                pages = await queries.fetch_pages_by_parent(
                    session,
                    self._model,
                    self._parent,
                    parent_ids,
                    where=self._where(request),
                    visible=self._predicate,
                    key=self._key,
                    size=request.size,
                    after=request.after,
                )
            results.update({(parent_id, request): page for parent_id, page in pages.items()})
        return [results[key] for key in keys]

    async def _load_counts(self, keys: Sequence[tuple[uuid.UUID, PageRequest]]) -> list[int]:
        results: dict[tuple[uuid.UUID, PageRequest], int] = {}
        for request, parent_ids in _group(keys).items():
            async with self._database.read() as session:
                counts = await queries.count_by_parent(
                    session, self._parent, parent_ids, where=self._where(request), visible=self._predicate
                )
            results.update({(parent_id, request): count for parent_id, count in counts.items()})
        return [results[key] for key in keys]


def _group(keys: Sequence[tuple[uuid.UUID, PageRequest]]) -> dict[PageRequest, list[uuid.UUID]]:
    grouped: dict[PageRequest, list[uuid.UUID]] = defaultdict(list)
    for parent_id, request in keys:
        if parent_id not in grouped[request]:
            grouped[request].append(parent_id)
    return grouped


def _by_id(
    database: Database,
    model: type[M],
    id_column: InstrumentedAttribute[uuid.UUID],
    predicate: ColumnElement[bool],
) -> DataLoader[uuid.UUID, M | None]:
    async def load(ids: Sequence[uuid.UUID]) -> list[M | None]:
        async with database.read() as session:
            return await queries.fetch_by_ids(session, model, id_column, ids, visible=predicate)

    return DataLoader(load)


def _many_by_parent(
    database: Database,
    load_rows: Callable[[Any, Sequence[uuid.UUID]], Awaitable[Sequence[Any]]],
    parent_of: Callable[[Any], uuid.UUID],
) -> DataLoader[uuid.UUID, list[Any]]:
    async def load(parent_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
        async with database.read() as session:
            rows = await load_rows(session, parent_ids)
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[parent_of(row)].append(row)
        return [grouped.get(parent_id, []) for parent_id in parent_ids]

    return DataLoader(load)


# Sort keys of every connection: the last column is unique, so the order is total and cursors are stable.
TENANT_ORDER = SortKey("tenants", (Tenant.display_name, Tenant.id), (parse_str, parse_uuid))
SUBSCRIPTION_ORDER = SortKey("subscriptions", (Subscription.created_at, Subscription.id), (parse_datetime, parse_uuid))
PARTNER_ORDER = SortKey("partners", (Partner.name, Partner.id), (parse_str, parse_uuid))
CONTACT_ORDER = SortKey("contacts", (TenantContact.name, TenantContact.id), (parse_str, parse_uuid))
HISTORY_ORDER = SortKey(
    "associationHistory",
    (PartnerAssociation.valid_from, PartnerAssociation.id),
    (parse_datetime, parse_uuid),
    descending=True,
)
AUDIT_ORDER = SortKey(
    "auditEvents", (AuditEvent.occurred_at, AuditEvent.id), (parse_datetime, parse_uuid), descending=True
)


def _subscription_filters(request: PageRequest) -> list[ColumnElement[bool]]:
    return subscription_conditions(dict(request.filters))


class Loaders:
    """Created once per request for one caller scope; every loader applies that scope's row filters.

    Each loader (and the row-filter predicate it carries) is built on first use: a request touches two or three of
    them, and building all of them up front cost about a millisecond per request.
    """

    def __init__(self, database: Database, scope: CallerScope) -> None:
        self.scope = scope
        self._database = database

    @functools.cache  # noqa: B019 (one Loaders per request: the cache dies with it)
    def see(self, entity: Entity) -> ColumnElement[bool]:
        return visible(entity, self.scope)

    @cached_property
    def tenant(self) -> DataLoader[uuid.UUID, Tenant | None]:
        return _by_id(self._database, Tenant, Tenant.id, self.see(Entity.TENANT))

    @cached_property
    def subscription(self) -> DataLoader[uuid.UUID, Subscription | None]:
        return _by_id(self._database, Subscription, Subscription.id, self.see(Entity.SUBSCRIPTION))

    @cached_property
    def partner(self) -> DataLoader[uuid.UUID, Partner | None]:
        return _by_id(self._database, Partner, Partner.id, self.see(Entity.PARTNER))

    @cached_property
    def association(self) -> DataLoader[uuid.UUID, PartnerAssociation | None]:
        return _by_id(self._database, PartnerAssociation, PartnerAssociation.id, self.see(Entity.PARTNER_ASSOCIATION))

    @cached_property
    def delegation(self) -> DataLoader[uuid.UUID, DelegatedAdminRelationship | None]:
        return _by_id(
            self._database,
            DelegatedAdminRelationship,
            DelegatedAdminRelationship.id,
            self.see(Entity.DELEGATED_ADMIN_RELATIONSHIP),
        )

    @cached_property
    def audit_event(self) -> DataLoader[uuid.UUID, AuditEvent | None]:
        return _by_id(self._database, AuditEvent, AuditEvent.id, self.see(Entity.AUDIT_EVENT))

    async def _with_partners(self, session: Any, statement: Any) -> list[Any]:
        """Rows of `statement` (associations or delegations) with their partner fetched in the same statement,
        under the partner's own row filter; the partner loader is primed so `.partner` costs no query."""
        model = statement.column_descriptions[0]["entity"]
        joined = statement.add_columns(Partner).outerjoin(
            Partner, and_(Partner.id == model.partner_id, self.see(Entity.PARTNER))
        )
        rows = []
        for row, partner in (await session.execute(joined)).all():
            if partner is not None:
                self.partner.prime(partner.id, partner)
            rows.append(row)
        return rows

    @cached_property
    def active_dpor(self) -> DataLoader[uuid.UUID, list[Any]]:
        async def active_dpors(session: Any, ids: Sequence[uuid.UUID]) -> Sequence[PartnerAssociation]:
            statement = select(PartnerAssociation).where(
                PartnerAssociation.subscription_id.in_(ids),
                PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
                PartnerAssociation.valid_to.is_(None),
                self.see(Entity.PARTNER_ASSOCIATION),
            )
            return await self._with_partners(session, statement)

        return _many_by_parent(self._database, active_dpors, lambda row: row.subscription_id)

    @cached_property
    def delegations_by_tenant(self) -> DataLoader[uuid.UUID, list[Any]]:
        async def delegations(session: Any, ids: Sequence[uuid.UUID]) -> Sequence[DelegatedAdminRelationship]:
            statement = (
                select(DelegatedAdminRelationship)
                .where(DelegatedAdminRelationship.tenant_id.in_(ids), self.see(Entity.DELEGATED_ADMIN_RELATIONSHIP))
                .order_by(DelegatedAdminRelationship.created_at, DelegatedAdminRelationship.id)
            )
            return await self._with_partners(session, statement)

        return _many_by_parent(self._database, delegations, lambda row: row.tenant_id)

    @cached_property
    def subscriptions_by_tenant(self) -> ParentPages[Subscription]:
        return ParentPages(
            self._database,
            Subscription,
            Subscription.tenant_id,
            self.see(Entity.SUBSCRIPTION),
            SUBSCRIPTION_ORDER,
            _subscription_filters,
        )

    @cached_property
    def contacts_by_tenant(self) -> ParentPages[TenantContact]:
        return ParentPages(
            self._database,
            TenantContact,
            TenantContact.tenant_id,
            self.see(Entity.CONTACT),
            CONTACT_ORDER,
            lambda _: [],
        )

    @cached_property
    def history_by_subscription(self) -> ParentPages[PartnerAssociation]:
        return ParentPages(
            self._database,
            PartnerAssociation,
            PartnerAssociation.subscription_id,
            self.see(Entity.PARTNER_ASSOCIATION),
            HISTORY_ORDER,
            lambda _: [],
        )

    @cached_property
    def associations_by_subscription(self) -> DataLoader[uuid.UUID, list[Any]]:
        """Every association row of a subscription (the caller's visible ones); fields filter by instant in
        Python, which keeps one statement per level whatever `activeAt` each parent asks for."""

        async def associations(session: Any, keys: Sequence[uuid.UUID]) -> Sequence[PartnerAssociation]:
            statement = (
                select(PartnerAssociation)
                .where(PartnerAssociation.subscription_id.in_(keys), self.see(Entity.PARTNER_ASSOCIATION))
                .order_by(PartnerAssociation.valid_from, PartnerAssociation.id)
            )
            return await self._with_partners(session, statement)

        return _many_by_parent(self._database, associations, lambda row: row.subscription_id)


def active_at(
    rows: Sequence[PartnerAssociation], instant: datetime | None, include_ended: bool
) -> list[PartnerAssociation]:
    if instant is not None:
        return [row for row in rows if row.valid_from <= instant and (row.valid_to is None or instant < row.valid_to)]
    if include_ended:
        return list(rows)
    return [row for row in rows if row.valid_to is None]


__all__ = ["Loaders", "PageRequest", "active_at"]
