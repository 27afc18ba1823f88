"""The compiled path is the interpreter's twin: for generated documents, as every caller, the two give the same bytes.

Documents are drawn over the compiler's catalog (resolvers/compiled/catalog.py) and a little beyond it (fields and
ids the compiler does not know), with aliases, repeated keys, inline and named fragments, `@skip`/`@include` from
literals and variables, and ids of every type, the caller's and everyone else's, plus junk. Each document goes to
two gateways over the same PostgreSQL database, one with compiled reads and one without, and the answers must be
equal byte for byte after a parse-and-dump that keeps key order (orjson keeps it): `data`, `errors` and
`extensions` alike. A document the compiler refuses still answers, from the interpreter.

Examples per run: DPOR_TEST_COMPILED_EXAMPLES (default 2,000, issue 13's floor for a CI run: about 105 s on a quiet
machine; `make test-long` runs 5,000); DPOR_TEST_COMPILED_SEED for another sequence. The
documents come from a seeded `random.Random` rather than Hypothesis: they are large and nested, and Hypothesis'
replay of such draws reported its own generation as flaky.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from auth.principal import Principal, Role
from db import clock
from db.dpor_invitation import DporInvitation
from db.engine import Database
from db.enums import AssociationEndReason, AssociationStatus, AssociationType, Offer, RecognitionRole
from db.models import Partner, Tenant
from gateway.seed.demo import (
    DEMO_DELEGATED_PARTNER_MPN_ID,
    DEMO_OWNER_TENANT_EXTERNAL_ID,
    DEMO_PARTNER_MPN_ID,
    load_demo,
)
from resolvers import global_id
from resolvers.compiled.catalog import (
    CONNECTION_ROOTS,
    OBJECTS,
    TYPES,
    AssociationRows,
    AttributedRows,
    Column,
    Embedded,
    InvitationRows,
    InvitationStatus,
    ToList,
    ToMany,
    ToOne,
    Usage,
)
from resolvers.compiled.filters import FilterSpec, SearchSpec
from resolvers.compiled.runner import CompiledReads
from resolvers.invitations.codes import code_hash
from resolvers.invitations.state import DporInvitationStatus
from resolvers.usage.ingestion import ingest_usage
from tests import databases, factories
from tests.api import Api, principal, token_for
from tests.resilience_support import WorldIds, gateway, world_ids
from tests.usage_helpers import record

EXAMPLES = int(os.environ.get("DPOR_TEST_COMPILED_EXAMPLES", "2000"))
# Each example's document is drawn from random.Random(f"{SEED}:{example}"): a failure names its example number,
# which this seed and that number reproduce.
SEED = os.environ.get("DPOR_TEST_COMPILED_SEED", "0")

CALLERS: list[Principal] = [
    principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    principal(Role.SERVICE_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    principal(Role.CO_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    principal(Role.DELEGATED_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID, partner=DEMO_DELEGATED_PARTNER_MPN_ID),
    principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID),
    principal(Role.PLATFORM_ADMIN),
    principal(Role.USAGE_INGEST),
    # Two roles at once: a field rule must hold for the row in hand under each of them.
    principal(Role.OWNER, Role.PARTNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID, partner=DEMO_PARTNER_MPN_ID),
]

# Fields beyond the catalog, so that refusals and the fall-back are exercised too.
OUTSIDE_THE_CATALOG = {
    "Subscription": [],
    "Tenant": [],
    "Partner": [],
    "PartnerAssociation": [],
    "DelegatedAdminRelationship": [],
    "AuditEvent": ["before", "after"],
    "Contact": [],
    "PartnerClaim": [],
    "DporInvitation": [],
}
GROUPINGS = ["MONTH", "DAY", "SERVICE", "SUBSCRIPTION", "TENANT", "PARTNER", "RECOGNITION_ROLE"]
USAGE_AGGREGATE_FIELDS = [
    "month",
    "day",
    "service",
    "associationType",
    "recognitionRole",
    "currency",
    "quantity",
    "amount",
    "recordCount",
]
# Fields the share is also reported for, one line each (by their text in the document).
FAMILIES = [
    "partnerByMpnId(",
    "pendingClaims(",
    "search:",
    "contacts",
    "delegatedAdminRelationships",
    "claim",
    "auditEvents(",
    "usageAggregates(",
    "partnerAssociations",
    "associationHistory",
    "attributedSubscriptions(",
    "dporInvitations",
    "viewer",
    "RECOGNITION_ROLE",
    "nodes(",
]
# UsageAggregate's objects, by field.
USAGE_RELATED = {"subscription": "Subscription", "tenant": "Tenant", "partner": "Partner"}
SERVICES = ["compute", "Compute", "_internal", "Égalité", "storage", "nothing", ""]
ROOTS = {"node": None, "subscription": "Subscription", "tenant": "Tenant", "partner": "Partner"}
JUNK_IDS = ["", "x", "VGVuYW50Om5vcGU=", "U3Vic2NyaXB0aW9uOjEyMw=="]


def _filter_field_type(spec: FilterSpec, name: str) -> str:
    """The GraphQL type of a filter field given as its own variable."""
    if name == "status":
        return "TenantStatus" if spec.input_type == "TenantsFilter" else "SubscriptionStatus"
    types = {
        "offer": "Offer",
        "hasDigitalPartnerOfRecord": "Boolean",
        "tenantId": "ID",
        "partnerId": "ID",
        "subscriptionId": "ID",
        "from": "DateTime",
        "to": "DateTime",
    }
    return types.get(name, "String")


@dataclass
class Document:
    text: str
    variables: dict[str, Any]


class _Writer:
    """Builds one document from seeded random choices: selections, fragments and variables."""

    def __init__(self, rng: random.Random, world: WorldIds, visible: dict[str, list[str]]) -> None:
        self.rng = rng
        self.world = world
        self.visible = visible  # ids by type, and cursors by connection name (under "cursor:<name>")
        self.fragments: dict[str, str] = {}
        self.variables: dict[str, Any] = {}
        self.definitions: list[str] = []
        self.roots = 0

    def pick(self, choices: list[str], fewest: int, most: int) -> list[str]:
        return [self.rng.choice(choices) for _ in range(self.rng.randint(fewest, most))]

    def variable(self, graphql_type: str, value: Any) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = value
        self.definitions.append(f"${name}: {graphql_type}")
        return f"${name}"

    def directive(self) -> str:
        kind = self.rng.choice(["", "", "", "skip", "include"])
        if not kind:
            return ""
        condition = self.rng.random() < 0.5
        if self.rng.random() < 0.5:
            return f" @{kind}(if: {self.variable('Boolean!', condition)})"
        return f" @{kind}(if: {'true' if condition else 'false'})"

    def selection(self, type_name: str, depth: int) -> str:
        object_type = OBJECTS[type_name]
        names = sorted(object_type.fields)
        chosen = self.pick([*names, "__typename"], 1, 5)
        parts = []
        for name in chosen:
            field = object_type.fields.get(name)
            # No alias, the field's own name (keys merge), or a fresh one: never two fields under one key.
            alias = self.rng.choice(["", "", f"{name}: ", f"{name}{len(parts)}: "])
            if isinstance(field, ToOne):
                if depth == 0:
                    continue
                parts.append(f"{alias}{name}{self.directive()} {{ {self.selection(field.target, depth - 1)} }}")
            elif isinstance(field, Usage):
                parts.append(
                    f"u{len(parts)}: {name}{self.usage_arguments(name)}{self.directive()} {{ {self.usage(depth - 1)} }}"
                )
            elif isinstance(field, AssociationRows):
                if depth == 0:
                    continue
                arguments = self.association_arguments()
                inner = self.selection("PartnerAssociation", depth - 1)
                parts.append(f"{alias}{name}{arguments}{self.directive()} {{ {inner} }}")
            elif isinstance(field, ToList | Embedded):
                if depth == 0:
                    continue
                parts.append(f"{alias}{name}{self.directive()} {{ {self.selection(field.target, depth - 1)} }}")
            elif isinstance(field, AttributedRows):
                if depth == 0:
                    continue
                arguments = self.page_arguments("subscriptions")
                if self.rng.random() < 0.4:
                    given = f"filter: {self.attributed_filter()}"
                    arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
                inner = self.connection("Subscription", depth - 1, attributed=True)
                parts.append(f"{alias}{name}{arguments}{self.directive()} {{ {inner} }}")
            elif isinstance(field, InvitationRows):
                if depth == 0:
                    continue
                arguments = self.page_arguments("dporInvitations")
                if self.rng.random() < 0.5:
                    given = f"filter: {self.invitations_filter()}"
                    arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
                inner = self.connection("DporInvitation", depth - 1)
                parts.append(f"{alias}{name}{arguments}{self.directive()} {{ {inner} }}")
            elif isinstance(field, ToMany):
                if depth == 0:
                    continue
                arguments = self.with_filter(self.page_arguments(field.key.name), field.filter)
                parts.append(
                    f"{alias}{name}{arguments}{self.directive()} {{ {self.connection(field.target, depth - 1)} }}"
                )
            else:
                assert field is None or isinstance(field, Column | InvitationStatus)
                parts.append(f"{alias}{name}{self.directive()}")
        if self.rng.randint(0, 24) == 0 and OUTSIDE_THE_CATALOG[type_name]:
            parts.append(self.rng.choice(OUTSIDE_THE_CATALOG[type_name]))
        wrapping = self.rng.choice(["plain", "plain", "inline", "node", "other", "named"])
        if type_name not in TYPES and wrapping in ("node", "other"):
            wrapping = "inline"  # no Node: no `... on Node`
        body = " ".join(parts) or "__typename"
        if wrapping == "inline":
            leading = "id " if type_name in TYPES else "__typename "
            return f"{leading}... on {type_name}{self.directive()} {{ {body} }}"
        if wrapping == "node":
            return f"... on Node {{ id }} {body}"
        if wrapping == "other":
            other = self.rng.choice(sorted(set(TYPES) - {type_name}))
            return f"{body} ... on Node {{ ... on {other} {{ id }} }}"
        if wrapping == "named":
            name = f"F{len(self.fragments)}"
            self.fragments[name] = f"fragment {name} on {type_name} {{ {body} }}"
            return f"...{name} __typename"
        return body

    def usage_arguments(self, name: str) -> str:
        first, last = usage_window(self.rng)
        grouped = sorted(set(self.pick(GROUPINGS, 0, 3)))
        if "DAY" in grouped and (last - first).days > 40 and self.rng.random() < 0.8:
            grouped.remove("DAY")  # mostly a window DAY may group (the longer ones are BAD_USER_INPUT)
        given = []
        for argument, value in (("from", first), ("to", last)):
            text = self.variable("Date!", value.isoformat()) if self.rng.random() < 0.5 else f'"{value.isoformat()}"'
            given.append(f"{argument}: {text}")
        if self.rng.random() < 0.3:
            given.append(f"groupBy: {self.variable('[UsageGroupBy!]!', grouped)}")
        else:
            given.append(f"groupBy: [{', '.join(grouped)}]")
        if name == "attributedUsage" and self.rng.random() < 0.3:
            kind = self.rng.choice([*(member.name for member in AssociationType), None])
            given.append(
                f"associationType: {self.variable('AssociationType', kind)}"
                if self.rng.random() < 0.5
                else f"associationType: {kind or 'null'}"
            )
        return f"({', '.join(given)})"

    def usage(self, depth: int = 0) -> str:
        parts = []
        related = list(USAGE_RELATED) if depth > 0 else []
        for name in self.pick([*USAGE_AGGREGATE_FIELDS, "attribution", "attribution", "__typename", *related], 1, 6):
            if name in USAGE_RELATED:
                alias = self.rng.choice(["", f"{name}{len(parts)}: "])
                parts.append(f"{alias}{name} {{ {self.selection(USAGE_RELATED[name], depth - 1)} }}")
                continue
            alias = self.rng.choice(["", "", f"{name}{len(parts)}: "])
            if name == "attribution":
                inner = []
                for part in self.pick(["amount", "amountExact", "quantity", "partialDays", "__typename"], 1, 4):
                    if part == "partialDays":
                        days = self.pick(["subscriptionId", "day", "seconds", "quantity", "amount", "__typename"], 1, 4)
                        part = f"partialDays {{ {' '.join(days)} }}"
                    inner.append(part)
                parts.append(f"{alias}attribution {{ {' '.join(inner)} }}")
            else:
                parts.append(f"{alias}{name}")
        return " ".join(parts)

    def instant(self) -> str | None:
        """An instant around the data's histories: now, the demo's and the extra history's, far past, an offset."""
        now = datetime.now(UTC).replace(microsecond=0)
        return self.rng.choice(
            [
                None,
                (now - timedelta(days=self.rng.randint(0, 45), hours=self.rng.randint(0, 23))).isoformat(),
                now.isoformat().replace("+00:00", "Z"),
                "1970-01-01T00:00:00Z",
                "1971-02-05T00:00:01.000000+00:00",
                "2026-03-01T12:00:00.5+02:00",
                (now + timedelta(days=30)).isoformat(),
            ]
        )

    def attributed_filter(self) -> str:
        """attributedSubscriptions' filter: a type and instants (some windows backwards, which the interpreter
        refuses), a literal object (its fields literals or variables) or one variable."""
        values: dict[str, Any] = {}
        for name in self.pick(["type", "activeAt", "from", "to"], 0, 3):
            if name == "type":
                values[name] = self.rng.choice([*(member.name for member in AssociationType), None])
            else:
                values[name] = self.instant()
        if self.rng.random() < 0.3:
            return self.variable("AttributedSubscriptionsFilter", values)
        literal = []
        for name, value in values.items():
            if self.rng.random() < 0.3:
                literal.append(f"{name}: {self.variable('AssociationType' if name == 'type' else 'DateTime', value)}")
            elif name == "type" and value is not None:
                literal.append(f"{name}: {value}")
            else:
                literal.append(f"{name}: {orjson.dumps(value).decode()}")
        return f"{{{', '.join(literal)}}}"

    def invitations_filter(self) -> str:
        """dporInvitations' filter: some statuses (repeated, all four, a single one for the list, none: the
        interpreter's BAD_USER_INPUT, or null), as a literal list (its items names or variables), one variable for
        the list, or one for the whole filter."""
        names = [status.value for status in DporInvitationStatus]
        statuses: list[str] | None = self.pick(names, 0, 4) if self.rng.randint(0, 5) else None
        how = self.rng.choice(["literal", "literal", "items", "list", "whole", "single"])
        if how == "whole":
            return self.variable("DporInvitationsFilter", {"status": statuses} if self.rng.random() < 0.8 else {})
        if how == "list":
            return f"{{status: {self.variable('[DporInvitationStatus!]', statuses)}}}"
        if statuses is None:
            return self.rng.choice(["{status: null}", "{}"])
        if how == "single" and statuses:
            return f"{{status: {statuses[0]}}}"  # GraphQL coerces one value given for a list into a list of one
        if how == "items":
            items = [
                self.variable("DporInvitationStatus!", name) if self.rng.random() < 0.5 else name for name in statuses
            ]
            return f"{{status: [{', '.join(items)}]}}"
        return f"{{status: [{', '.join(statuses)}]}}"

    def association_arguments(self) -> str:
        """partnerAssociations' activeAt (a literal or a variable, or none) and includeEnded."""
        given = []
        if self.rng.random() < 0.5:
            at = self.instant()
            given.append(
                f"activeAt: {self.variable('DateTime', at) if self.rng.random() < 0.5 else orjson.dumps(at).decode()}"
            )
        if self.rng.random() < 0.5:
            ended = self.rng.random() < 0.5
            given.append(
                f"includeEnded: {self.variable('Boolean!', ended) if self.rng.random() < 0.3 else str(ended).lower()}"
            )
        return f"({', '.join(given)})" if given else ""

    def page_arguments(self, name: str) -> str:
        given = []
        first = self.rng.choice([None, None, None, 1, 2, 3, 5, 20, 100, 0, 101])
        if first is not None:
            given.append(f"first: {self.variable('Int', first) if self.rng.random() < 0.5 else first}")
        if self.rng.randint(0, 2) == 0:
            cursors = self.visible.get(f"cursor:{name}", [])
            cursor = self.rng.choice([*cursors, *cursors, *cursors, "junk", "WyJ0ZW5hbnRzIixbXV0", None])
            literal = orjson.dumps(cursor).decode()
            given.append(f"after: {self.variable('String', cursor) if self.rng.random() < 0.5 else literal}")
        return f"({', '.join(given)})" if given else ""

    def with_filter(self, arguments: str, spec: FilterSpec | SearchSpec | None) -> str:
        """Page arguments and, sometimes, a filter over some of the spec's fields: a literal object (its fields
        literals or variables), or one variable for the whole object; or a search (`partners(search:)`)."""
        if spec is None or self.rng.random() < 0.6:
            return arguments
        if isinstance(spec, SearchSpec):
            # Part of a name, any case, LIKE wildcards, an exact MPN id or a part of one, empty, or nothing.
            texts = ["proseware", "ADATUM", "o", "%", "_", "", None, "41", "Ski House", "nothing"]
            search = self.rng.choice([DEMO_PARTNER_MPN_ID, DEMO_DELEGATED_PARTNER_MPN_ID, *texts])
            literal = orjson.dumps(search).decode()
            searched = f"search: {self.variable('String', search) if self.rng.random() < 0.5 else literal}"
            return f"({arguments[1:-1]}, {searched})" if arguments else f"({searched})"
        values: dict[str, Any] = {}
        for name in self.pick([field.name for field in spec.fields], 0, 3):
            values[name] = self.filter_value(name)
        if self.rng.random() < 0.3:
            given = f"filter: {self.variable(spec.input_type, values)}"
        else:
            literal = []
            for name, value in values.items():
                if self.rng.random() < 0.3:
                    literal.append(f"{name}: {self.variable(_filter_field_type(spec, name), value)}")
                elif name in ("offer", "status") and value is not None:
                    literal.append(f"{name}: {value}")  # an enum literal
                else:
                    literal.append(f"{name}: {orjson.dumps(value).decode()}")
            given = f"filter: {{{', '.join(literal)}}}"
        return f"({arguments[1:-1]}, {given})" if arguments else f"({given})"

    def filter_value(self, name: str) -> Any:
        if name == "offer":
            return self.rng.choice([member.name for member in Offer])
        if name == "status":
            return self.rng.choice(["ACTIVE", "SUSPENDED", "DELETED"])
        if name == "hasDigitalPartnerOfRecord":
            return self.rng.choice([True, False, None])
        if name in ("tenantId", "partnerId", "subscriptionId"):
            type_name = {"tenantId": "Tenant", "partnerId": "Partner", "subscriptionId": "Subscription"}[name]
            mine = self.visible.get(type_name, [])
            return self.rng.choice(mine + self.world.by_type[type_name] + JUNK_IDS[1:] + [None])
        if name in ("from", "to"):
            return self.instant()
        if name == "action":
            return self.rng.choice(["setDigitalPartnerOfRecord", "removeDigitalPartnerOfRecord", "nothing", "", None])
        if name == "correlationId":
            return self.rng.choice(["nothing", "", None])
        if name == "countryCode":
            return self.rng.choice(["US", "DE", "GB", "ZZ", None])
        # A search: part of a name, any case, LIKE wildcards (taken literally), empty, or nothing.
        return self.rng.choice(["contoso", "CON", "o", "%", "_", "a_b", "\\", "", None, "fabrikam"])

    def connection(self, type_name: str, depth: int, *, attributed: bool = False) -> str:
        parts = []
        for part in self.pick(["edges", "nodeless", "pageInfo", "totalCount", "__typename"], 1, 3):
            if part == "edges" and attributed and self.rng.random() < 0.6:
                associations = self.selection("PartnerAssociation", 1)
                node = f"node {{ {self.selection(type_name, depth)} }} " if self.rng.random() < 0.7 else ""
                parts.append(f"edges {{ cursor {node}associations {{ {associations} }} }}")
            elif part == "edges":
                parts.append(f"edges {{ cursor node {{ {self.selection(type_name, depth)} }} }}")
            elif part == "nodeless":
                parts.append("edges { __typename cursor }")
            elif part == "pageInfo":
                fields = self.pick(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"], 1, 5)
                parts.append(f"pageInfo {{ {' '.join(fields)} }}")
            else:
                parts.append(part)
        return " ".join(parts)

    def usage_root(self) -> str:
        """A portal's usage read, shaped like the benchmark's (1), (2) and (5): the caller's tenant's or
        subscriptions' usage, its partner's attributed usage, a page of attributed subscriptions with theirs."""
        self.roots += 1
        shape = self.rng.choice(["tenant", "partner", "page", "subscriptions"])
        if shape == "page":
            usage = f"usage{self.usage_arguments('usage')} {{ {self.usage()} }}"
            page = self.rng.choice([1, 3, 50])
            return f"r{self.roots}: attributedSubscriptions(first: {page}) {{ edges {{ node {{ id {usage} }} }} }}"
        if shape == "subscriptions":
            usage = f"usage{self.usage_arguments('usage')} {{ {self.usage()} }}"
            return (
                f"r{self.roots}: subscriptions(first: {self.rng.choice([1, 5])}) {{ edges {{ node {{ {usage} }} }} }}"
            )
        type_name, field = ("Tenant", "usage") if shape == "tenant" else ("Partner", "attributedUsage")
        ids = self.visible.get(type_name) or self.world.by_type[type_name]
        node_id = self.variable("ID!", self.rng.choice(ids))
        usage = f"{field}{self.usage_arguments(field)} {{ {self.usage(1)} }}"
        return f"r{self.roots}: node(id: {node_id}) {{ ... on {type_name} {{ {usage} }} }}"

    def invitations(self) -> str:
        """A partner portal's (or an admin tool's) list of invitations: the viewer's partner's, or a partner's by id
        (the caller's own, any other: FORBIDDEN unless an admin), every field at times, pages, cursors, a filter."""
        self.roots += 1
        arguments = self.page_arguments("dporInvitations")
        if self.rng.random() < 0.6:
            given = f"filter: {self.invitations_filter()}"
            arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
        shape = self.rng.choice(["counted", "paged", "any"])
        if shape == "any":
            inner = self.connection("DporInvitation", 0)
        else:
            fields = sorted(OBJECTS["DporInvitation"].fields)
            # Its status always: the boundaries of the clock are what this read adds.
            node = " ".join(fields) if self.rng.random() < 0.5 else f"status {self.selection('DporInvitation', 0)}"
            inner = (
                f"totalCount edges {{ cursor node {{ {node} }} }}"
                if shape == "counted"
                else f"edges {{ node {{ {node} }} }} pageInfo {{ hasNextPage endCursor }}"
            )
        listed = f"dporInvitations{arguments}{self.directive()} {{ {inner} }}"
        if self.rng.random() < 0.5:
            return f"r{self.roots}: viewer {{ partner {{ id {listed} }} }}"
        invited = self.visible["invited:Partner"]  # the partners that have invitations
        partner = self.variable("ID!", self.rng.choice([*invited, *invited, *invited, *self.world.by_type["Partner"]]))
        return f"r{self.roots}: partner(id: {partner}) {{ name {listed} }}"

    def usage_aggregates(self) -> str:
        """`usageAggregates`: a window, sometimes narrowed by tenant, subscription, partner (the caller's own, any
        other, or junk), association type and service; a literal filter (its fields literals or variables) or one
        variable for the whole."""
        self.roots += 1
        first, last = usage_window(self.rng)
        grouped = sorted(set(self.pick([*GROUPINGS, "SUBSCRIPTION", "TENANT"], 0, 3)))
        if "DAY" in grouped and (last - first).days > 40 and self.rng.random() < 0.8:
            grouped.remove("DAY")
        values: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
        for name in self.pick(["tenantId", "subscriptionId", "partnerId", "associationType", "service"], 0, 2):
            if name == "associationType":
                values[name] = self.rng.choice([*(member.name for member in AssociationType), None])
            elif name == "service":
                values[name] = self.rng.choice([*SERVICES, None])
            else:
                type_name = {"tenantId": "Tenant", "subscriptionId": "Subscription", "partnerId": "Partner"}[name]
                mine = self.visible.get(type_name, [])
                values[name] = self.rng.choice([*mine, *mine, *self.world.by_type[type_name], JUNK_IDS[2], None])
        if self.rng.random() < 0.3:
            given = self.variable("UsageAggregatesFilter!", values)
        else:
            types = {"from": "Date!", "to": "Date!", "associationType": "AssociationType", "service": "String"}
            literal = []
            for name, value in values.items():
                if self.rng.random() < 0.3:
                    literal.append(f"{name}: {self.variable(types.get(name, 'ID'), value)}")
                elif name == "associationType" and value is not None:
                    literal.append(f"{name}: {value}")
                else:
                    literal.append(f"{name}: {orjson.dumps(value).decode()}")
            given = f"{{{', '.join(literal)}}}"
        listed = f"[{', '.join(grouped)}]"
        groups = self.variable("[UsageGroupBy!]!", grouped) if self.rng.random() < 0.3 else listed
        return f"r{self.roots}: usageAggregates(filter: {given}, groupBy: {groups}) {{ {self.usage(2)} }}"

    def root(self) -> str:
        field = self.rng.choice(
            [
                *ROOTS,
                *CONNECTION_ROOTS,
                "attributedSubscriptions",
                "__typename",
                "usage",
                "usage",
                "usageAggregates",
                "viewer",
                "nodes",
                "partnerByMpnId",
                "pendingClaims",
                "invitations",
                "invitations",
            ]
        )
        if field == "__typename":
            return "__typename"
        if field == "partnerByMpnId":
            self.roots += 1
            # Every partner's MPN id (a partner caller sees only its own: the others are NOT_FOUND), or none's.
            mpn_id = self.rng.choice([*self.world.mpn_ids, "0", ""])
            given = self.variable("String!", mpn_id) if self.rng.random() < 0.5 else orjson.dumps(mpn_id).decode()
            inner = self.selection("Partner", 2)
            return f"r{self.roots}: partnerByMpnId(mpnId: {given}){self.directive()} {{ {inner} }}"
        if field == "usageAggregates":
            return self.usage_aggregates()
        if field == "invitations":
            return self.invitations()
        if field == "pendingClaims":
            self.roots += 1
            arguments = self.page_arguments("pendingClaims")
            if self.rng.random() < 0.6:  # a tenant the caller reaches, any other (NOT_FOUND), junk, or none
                tenants = self.visible.get("Tenant", [])
                tenant = self.rng.choice([*tenants, *tenants, *self.world.by_type["Tenant"], *JUNK_IDS, None])
                literal = orjson.dumps(tenant).decode()
                given = f"tenantId: {self.variable('ID', tenant) if self.rng.random() < 0.5 else literal}"
                arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
            connection = self.connection("PartnerAssociation", 2)
            return f"r{self.roots}: pendingClaims{arguments}{self.directive()} {{ {connection} }}"
        if field == "nodes":
            self.roots += 1
            reachable = [node_id for key, ids in self.visible.items() if key in TYPES for node_id in ids]
            pool = reachable or self.world.all()
            ids = [self.rng.choice(pool if self.rng.randint(0, 4) else self.world.all() + JUNK_IDS) for _ in range(4)]
            ids = ids[: self.rng.randint(0, 4)] if self.rng.randint(0, 19) else ids * 26  # 104: BAD_USER_INPUT
            if self.rng.random() < 0.5:
                given = self.variable("[ID!]!", ids)
            else:
                given = f"[{', '.join(orjson.dumps(node_id).decode() for node_id in ids)}]"
            type_name = self.rng.choice(sorted(TYPES))
            inner = f"id ... on {type_name} {{ {self.selection(type_name, 1)} }}"
            return f"r{self.roots}: nodes(ids: {given}){self.directive()} {{ __typename {inner} }}"
        if field == "viewer":
            self.roots += 1
            parts = []
            for name in self.pick(["subject", "clientId", "roles", "scopes", "permissions", "tenant", "partner"], 1, 5):
                if name in ("tenant", "partner"):
                    parts.append(f"{name} {{ {self.selection(name.capitalize(), 1)} }}")
                else:
                    parts.append(self.rng.choice([name, f"{name}{len(parts)}: {name}"]))
            return f"r{self.roots}: viewer{self.directive()} {{ {' '.join(parts)} __typename }}"
        if field == "usage":
            return self.usage_root()
        if field == "attributedSubscriptions":
            self.roots += 1
            arguments = self.page_arguments("subscriptions")
            if self.rng.random() < 0.3:  # a platform admin's way; anyone else's is the interpreter's NOT_FOUND
                partner = self.rng.choice(self.world.by_type["Partner"] + JUNK_IDS[:1])
                given = f"partnerId: {self.variable('ID', partner)}"
                arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
            if self.rng.random() < 0.4:
                given = f"filter: {self.attributed_filter()}"
                arguments = f"({arguments[1:-1]}, {given})" if arguments else f"({given})"
            connection = self.connection("Subscription", 2, attributed=True)
            return f"r{self.roots}: attributedSubscriptions{arguments} {{ {connection} }}"
        if field in CONNECTION_ROOTS:
            self.roots += 1
            target, key, spec = CONNECTION_ROOTS[field]
            arguments = self.with_filter(self.page_arguments(key.name), spec)
            return f"r{self.roots}: {field}{arguments} {{ {self.connection(target, 2)} }}"
        expected = ROOTS[field]
        # Mostly what the caller can see (a portal sends back the ids it was given), else anything at all.
        if expected is None:
            reachable = [node_id for key, ids in self.visible.items() if key != "invited:Partner" for node_id in ids]
            anything = self.world.all() + JUNK_IDS
        else:
            reachable, anything = self.visible.get(expected, []), self.world.by_type[expected] + JUNK_IDS
        pool = reachable if reachable and self.rng.randint(0, 4) else anything
        node_id = self.rng.choice(pool)
        argument = self.variable("ID!", node_id) if self.rng.random() < 0.5 else orjson.dumps(node_id).decode()
        self.roots += 1
        # The first root may go unaliased; the others always get their own key (no conflicting arguments).
        alias = self.rng.choice(["", f"r{self.roots}: "]) if self.roots == 1 else f"r{self.roots}: "
        if expected is None:
            type_name = self.rng.choice(sorted(TYPES))
            inner = f"id ... on {type_name} {{ {self.selection(type_name, 2)} }}"
        else:
            inner = self.selection(expected, 2)
        return f"{alias}{field}(id: {argument}){self.directive()} {{ {inner} }}"

    def document(self) -> Document:
        roots = [self.root() for _ in range(self.rng.randint(1, 2))]
        header = f"query Q({', '.join(self.definitions)})" if self.definitions else "query Q"
        text = " ".join([f"{header} {{ {' '.join(roots)} }}", *self.fragments.values()])
        return Document(text, self.variables)


def usage_window(rng: random.Random) -> tuple[date, date]:
    """Windows over the demo's 13 months of usage and the extra usage of this month: whole and partial months,
    the current month to date, short and single days, and windows the interpreter refuses (backwards, over 36
    months, before any usage could be)."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    kind = rng.choice(["month", "months", "months", "days", "days", "day", "backwards", "long", "before"])
    if kind == "month":
        return yesterday.replace(day=1), yesterday
    if kind == "months":
        first = (yesterday - timedelta(days=rng.randint(20, 420))).replace(day=rng.choice([1, 1, 2, 15, 28]))
        return first, rng.choice(
            [yesterday, yesterday + timedelta(days=1), first + timedelta(days=rng.randint(27, 400))]
        )
    if kind in ("days", "day"):
        first = yesterday - timedelta(days=rng.randint(0, 60))
        return first, first + timedelta(days=0 if kind == "day" else rng.randint(1, 45))
    if kind == "backwards":
        return yesterday, yesterday - timedelta(days=rng.randint(1, 40))
    if kind == "long":
        return yesterday - timedelta(days=rng.choice([366, 367, 1095, 1096, 1200])), yesterday
    return date(1999, 12, rng.randint(1, 31)), date(2000, 1, rng.choice([1, 1, 31]))


def document(rng: random.Random, world: WorldIds, visible: dict[str, list[str]]) -> Document:
    return _Writer(rng, world, visible).document()


async def _visible_ids(api: Api, world: WorldIds, caller: Principal) -> dict[str, list[str]]:
    """The global ids `node` answers for this caller, by type (asked of the interpreter)."""
    visible: dict[str, list[str]] = {}
    for type_name, ids in world.by_type.items():
        for start in range(0, len(ids), 100):
            body = await api.execute(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids[start : start + 100]}, as_=caller
            )
            found = [node["id"] for node in (body.get("data") or {}).get("nodes") or [] if node]
            visible.setdefault(type_name, []).extend(found)
    for field, (_target, key, _filter) in CONNECTION_ROOTS.items():
        body = await api.execute(f"{{ {field}(first: 6) {{ edges {{ cursor }} }} }}", as_=caller)
        edges = ((body.get("data") or {}).get(field) or {}).get("edges") or []
        visible[f"cursor:{key.name}"] = [edge["cursor"] for edge in edges]
    body = await api.execute("{ pendingClaims(first: 6) { edges { cursor } } }", as_=caller)
    edges = ((body.get("data") or {}).get("pendingClaims") or {}).get("edges") or []
    visible["cursor:pendingClaims"] = [edge["cursor"] for edge in edges]
    invitations = "{ partners(first: 20) { edges { node { dporInvitations(first: 4) { edges { cursor } } } } } }"
    body = await api.execute(invitations, as_=caller)
    partners = ((body.get("data") or {}).get("partners") or {}).get("edges") or []
    pages = [edge["node"].get("dporInvitations") for edge in partners if edge and edge.get("node")]
    visible["cursor:dporInvitations"] = [edge["cursor"] for page in pages if page for edge in page["edges"]]
    contacts = "{ tenants(first: 10) { edges { node { contacts(first: 3) { edges { cursor } } } } } }"
    body = await api.execute(contacts, as_=caller)
    tenants = ((body.get("data") or {}).get("tenants") or {}).get("edges") or []
    pages = [edge["node"].get("contacts") for edge in tenants if edge and edge.get("node")]
    visible["cursor:contacts"] = [edge["cursor"] for page in pages if page for edge in page["edges"]]
    history = "{ subscriptions(first: 30) { edges { node { associationHistory(first: 3) { edges { cursor } } } } } }"
    body = await api.execute(history, as_=caller)
    pages = [
        edge["node"].get("associationHistory")
        for edge in ((body.get("data") or {}).get("subscriptions") or {}).get("edges") or []
    ]
    visible["cursor:associationHistory"] = [edge["cursor"] for page in pages if page for edge in page["edges"]]
    return visible


async def _extra_history(database: Database) -> None:
    """Histories the demo lacks: ended DPORs with sub-second and far-past instants, a tenant created at a
    microsecond, a subscription never reported."""
    old = datetime(1970, 1, 1, tzinfo=UTC)
    async with database.write() as session:
        tenant = factories.tenant(created_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC))
        first, second = factories.partner(), factories.partner()
        await factories.add_flushed(session, tenant, first, second)
        subscription = factories.subscription(tenant)
        await factories.add_flushed(session, subscription)
        session.add(
            factories.association(
                subscription,
                first,
                valid_from=old,
                valid_to=old + timedelta(days=400, seconds=1),
                end_reason=AssociationEndReason.REPLACED,
                ended_by="someone",
            )
        )
        session.add(factories.association(subscription, second, valid_from=old + timedelta(days=400, seconds=1)))
        session.add(factories.association(subscription, first, type=AssociationType.TRANSACTING_PARTNER))
        # A claim whose decline window passed undeclined, ended since; its evidence never given ("" in the API).
        session.add(
            factories.association(
                subscription,
                second,
                type=AssociationType.TRANSACTING_PARTNER,
                valid_from=old + timedelta(days=10),
                valid_to=old + timedelta(days=20),
                end_reason=AssociationEndReason.REPLACED,
                ended_by="someone",
                decline_by=old + timedelta(days=17),
                claim_workload='Migration "phase 2"\n\tand after',
            )
        )


async def _pending_claims(database: Database, now: datetime) -> None:
    """Claims around the stopped clock's instant (`now`, whole seconds; the clock itself reads 0.7 s later): a
    window that closed a second ago, one that closes at `now` (closed: listed only while declineBy > now), one
    that closes a second later, one in a month, and one ended though PENDING; in the demo owner's tenant and in
    another."""
    async with database.write() as session:
        owner = select(Tenant).where(Tenant.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
        tenants = [(await session.execute(owner)).scalar_one(), factories.tenant()]
        await factories.add_flushed(session, tenants[1])
        for tenant in tenants:
            subscription = factories.subscription(tenant)
            await factories.add_flushed(session, subscription)
            for offset, ended in ((-1, False), (0, False), (1, False), (30 * 86400, False), (86400, True)):
                partner = factories.partner()
                await factories.add_flushed(session, partner)
                end = {"valid_to": now, "end_reason": AssociationEndReason.REPLACED, "ended_by": "x"} if ended else {}
                session.add(
                    factories.association(
                        subscription,
                        partner,
                        type=AssociationType.TRANSACTING_PARTNER,
                        valid_from=now - timedelta(days=1),
                        status=AssociationStatus.PENDING,
                        decline_by=now + timedelta(seconds=offset),
                        claim_workload="Pending",
                        **end,
                    )
                )


async def _invitations(database: Database, now: datetime) -> None:
    """Invitations around the stopped clock's instant (`now`, whole seconds; the clock reads 0.7 s later), of the
    demo partner and of the delegated one: expiring a second before `now`, at `now` (EXPIRED from its expiry on), a
    second after and in a month (the newest three: first pages show them); revoked (and expired since), used up by
    maxRedemptions, one redemption short of it; two created in the same second (the id breaks the tie), messages
    with quotes, line breaks and accents."""
    async with database.write() as session:
        mpn_ids = (DEMO_PARTNER_MPN_ID, DEMO_DELEGATED_PARTNER_MPN_ID)
        partners = (await session.scalars(select(Partner).where(Partner.mpn_id.in_(mpn_ids)))).all()
        created = now - timedelta(days=2)
        shapes: list[dict[str, Any]] = [
            {"expires_at": now - timedelta(seconds=1)},
            {"expires_at": now, "message": 'Say "yes"\n\tplease'},
            {"expires_at": now + timedelta(seconds=1), "max_redemptions": 5, "redemptions": 4},
            {"expires_at": now + timedelta(days=30), "message": "Zoë's offer"},
            {"expires_at": now + timedelta(days=30), "revoked_at": now - timedelta(days=2)},
            {"expires_at": now - timedelta(days=1), "revoked_at": now - timedelta(days=3)},
            {"expires_at": now + timedelta(days=30), "max_redemptions": 2, "redemptions": 2},
            {"expires_at": now - timedelta(seconds=1), "max_redemptions": 1, "redemptions": 1},
            {"expires_at": now + timedelta(days=30), "max_redemptions": 3, "redemptions": 0},
        ]
        for partner in partners:
            for index, shape in enumerate(shapes):
                session.add(
                    DporInvitation(
                        partner_id=partner.id,
                        code_hash=code_hash(f"compiled-{partner.mpn_id}-{index}"),
                        # Newest first (small pages show the boundaries); the fourth and fifth in the same second.
                        created_at=created - timedelta(days=3 if index == 4 else index),
                        **({"redemptions": 0} | shape),
                    )
                )


async def _invited_partners(database: Database) -> list[str]:
    """The global ids of the partners `_invitations` gave invitations."""
    async with database.read() as session:
        invited = await session.scalars(
            select(DporInvitation.partner_id).distinct().order_by(DporInvitation.partner_id)
        )
        return [global_id.encode("Partner", partner_id) for partner_id in invited]


def _at(day: date, hours: int, microseconds: int = 0) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(hours=hours, microseconds=microseconds)


async def _extra_usage(database: Database) -> None:
    """Usage the demo lacks, on a subscription of the demo owner's tenant that the demo partner is attributed (under
    each recognition role, and none):
    currencies of 0, 3 and 4 minor units, shares of exactly half a minor unit, credits, a large amount, tiny
    quantities, services that sort differently by code point than by locale, and days held in part (two intervals
    touching one day, an instant with microseconds)."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = [yesterday - timedelta(days=offset) for offset in range(40)]
    async with database.write() as session:
        owner = select(Tenant).where(Tenant.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
        tenant = (await session.execute(owner)).scalar_one()
        mine = select(Partner).where(Partner.mpn_id == DEMO_PARTNER_MPN_ID)
        partner = (await session.execute(mine)).scalar_one()
        subscription = factories.subscription(tenant)
        await factories.add_flushed(session, subscription)
        ended = _at(days[20], 10)
        session.add_all(
            [
                factories.association(
                    subscription,
                    partner,
                    valid_from=_at(days[35], 6, 500_000),
                    valid_to=ended,
                    recognition_role=RecognitionRole.SELL_AND_DEPLOY,
                    end_reason=AssociationEndReason.REPLACED,
                    ended_by="someone",
                ),
                factories.association(subscription, partner, valid_from=_at(days[20], 14)),
                # A claim its owner declined: never attributed, but listed with its claim.
                factories.association(
                    subscription,
                    partner,
                    type=AssociationType.TRANSACTING_PARTNER,
                    valid_from=_at(days[30], 9),
                    valid_to=_at(days[29], 9),
                    status=AssociationStatus.DECLINED,
                    end_reason=AssociationEndReason.CUSTOMER_DECLINED,
                    ended_by="owner",
                    decline_by=_at(days[16], 9),
                    claim_workload="Analytics",
                    claim_evidence="Ticket #42, signed off by Zoë",
                ),
                factories.association(
                    subscription,
                    partner,
                    type=AssociationType.TRANSACTING_PARTNER,
                    recognition_role=RecognitionRole.MANAGE_AND_USE,
                    valid_from=_at(days[5], 12),
                    valid_to=_at(days[2], 18, 1),
                    end_reason=AssociationEndReason.REPLACED,
                    ended_by="someone",
                ),
            ]
        )
        records = []
        for day in days:
            records += [
                record(subscription, day, meter="m1", service="compute", amount="1", currency="JPY"),
                record(
                    subscription,
                    day,
                    meter="m2",
                    service="Compute",
                    quantity="0.000001",
                    amount="0.003",
                    currency="BHD",
                ),
                record(
                    subscription, day, meter="m3", service="Égalité", quantity="2.5", amount="-0.0001", currency="CLF"
                ),
                record(subscription, day, meter="m4", service="_internal", amount="123456789012.345678"),
                record(subscription, day, meter="m5", service="compute", quantity="0", amount="0", currency="EUR"),
            ]
        await ingest_usage(session, records)


def _canonical(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body))


