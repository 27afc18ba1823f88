"""Shared by the fuzz, fault and load tests: a gateway without a rate limit, the seeded world's ids, and the
invariants every run must leave intact."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from db.association import PartnerAssociation
from db.audit import AuditEvent
from db.delegation import DelegatedAdminRelationship
from db.engine import Database
from db.enums import AssociationEndReason, AssociationType
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant, TenantContact
from gateway.app import create_app
from schema import global_id
from tests.api import _VAR_DIR, Api, settings_for

# Codes a valid caller may legitimately get back; anything else (INTERNAL, no code at all) is a bug.
EXPECTED_CODES = frozenset(
    {
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "CONFLICT",
        "GRAPHQL_VALIDATION_FAILED",
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_ROOT_FIELDS",
        "TOO_MANY_DIRECTIVES",
        "TOO_MANY_TOKENS",
        "COST_LIMIT_EXCEEDED",
        # Usage aggregates over max_usage_rows (schema/extensions/cost.py): the generated windows and groupings
        # easily ask for more.
        "TOO_MANY_USAGE_ROWS",
    }
)
# Mutations that change a subscription's version (each writes exactly one audit event per subscription it changes).
ASSOCIATION_ACTIONS = (
    "setDigitalPartnerOfRecord",
    "removeDigitalPartnerOfRecord",
    "bulkSetDigitalPartnerOfRecord",  # one event per changed subscription
    "bulkRemoveDigitalPartnerOfRecord",
    "linkPartner",
    "unlinkPartner",
)


@asynccontextmanager
async def gateway(database: Database, **overrides: Any) -> AsyncIterator[Api]:
    """The real app in process. The rate limit is off: these tests send far more than a caller's hourly budget,
    and a RATE_LIMITED answer would hide what they look for."""
    settings = settings_for(
        database_url=database.engine.url.render_as_string(hide_password=False),
        var_dir=_VAR_DIR,
        rate_limit_enabled=False,
        **overrides,
    )
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=60) as client:
        yield Api(client, database, settings)


def unexpected_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors whose code is not one a well-behaved gateway gives a valid caller."""
    return [
        error for error in body.get("errors") or [] if (error.get("extensions") or {}).get("code") not in EXPECTED_CODES
    ]


@dataclass(frozen=True)
class WorldIds:
    """Global IDs of every object in the database, by type name, for generated operations to aim at."""

    by_type: dict[str, list[str]]
    mpn_ids: list[str]
    version_max: int

    def all(self) -> list[str]:
        return [gid for ids in self.by_type.values() for gid in ids]


async def world_ids(database: Database) -> WorldIds:
    sources: dict[str, Any] = {
        "Tenant": Tenant.id,
        "Subscription": Subscription.id,
        "Partner": Partner.id,
        "PartnerAssociation": PartnerAssociation.id,
        "DelegatedAdminRelationship": DelegatedAdminRelationship.id,
        "AuditEvent": AuditEvent.id,
    }
    by_type: dict[str, list[str]] = {}
    async with database.read() as session:
        for name, column in sources.items():
            rows = (await session.scalars(select(column).order_by(column))).all()
            by_type[name] = [global_id.encode(name, row) for row in rows]
        mpn_ids = list((await session.scalars(select(Partner.mpn_id).order_by(Partner.mpn_id))).all())
        version_max = int(await session.scalar(select(func.max(Subscription.version))) or 1)
    return WorldIds(by_type, mpn_ids, version_max)


async def tenant_secrets(database: Database, *, except_tenants: set[uuid.UUID]) -> set[str]:
    """Strings that identify tenants other than `except_tenants`: names, directory ids, domains, contacts,
    their subscriptions' names and external ids."""
    secrets: set[str] = set()
    async with database.read() as session:
        for tenant in (await session.scalars(select(Tenant))).all():
            if tenant.id in except_tenants:
                continue
            secrets |= {tenant.display_name, str(tenant.external_id), tenant.primary_domain}
            contacts = (await session.scalars(select(TenantContact).where(TenantContact.tenant_id == tenant.id))).all()
            for contact in contacts:
                secrets |= {contact.name, contact.email} | ({contact.phone} if contact.phone else set())
            subs = (await session.scalars(select(Subscription).where(Subscription.tenant_id == tenant.id))).all()
            for sub in subs:
                secrets |= {sub.display_name, sub.external_id, global_id.encode("Subscription", sub.id)}
            secrets.add(global_id.encode("Tenant", tenant.id))
    return secrets


async def contact_secrets(database: Database) -> set[str]:
    """Every contact's name, email and phone: personal data no partner may see."""
    async with database.read() as session:
        contacts = (await session.scalars(select(TenantContact))).all()
    return {value for contact in contacts for value in (contact.name, contact.email, contact.phone) if value}


async def personal_secrets(database: Database, *, tenants: set[uuid.UUID]) -> set[str]:
    """What only a tenant's own admins read of it: its primary domain and its contacts."""
    secrets: set[str] = set()
    async with database.read() as session:
        for tenant in (await session.scalars(select(Tenant).where(Tenant.id.in_(tenants)))).all():
            secrets.add(tenant.primary_domain)
        contacts = (await session.scalars(select(TenantContact).where(TenantContact.tenant_id.in_(tenants)))).all()
    return secrets | {value for contact in contacts for value in (contact.name, contact.email, contact.phone) if value}


