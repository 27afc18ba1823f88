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

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from strawberry.dataloader import DataLoader

from auth.policy import Entity
from auth.row_filters import Shape, Visibility, predicate, visibility
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
from resolvers.queries import among_ids, with_visibility

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
        visible: Visibility,
        key: SortKey,
        where: Callable[[PageRequest], list[ColumnElement[bool]]],
    ) -> None:
        self._database, self._model, self._parent = database, model, parent
        self._visible, self._key, self._where = visible, key, where
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
                    visible=self._visible,
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
                    session, self._parent, parent_ids, where=self._where(request), visible=self._visible
                )
            results.update({(parent_id, request): count for parent_id, count in counts.items()})
        return [results[key] for key in keys]


def _group(keys: Sequence[tuple[uuid.UUID, PageRequest]]) -> dict[PageRequest, list[uuid.UUID]]:
    grouped: dict[PageRequest, list[uuid.UUID]] = defaultdict(list)
    for parent_id, request in keys:
        if parent_id not in grouped[request]:
            grouped[request].append(parent_id)
    return grouped


def _by_id(database: Database, model: type[M], visible: Visibility) -> DataLoader[uuid.UUID, M | None]:
    async def load(ids: Sequence[uuid.UUID]) -> list[M | None]:
        async with database.read() as session:
            return await queries.fetch_by_ids(session, model, ids, visible=visible)

    return DataLoader(load)


@functools.cache
def _with_partner(
    model: type[Any], parent: str, shape: Shape, partner_shape: Shape, dialect: str, only_active_dpor: bool
) -> Select[Any]:
    """Rows of `model` (associations or delegations) whose `parent` column is among the bound ids, each with its
    partner under the partner's own row filter (null when hidden), in one statement built once per shape."""
    conditions = [among_ids(getattr(model, parent), dialect), predicate(shape)]
    if only_active_dpor:
        conditions += [model.type == AssociationType.DIGITAL_PARTNER_OF_RECORD, model.valid_to.is_(None)]
    return (
        select(model, Partner)
        .outerjoin(Partner, and_(Partner.id == model.partner_id, predicate(partner_shape)))
        .where(*conditions)
        .order_by(*((model.valid_from, model.id) if model is PartnerAssociation else (model.created_at, model.id)))
    )


