"""Generated operations, every role, a seeded world: no unexpected error, no 5xx, nothing outside the caller's
scope, and the DPOR invariants hold afterwards.

Operations are drawn by a Hypothesis strategy built from the schema itself (graphql-core's GraphQLSchema
behind the Strawberry schema): any query or mutation root field, arguments of the right types, selection sets
that walk object fields and interface fragments a few levels deep. Argument values are biased towards the real
world: IDs are mostly the global IDs of rows that exist (of every type, the caller's and everyone else's),
versions are near the real ones, MPN ids and names are the demo's; the rest is junk of the right GraphQL type
(unicode, NUL, empty, huge integers, dates at the edges of the calendar, ids of the wrong type). Random strings
for ID arguments, which is what a type-only generator such as hypothesis-graphql draws, would only ever
reach NOT_FOUND; aiming at the rows that exist is what makes the scope checks mean something.

Each role runs its own test on a freshly loaded demo dataset (gateway/seed/demo.py), mutations included, so the
world drifts as the run goes (DPORs set and removed, links added, tenants created by the platform admin).

Examples per role: DPOR_TEST_FUZZ_EXAMPLES (default 150 on SQLite, 50 on PostgreSQL; `make test-long`
runs 2,000 on both backends). DPOR_TEST_FUZZ_SEED picks another deterministic
sequence (default 0). The PostgreSQL cases are collected only when DPOR_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
)
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from auth.principal import Principal, Role
from db.association import PartnerAssociation
from db.engine import Database
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from gateway.seed.demo import (
    DEMO_DELEGATED_PARTNER_MPN_ID,
    DEMO_OWNER_TENANT_EXTERNAL_ID,
    DEMO_PARTNER_MPN_ID,
    load_demo,
)
from gateway.wiring import extension_config
from schema.root import build_schema
from tests import databases, scalar_edges
from tests.api import Api, combined, principal, token_for
from tests.resilience_support import (
    WorldIds,
    check_invariants,
    contact_secrets,
    gateway,
    leaks,
    partner_secrets,
    personal_secrets,
    strings_in,
    tenant_secrets,
    unexpected_errors,
    world_ids,
)

# The heavy part on SQLite, a smaller sample on PostgreSQL: the whole file stays under a minute in CI.
DEFAULT_EXAMPLES = {"sqlite": 150, "postgresql": 50}
FUZZ_SEED = int(os.environ.get("DPOR_TEST_FUZZ_SEED", "0"))
# Object levels a selection set walks below the root field: deep enough to cross every relation
# (tenant -> subscriptions -> edges -> node -> partnerAssociations -> partner -> ...), under max_depth.
SELECTION_LEVELS = 5

CALLERS: dict[Role, Principal] = {
    Role.OWNER: principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    Role.SERVICE_ADMIN: principal(Role.SERVICE_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    Role.CO_ADMIN: principal(Role.CO_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID),
    Role.DELEGATED_ADMIN: principal(
        Role.DELEGATED_ADMIN, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID, partner=DEMO_DELEGATED_PARTNER_MPN_ID
    ),
    Role.PARTNER: principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID),
    Role.PLATFORM_ADMIN: principal(Role.PLATFORM_ADMIN),
    Role.USAGE_INGEST: principal(Role.USAGE_INGEST),
}


# Every single role, and a token holding two (issue 11: a field rule must hold for the row in hand under each role):
# Contoso's owner who is also the demo partner, attributed to other tenants whose contacts and domains it must
# never read.
FUZZ_CALLERS: dict[str, Principal] = {role.value: caller for role, caller in CALLERS.items()} | {
    "OWNER+PARTNER": combined(CALLERS[Role.OWNER], CALLERS[Role.PARTNER]),
}


def examples(backend: str) -> int:
    configured = os.environ.get("DPOR_TEST_FUZZ_EXAMPLES")
    return int(configured) if configured else DEFAULT_EXAMPLES[backend]


@dataclass(frozen=True)
class Operation:
    document: str
    variables: dict[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# Values


JUNK_STRINGS = ["", " ", "\x00", "null", "' OR 1=1 --", "%", "_", "é" * 300, "🦀", "a" * 5000, "\\", "<script>"]
JUNK_IDS = ["", "x", "VGVuYW50Om5vcGU=", "Tenant:", "!!!", "UGFydG5lcjo=", "U3Vic2NyaXB0aW9uOjEyMw=="]
DATETIMES = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-01-01T00:00:00",
    "2026-13-01T00:00:00Z",
    "yesterday",
    "",
]


def mostly(valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid 19 times in 20: an operation has several arguments, and one bad value refuses it whole, so
    junk everywhere at once would test little more than input validation."""
    return st.integers(0, 19).flatmap(lambda n: junk if n == 0 else valid)