async def partner_secrets(database: Database, *, except_partner: uuid.UUID | None) -> set[str]:
    """Names, MPN ids and global IDs of every partner but one."""
    async with database.read() as session:
        partners = (await session.scalars(select(Partner))).all()
    return {
        value
        for partner in partners
        if partner.id != except_partner
        for value in (partner.name, partner.mpn_id, global_id.encode("Partner", partner.id))
    }


def strings_in(value: Any) -> set[str]:
    """Every string in a JSON value, keys included."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def leaks(value: Any, secrets: set[str]) -> set[str]:
    """Secrets found in a JSON value: as a whole string, or inside a string of words (a name, a message).
    Tokens without spaces (ids, cursors) are compared whole: a 7-digit MPN id can occur inside random base64
    by chance, and that is no leak."""
    found: set[str] = set()
    for string in strings_in(value):
        if string in secrets:
            found.add(string)
        elif " " in string:
            found |= {secret for secret in secrets if secret and secret in string}
    return found


@dataclass(frozen=True)
class InvariantReport:
    subscriptions: int
    association_rows: int
    association_audit_events: int


async def check_invariants(database: Database, *, exact_versions: bool) -> InvariantReport:
    """At most one active DPOR per subscription; each subscription's DPOR rows form a chain without overlaps,
    where a REPLACED row ends exactly where its successor starts; every association change has bumped the
    version. `exact_versions`: only association mutations ran (and the demo's history, which has their audit
    events), so the version is exactly 1 + the number of those audit events."""
    async with database.read() as session:
        rows = (
            await session.scalars(
                select(PartnerAssociation)
                .where(PartnerAssociation.type == AssociationType.DIGITAL_PARTNER_OF_RECORD)
                .order_by(PartnerAssociation.subscription_id, PartnerAssociation.valid_from, PartnerAssociation.id)
            )
        ).all()
        versions: dict[uuid.UUID, int] = {
            row[0]: row[1] for row in await session.execute(select(Subscription.id, Subscription.version))
        }
        audited = (
            select(AuditEvent.subscription_id, func.count())
            .where(AuditEvent.action.in_(ASSOCIATION_ACTIONS))
            .group_by(AuditEvent.subscription_id)
        )
        audit_counts: dict[uuid.UUID | None, int] = {row[0]: row[1] for row in await session.execute(audited)}
        all_rows = int(await session.scalar(select(func.count()).select_from(PartnerAssociation)) or 0)
    chains: dict[uuid.UUID, list[PartnerAssociation]] = defaultdict(list)
    for row in rows:
        chains[row.subscription_id].append(row)
    problems: list[str] = []
    for subscription_id, chain in chains.items():
        # Sort by (start, end) so an empty interval [t, t) replaced within its second precedes its successor.
        chain.sort(key=lambda r: (r.valid_from, r.valid_to is None, r.valid_to or r.valid_from))
        active = [row for row in chain if row.valid_to is None]
        if len(active) > 1:
            problems.append(f"{subscription_id}: {len(active)} active DPORs")
        for before, after in itertools.pairwise(chain):
            if before.valid_to is None:
                problems.append(f"{subscription_id}: active row {before.id} is followed by {after.id}")
            elif before.valid_to > after.valid_from:
                problems.append(f"{subscription_id}: {before.id} overlaps {after.id}")
            elif before.end_reason is AssociationEndReason.REPLACED and before.valid_to != after.valid_from:
                problems.append(f"{subscription_id}: gap after replaced row {before.id}")
    for subscription_id, version in versions.items():
        # Version 1 plus one per change; every change wrote one audit event (the demo's history included).
        # setSubscriptionStatus(DELETED) bumps the version too when it ends associations; it audits under its
        # own action, so it is counted apart.
        changes = audit_counts.get(subscription_id, 0)
        if version - 1 != changes if exact_versions else version - 1 < changes:
            problems.append(f"{subscription_id}: version {version} but {changes} association audit events")
    assert not problems, problems
    return InvariantReport(len(versions), all_rows, sum(audit_counts.values()))


class TcpProxy:
    """A loopback TCP proxy in front of PostgreSQL, to take the database away from a gateway and give it back
    without touching the server (other suites share it): `down()` closes the listener and every open
    connection (the database is gone: connections refused), `blackhole()` keeps accepting but never answers
    (a network that drops packets), `up()` forwards again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._silent = False

    async def up(self) -> None:
        if self._server is not None:
            # Back from a blackhole: what was said meanwhile was dropped, so those connections are broken.
            self._silent = False
            self._close_all()
            return
        self._silent = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._close_all()

    async def blackhole(self) -> None:
        """Accept, read, answer nothing; the connections already open go silent too."""
        self._silent = True
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._silent:
            while await reader.read(65_536):
                pass
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65_536):
                if self._silent:
                    continue
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