async def _send(api: Api, document: Document, caller: Principal) -> bytes:
    headers = {"authorization": f"Bearer {token_for(api.settings, caller)}"}
    response = await api.client.post(
        "/graphql",
        json={"query": document.text, "variables": document.variables, "operationName": "Q"},
        headers=headers,
    )
    return f"{response.status_code} ".encode() + _canonical(response.content)


class _Reasons(logging.Handler):
    """The compiled path's fall-back reasons (resolvers/compiled/runner.py logs each at DEBUG) since last cleared."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.DEBUG:
            self.seen.append(record.getMessage())


def _reference_error(reference: bytes) -> str:
    """What the interpreter answered, as the reason table shows it: `-` for data without errors, else the first
    error's code and the field it names (`FORBIDDEN at Partner.attributedUsage` by its last path key)."""
    errors = orjson.loads(reference.split(b" ", 1)[1]).get("errors")
    if not errors:
        return "-"
    first = errors[0]
    code = (first.get("extensions") or {}).get("code", "?")
    keys = [key for key in first.get("path") or () if isinstance(key, str)]
    return f"{code} at {re.sub(r'[0-9]+$', '', keys[-1])}" if keys else code


def _reason(seen: list[str]) -> str:
    """The first fall-back reason the compiled path logged; none: the extension never ran (refused before)."""
    if not seen:
        return "refused before execution (limits, cost, validation)"
    return seen[0]