# ID arguments by name -> the type of object they name. Others (`id`, `ids`) take any type.
ID_TYPES = {
    "tenantId": "Tenant",
    "subscriptionId": "Subscription",
    "partnerId": "Partner",
    "associationId": "PartnerAssociation",
    "relationshipId": "DelegatedAdminRelationship",
}


def string_values(argument: str, world: WorldIds, names: list[str]) -> st.SearchStrategy[str]:
    junk = st.one_of(st.sampled_from(JUNK_STRINGS), st.text(max_size=40))
    known: st.SearchStrategy[str]
    if argument == "mpnId":
        known = st.one_of(st.sampled_from(world.mpn_ids), st.from_regex(r"\A[0-9]{1,20}\Z"))
    elif argument == "countryCode":
        known = st.sampled_from(["US", "GB", "DE", "FR", "us", "ZZ", "USA"])
    elif argument in ("search", "name", "displayName"):
        known = st.sampled_from(names)
    elif argument == "after":
        # Cursors are opaque; null (the first page) mostly, or something that is not a cursor.
        return mostly(st.none(), junk)
    elif argument == "idempotencyKey":
        known = st.sampled_from(["key-1", "key-2", "key-3"])
    elif argument == "externalId":
        known = st.one_of(st.uuids().map(str), st.sampled_from([str(DEMO_OWNER_TENANT_EXTERNAL_ID)]))
    elif argument == "email":
        known = st.emails().map(str)
    elif argument == "primaryDomain":
        known = st.sampled_from(["example.com", "contoso.com", "a.b.c.example.org"])
    else:
        known = st.sampled_from(names)
    return mostly(known, junk)


def scalar_values(
    scalar: GraphQLScalarType, argument: str, world: WorldIds, names: list[str]
) -> st.SearchStrategy[Any]:
    name = scalar.name
    if name == "ID":
        # Mostly an id of the type the argument names (the caller's or someone else's), else any row's id.
        aimed = world.by_type.get(ID_TYPES.get(argument, ""), []) or world.all()
        return mostly(
            st.one_of(st.sampled_from(aimed), st.sampled_from(aimed), st.sampled_from(world.all())),
            st.sampled_from(JUNK_IDS),
        )
    if name == "Int":
        if argument == "expectedVersion":
            return mostly(st.integers(1, world.version_max + 1), st.integers(-(2**31), 2**31 - 1))
        if argument == "first":
            return mostly(st.integers(1, 3), st.sampled_from([-1, 0, 101, 2**31 - 1]))
        return st.integers(-(2**31), 2**31 - 1)
    if name == "Float":
        return st.floats(allow_nan=False, allow_infinity=False)
    if name == "Boolean":
        return st.booleans()
    if name == "String":
        return string_values(argument, world, names)
    if name == "DateTime":
        valid = st.one_of(
            st.sampled_from(DATETIMES[:4] + list(scalar_edges.DATETIMES_AT_UTC_RANGE_ENDS)),
            st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
        )
        return mostly(valid, st.sampled_from(DATETIMES[4:] + list(scalar_edges.DATETIMES_OUTSIDE_UTC_RANGE)))
    if name == "Date":
        valid = st.one_of(st.dates().map(lambda d: d.isoformat()), st.sampled_from(scalar_edges.DATES_AT_RANGE_ENDS))
        junk = ["2026-02-30", "today", "", *scalar_edges.DATES_NOT_IN_GRAMMAR]
        return mostly(valid, st.sampled_from(junk))
    if name == "Decimal":
        junk = [
            *scalar_edges.DECIMALS_NOT_FINITE,
            *scalar_edges.DECIMALS_NOT_IN_GRAMMAR,
            *scalar_edges.DECIMALS_HUGE_EXPONENTS,
            *scalar_edges.NUL_STRINGS,
        ]
        valid = st.one_of(
            st.sampled_from(list(scalar_edges.DECIMALS_IN_GRAMMAR)),
            st.decimals(allow_nan=False, allow_infinity=False, places=6).map(lambda d: format(d, "f")),
        )
        return mostly(valid, st.one_of(st.sampled_from(junk), st.just(1.5), st.just(12)))
    if name == "UUID":
        return mostly(
            st.one_of(st.uuids().map(str), st.just(str(DEMO_OWNER_TENANT_EXTERNAL_ID))),
            st.sampled_from(["not-a-uuid", ""]),
        )
    # JSON and anything added later: a small JSON value.
    return st.one_of(st.none(), st.integers(), st.text(max_size=10))