@functools.cache
def _with_active_dpor(
    shape: Shape, association_shape: Shape, partner_shape: Shape, dialect: str
) -> Select[Subscription, PartnerAssociation, Partner]:
    """Subscriptions among the bound ids under their row filter, each with its active DPOR rows (the `active_dpor`
    loader's rows: under the associations' row filter, oldest first) and each row's partner under the partners' row
    filter (null when hidden), in one statement built once per shape. The association side is a derived table, so
    the row filters' subqueries stay uncorrelated exactly as in the loaders that read each entity on its own."""
    dpor = (
        select(PartnerAssociation, Partner)
        .outerjoin(Partner, and_(Partner.id == PartnerAssociation.partner_id, predicate(partner_shape)))
        .where(
            PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD,
            PartnerAssociation.valid_to.is_(None),
            predicate(association_shape),
        )
        .subquery("active_dpor")
    )
    association, partner = aliased(PartnerAssociation, dpor), aliased(Partner, dpor)
    return (
        select(Subscription, association, partner)
        .outerjoin(dpor, association.subscription_id == Subscription.id)
        .where(among_ids(Subscription.id, dialect), predicate(shape))
        .order_by(association.valid_from, association.id)
    )


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
        self._visibility: dict[Entity, Visibility] = {}

    def see(self, entity: Entity) -> Visibility:
        # Remembered on the instance, not with functools.cache on the method: that cache lives on the class, so it
        # kept every request's Loaders (and through them its futures and rows) alive for the life of the process.
        found = self._visibility.get(entity)
        if found is None:
            found = self._visibility[entity] = visibility(entity, self.scope)
        return found

    @cached_property
    def tenant(self) -> DataLoader[uuid.UUID, Tenant | None]:
        return _by_id(self._database, Tenant, self.see(Entity.TENANT))

    @cached_property
    def subscription(self) -> DataLoader[uuid.UUID, Subscription | None]:
        """Subscriptions by id, each read with its active DPOR and that row's partner (`_with_active_dpor`): the
        `active_dpor` and `partner` loaders are primed, so `digitalPartnerOfRecord` costs no statement of its own."""
        visible = self.see(Entity.SUBSCRIPTION)
        shapes = visible.shape, self.see(Entity.PARTNER_ASSOCIATION).shape, self.see(Entity.PARTNER).shape

        async def load(ids: Sequence[uuid.UUID]) -> list[Subscription | None]:
            async with self._database.read() as session:
                statement = _with_active_dpor(*shapes, session.get_bind().dialect.name)
                result = await session.execute(statement, with_visibility(visible, ids=list(ids)))
                found: dict[uuid.UUID, tuple[Subscription, list[PartnerAssociation]]] = {}
                for subscription, association, partner in result.all():
                    _, dpor = found.setdefault(subscription.id, (subscription, []))
                    if association is not None:
                        dpor.append(association)
                        if partner is not None:
                            self.partner.prime(partner.id, partner)
            for subscription_id, (_, dpor) in found.items():
                self.active_dpor.prime(subscription_id, dpor)
            return [found[row_id][0] if row_id in found else None for row_id in ids]

        return DataLoader(load)

    @cached_property
    def partner(self) -> DataLoader[uuid.UUID, Partner | None]:
        return _by_id(self._database, Partner, self.see(Entity.PARTNER))

    @cached_property
    def association(self) -> DataLoader[uuid.UUID, PartnerAssociation | None]:
        return _by_id(self._database, PartnerAssociation, self.see(Entity.PARTNER_ASSOCIATION))

    @cached_property
    def delegation(self) -> DataLoader[uuid.UUID, DelegatedAdminRelationship | None]:
        return _by_id(self._database, DelegatedAdminRelationship, self.see(Entity.DELEGATED_ADMIN_RELATIONSHIP))

    @cached_property
    def audit_event(self) -> DataLoader[uuid.UUID, AuditEvent | None]:
        return _by_id(self._database, AuditEvent, self.see(Entity.AUDIT_EVENT))

    def _rows_with_partners(
        self, model: type[Any], parent: str, entity: Entity, *, only_active_dpor: bool = False
    ) -> DataLoader[uuid.UUID, list[Any]]:
        """Associations or delegations by parent, with their partner fetched in the same statement; the partner
        loader is primed so `.partner` costs no query."""
        visible, partners_visible = self.see(entity), self.see(Entity.PARTNER)

        async def load(session: Any, ids: Sequence[uuid.UUID]) -> list[Any]:
            dialect = session.get_bind().dialect.name
            # (mypy reads a class as unhashable here; mapped classes hash by identity)
            shapes = visible.shape, partners_visible.shape
            statement = _with_partner(model, parent, *shapes, dialect, only_active_dpor)  # type: ignore[arg-type]
            rows = []
            for row, partner in (await session.execute(statement, with_visibility(visible, ids=list(ids)))).all():
                if partner is not None:
                    self.partner.prime(partner.id, partner)
                rows.append(row)
            return rows

        return _many_by_parent(self._database, load, lambda row: getattr(row, parent))

    @cached_property
    def active_dpor(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._rows_with_partners(
            PartnerAssociation, "subscription_id", Entity.PARTNER_ASSOCIATION, only_active_dpor=True
        )

    @cached_property
    def delegations_by_tenant(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._rows_with_partners(DelegatedAdminRelationship, "tenant_id", Entity.DELEGATED_ADMIN_RELATIONSHIP)

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
        return self._rows_with_partners(PartnerAssociation, "subscription_id", Entity.PARTNER_ASSOCIATION)


def active_at(
    rows: Sequence[PartnerAssociation], instant: datetime | None, include_ended: bool
) -> list[PartnerAssociation]:
    if instant is not None:
        return [row for row in rows if row.valid_from <= instant and (row.valid_to is None or instant < row.valid_to)]
    if include_ended:
        return list(rows)
    return [row for row in rows if row.valid_to is None]


__all__ = ["Loaders", "PageRequest", "active_at"]