@dataclass
class Twins:
    """The same database behind two gateways, and how the compiled one served each request."""

    ids: WorldIds
    compiled: Api
    interpreted: Api
    served: Counter[str]
    visible: dict[int, dict[str, list[str]]]
    answers: list[str]
    reasons: _Reasons
    declined: Counter[tuple[str, str]]


class TestCompiledReads:
    # Collected only when a PostgreSQL server is configured (SQLite always uses the interpreter).
    __test__ = "postgresql" in databases.backends()
    pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

    @pytest.fixture
    async def twins(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Twins]:
        """Lives across the examples of the test; on teardown, reports (and checks) the share that compiled. The
        server's clock stands still (0.7 s past a whole second), so claims can sit on its boundaries."""
        now = datetime.now(UTC).replace(microsecond=0)
        stopped = now + timedelta(microseconds=700_000)
        with clock.moved_to(lambda: stopped):
            async for twins in self._twins(database, monkeypatch, now):
                yield twins

    async def _twins(self, database: Database, monkeypatch: pytest.MonkeyPatch, now: datetime) -> AsyncIterator[Twins]:
        await load_demo(database)
        await _extra_history(database)
        await _extra_usage(database)
        await _pending_claims(database, now)
        await _invitations(database, now)
        served: Counter[str] = Counter()
        answers: list[str] = []  # each compiled answer since the test last cleared it
        answer = CompiledReads.answer

        async def counted(self: CompiledReads, *arguments: Any) -> str | None:
            # Both ways to a compiled answer end here: the extension's, and the fast lane's for a vetted text.
            text = await answer(self, *arguments)
            if text is not None:
                answers.append(text)
            return text

        monkeypatch.setattr(CompiledReads, "answer", counted)
        reasons = _Reasons()
        declined: Counter[tuple[str, str]] = Counter()
        compiled_logger = logging.getLogger("dpor.compiled")
        level = compiled_logger.level
        compiled_logger.addHandler(reasons)
        compiled_logger.setLevel(logging.DEBUG)
        try:
            async with gateway(database) as compiled, gateway(database, compiled_reads=False) as interpreted:
                ids = await world_ids(database)
                visible = {index: await _visible_ids(interpreted, ids, caller) for index, caller in enumerate(CALLERS)}
                invited = await _invited_partners(database)
                for seen in visible.values():
                    seen["invited:Partner"] = invited
                yield Twins(ids, compiled, interpreted, served, visible, answers, reasons, declined)
        finally:
            compiled_logger.removeHandler(reasons)
            compiled_logger.setLevel(level)
        total = served["compiled"] + served["interpreted"]
        usage = served["usage compiled"] + served["usage interpreted"]
        answered = served["answered compiled"] + served["answered interpreted"]
        print(f"\ncompiled reads: {served['compiled']} of {total} generated requests compiled")
        print(f"compiled reads: {served['usage compiled']} of {usage} requests with usage fields compiled")
        print(f"compiled reads: {served['answered compiled']} of {answered} requests answered without errors compiled")
        for marker in FAMILIES:
            seen = served[f"{marker} compiled"] + served[f"{marker} interpreted"]
            print(f"compiled reads: {served[f'{marker} compiled']} of {seen} requests with {marker!r} compiled")
        # Why the others fell back: the compiler's first reason, by what the interpreter answered instead.
        print("compiled reads: fall-backs by reason (the interpreter's answer: `-` data without errors)")
        for (why, answered_with), count in declined.most_common():
            print(f"  {count:5d}  {why}  ->  {answered_with}")
        # The generator aims at the catalog and most callers reach what it names: most requests compile. Usage
        # fields too, though their windows are often refused and a tenant caller may not read attributedUsage.
        # Half the generated requests are answered with errors (FORBIDDEN roots and fields, refused windows and
        # cursors, junk ids), which the interpreter words: of those answered without one, what portals and
        # partners send, the goal is 90%.
        assert served["compiled"] > 0.3 * total and served["usage compiled"] > 0.3 * usage, served
        assert served["answered compiled"] >= 0.9 * answered, served

    async def test_compiled_answers_equal_the_interpreters(self, twins: Twins) -> None:
        differences = []
        for example in range(EXAMPLES):
            rng = random.Random(f"{SEED}:{example}")
            caller = rng.randrange(len(CALLERS))
            generated = document(rng, twins.ids, twins.visible[caller])
            twins.answers.clear()
            twins.reasons.seen.clear()
            ours = await _send(twins.compiled, generated, CALLERS[caller])
            # The share counts each generated document once, as its first send was served.
            path = "compiled" if twins.answers else "interpreted"
            why = _reason(twins.reasons.seen)
            twins.served[path] += 1
            if any(field in generated.text for field in ("usage(", "attributedUsage(", "usageAggregates(")):
                twins.served[f"usage {path}"] += 1
            for marker in FAMILIES:
                if marker in generated.text:
                    twins.served[f"{marker} {path}"] += 1
            # Again: a document the compiled path answered is now vetted, and its repeat is the fast lane's.
            repeated = await _send(twins.compiled, generated, CALLERS[caller])
            reference = await _send(twins.interpreted, generated, CALLERS[caller])
            if "errors" not in orjson.loads(reference.split(b" ", 1)[1]):
                twins.served[f"answered {path}"] += 1
            if path == "interpreted":
                twins.declined[why, _reference_error(reference)] += 1
            if ours != reference or repeated != reference:
                differences.append(
                    f"example {example}, {sorted(role.value for role in CALLERS[caller].roles)}: {generated}\n"
                    f"  compiled:    {ours!r}\n  repeated:    {repeated!r}\n  interpreted: {reference!r}"
                )
        assert not differences, f"{len(differences)} differences; the first:\n" + "\n".join(differences[:3])


async def test_the_path_that_answered_is_in_the_log_and_the_metrics_only(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Which path served a query shows in the access log and /metrics, never in the response."""
    from prometheus_client import REGISTRY

    def served(path: str) -> float:
        return REGISTRY.get_sample_value("dpor_graphql_query_executions_total", {"path": path}) or 0.0

    await load_demo(database)
    ids = await world_ids(database)
    document = "query($id: ID!) { node(id: $id) { id ... on Subscription { displayName } } }"
    expected = "compiled" if database.dialect == "postgresql" else "interpreted"
    before = served(expected)
    async with gateway(database) as api:
        with caplog.at_level("INFO", logger="dpor.access"):
            body = await api.execute(document, {"id": ids.by_type["Subscription"][0]}, as_=CALLERS[5])
    assert "errors" not in body and set(body) == {"data", "extensions"}
    assert "compiled" not in str(body) and "interpreted" not in str(body)
    assert served(expected) == before + 1
    assert [record.__dict__["execution"] for record in caplog.records] == [expected]