def input_values(
    type_: GraphQLInputType, argument: str, world: WorldIds, names: list[str], depth: int = 0
) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLNonNull):
        return input_values(type_.of_type, argument, world, names, depth)
    if isinstance(type_, GraphQLList):
        return st.lists(input_values(type_.of_type, argument, world, names, depth + 1), max_size=3)
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from(sorted(type_.values))
    if isinstance(type_, GraphQLScalarType):
        return scalar_values(type_, argument, world, names)
    assert isinstance(type_, GraphQLInputObjectType)
    required = {
        name: input_values(field.type, name, world, names, depth + 1)
        for name, field in type_.fields.items()
        if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
    }
    optional = {
        name: input_values(field.type, name, world, names, depth + 1)
        for name, field in type_.fields.items()
        if name not in required
    }
    return st.fixed_dictionaries(required, optional=optional)


# ---------------------------------------------------------------------------------------------------------------
# Documents


class DocumentBuilder:
    """Draws one operation: a root field with arguments (as variables) and a selection set below it."""

    def __init__(self, schema: GraphQLSchema, world: WorldIds, names: list[str]) -> None:
        self.schema = schema
        self.world = world
        self.names = names

    def operations(self) -> st.SearchStrategy[Operation]:
        kinds: list[tuple[str, GraphQLObjectType]] = [("query", self.schema.query_type)]  # type: ignore[list-item]
        if self.schema.mutation_type is not None:
            kinds.append(("mutation", self.schema.mutation_type))
        return st.sampled_from(kinds).flatmap(lambda kind: st.composite(self._operation)(*kind))

    def _operation(self, draw: st.DrawFn, kind: str, root: GraphQLObjectType) -> Operation:
        variables: dict[str, Any] = {}
        definitions: list[str] = []
        # Mutations run their root fields in series; one per operation keeps failures easy to read.
        count = 1 if kind == "mutation" else draw(st.integers(1, 2))
        fields = draw(st.lists(st.sampled_from(sorted(root.fields)), min_size=count, max_size=count))
        selections = [
            f"f{n}: " + self._field(draw, name, root.fields[name], SELECTION_LEVELS, variables, definitions)
            for n, name in enumerate(fields)
        ]
        header = f"({', '.join(definitions)})" if definitions else ""
        return Operation(f"{kind} Fuzz{header} {{ {' '.join(selections)} }}", variables)

    def _field(
        self,
        draw: st.DrawFn,
        name: str,
        field: GraphQLField,
        levels: int,
        variables: dict[str, Any],
        definitions: list[str],
    ) -> str:
        arguments: list[str] = []
        for arg_name, argument in sorted(field.args.items()):
            optional = not isinstance(argument.type, GraphQLNonNull) or argument.default_value is not Undefined
            if optional and draw(st.integers(0, 2)) > 0:
                continue  # optional arguments: given one time in three
            variable = f"v{len(definitions)}"
            definitions.append(f"${variable}: {argument.type}")
            variables[variable] = draw(input_values(argument.type, arg_name, self.world, self.names))
            arguments.append(f"{arg_name}: ${variable}")
        text = name + (f"({', '.join(arguments)})" if arguments else "")
        selection = self._selection(draw, _named(field.type), levels - 1, variables, definitions)
        return f"{text} {selection}" if selection else text

    def _selection(
        self,
        draw: st.DrawFn,
        type_: GraphQLNamedType,
        levels: int,
        variables: dict[str, Any],
        definitions: list[str],
    ) -> str:
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            return ""
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            possible = sorted(self.schema.get_possible_types(type_), key=lambda t: t.name)
            chosen = draw(st.lists(st.sampled_from(possible), max_size=2, unique_by=lambda t: t.name))
            fragments = [f"... on {t.name} {self._selection(draw, t, levels, variables, definitions)}" for t in chosen]
            return "{ __typename " + " ".join(fragments) + " }"
        assert isinstance(type_, GraphQLObjectType)

        def is_leaf(name: str) -> bool:
            return isinstance(_named(type_.fields[name].type), GraphQLScalarType | GraphQLEnumType)

        # Every plain leaf, always: whatever object a caller reaches shows all it says, so a row outside the
        # scope cannot hide behind an unlucky selection. Objects (and leaves taking arguments) are drawn, at least
        # one while levels remain, so a walk goes down (connection -> edges -> node -> ...) rather than stopping.
        leaves = [n for n in sorted(type_.fields) if is_leaf(n) and not type_.fields[n].args]
        others = [n for n in sorted(type_.fields) if n not in leaves and (levels > 0 or is_leaf(n))]
        picked = draw(st.lists(st.sampled_from(others), min_size=1, max_size=3, unique=True)) if others else []
        parts = ["__typename", *leaves] + [
            self._field(draw, name, type_.fields[name], levels, variables, definitions) for name in picked
        ]
        return "{ " + " ".join(parts) + " }"


def _named(type_: Any) -> GraphQLNamedType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    named: GraphQLNamedType = type_
    return named


# ---------------------------------------------------------------------------------------------------------------
# The world and what each caller must not see


@dataclass
class Fuzzing:
    api: Api
    database: Database
    caller: Principal
    secrets: set[str]
    operations: st.SearchStrategy[Operation]
    outcomes: Counter[str] = field(default_factory=Counter)


async def secrets_for(database: Database, caller: str) -> set[str]:
    async with database.read() as session:
        owner_tenant = await session.scalar(
            select(Tenant.id).where(Tenant.external_id == DEMO_OWNER_TENANT_EXTERNAL_ID)
        )
        partner = await session.scalar(select(Partner.id).where(Partner.mpn_id == DEMO_PARTNER_MPN_ID))
        attributed = set(
            (
                await session.scalars(
                    select(Subscription.tenant_id).where(
                        Subscription.id.in_(
                            select(PartnerAssociation.subscription_id).where(PartnerAssociation.partner_id == partner)
                        )
                    )
                )
            ).all()
        )
    assert owner_tenant is not None and partner is not None
    if caller == "OWNER+PARTNER":
        # Its own tenant whole; the attributed tenants by name and country only (their domains and contacts are
        # what the owner role must not lend the partner role); every partner in the directory, as an owner.
        others = attributed - {owner_tenant}
        return await tenant_secrets(database, except_tenants=attributed | {owner_tenant}) | await personal_secrets(
            database, tenants=others
        )
    role = Role(caller)
    if role is Role.PLATFORM_ADMIN:
        return set()
    if role is Role.PARTNER:
        # Its own associations' tenants, by name and country only; no contact or domain of anyone; no other partner.
        return (
            await tenant_secrets(database, except_tenants=attributed)
            | await contact_secrets(database)
            | await personal_secrets(database, tenants=attributed)
            | await partner_secrets(database, except_partner=partner)
        )
    if role is Role.USAGE_INGEST:
        return await tenant_secrets(database, except_tenants=set()) | await partner_secrets(
            database, except_partner=None
        )
    # The tenant roles and the delegated admin: their tenant (Contoso) only.
    return await tenant_secrets(database, except_tenants={owner_tenant})


@pytest.fixture
async def fuzzing(database: Database, request: pytest.FixtureRequest) -> AsyncIterator[Fuzzing]:
    caller: str = request.param
    await load_demo(database)
    world = await world_ids(database)
    names = ["Contoso", "contoso", "Fabrikam, Inc.", "Proseware", "Adatum", "Azure", "Ltd", "z"]
    async with gateway(database) as api:
        graphql_schema = build_schema(extension_config(api.settings))._schema
        builder = DocumentBuilder(graphql_schema, world, names)
        secrets = await secrets_for(database, caller)
        fuzz = Fuzzing(api, database, FUZZ_CALLERS[caller], secrets, builder.operations())
        yield fuzz
    # What the run reached (pytest -s shows it): a generator that only ever met refusals would prove little.
    print(f"\n{caller} on {database.dialect}: {sorted(fuzz.outcomes.items(), key=lambda kv: -kv[1])}")


async def send(fuzz: Fuzzing, operation: Operation) -> None:
    response = await fuzz.api.client.post(
        "/graphql",
        json={"query": operation.document, "variables": operation.variables},
        headers={"authorization": f"Bearer {token_for(fuzz.api.settings, fuzz.caller)}"},
    )
    context = f"\n{operation.document}\n{operation.variables}\n{response.text[:2000]}"
    assert response.status_code == 200, context
    body = response.json()
    assert not unexpected_errors(body), context
    # Data must not carry anything outside the scope. Error messages may repeat what the caller sent.
    assert not leaks(body.get("data"), fuzz.secrets), context
    echoed = {s for s in fuzz.secrets if any(s in sent for sent in strings_in(operation.variables))}
    assert not leaks(body.get("errors"), fuzz.secrets - echoed), context
    kind = operation.document.split(None, 1)[0]
    codes = sorted({(error.get("extensions") or {}).get("code") for error in body.get("errors") or []})
    fuzz.outcomes[f"{kind} {'+'.join(codes) or 'OK'}"] += 1
    if kind == "mutation":
        # After every mutation, refused or not: one active DPOR per subscription, chains without overlaps,
        # versions at least as high as the association changes audited.
        await check_invariants(fuzz.database, exact_versions=False)


def fuzz_settings(backend: str) -> settings:
    return settings(
        max_examples=examples(backend),
        deadline=None,
        database=None,
        # The fixture is meant to live across examples: the world drifts as the mutations run.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ROLES = pytest.mark.parametrize("fuzzing", list(FUZZ_CALLERS), indirect=True)
# A known graphql-core 3.3 bug (graphql-python/graphql-core#269, open): when a field error bubbles up through a
# non-null parent, sibling resolver coroutines already created are dropped without being awaited, and Python
# warns when they are collected. The answer is still correct and coded, so this one warning is let through; any
# other unraisable exception still fails the test (filterwarnings = error).
KNOWN_GRAPHQL_CORE_BUG = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <coroutine object (GraphQLCoreConverter\.from_resolver\.<locals>\._async_resolver"
    r"|Executor\.complete_awaitable_value|Executor\.execute_fields\.<locals>\.get_results) at"
    ":pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@ROLES
@KNOWN_GRAPHQL_CORE_BUG
@seed(FUZZ_SEED)
@fuzz_settings("sqlite")
@given(data=st.data())
async def test_generated_operations_stay_in_scope(fuzzing: Fuzzing, data: st.DataObject) -> None:
    await send(fuzzing, data.draw(fuzzing.operations, label="operation"))


class TestOnPostgreSQL:
    """The same property, a smaller sample: PostgreSQL's own behaviour (NUL bytes, types, locks) is what differs.
    Collected only when a PostgreSQL server is configured."""

    __test__ = "postgresql" in databases.backends()

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    @ROLES
    @KNOWN_GRAPHQL_CORE_BUG
    @seed(FUZZ_SEED)
    @fuzz_settings("postgresql")
    @given(data=st.data())
    async def test_generated_operations_stay_in_scope(self, fuzzing: Fuzzing, data: st.DataObject) -> None:
        await send(fuzzing, data.draw(fuzzing.operations, label="operation"))
