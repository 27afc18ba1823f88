"""In production, errors raised before execution name nothing of the schema the document did not spell (issue 11).

clairvoyance rebuilt 24 of 75 types and 48 of 260 fields of the production schema from validation messages such as
"Field 'tenant' of type 'Tenant' must have a selection of subfields". Each document below makes graphql-core (or a
custom scalar) name a type, field, argument or enum value the document does not contain; in development it does
(so the table exercises a leak), in production no message may.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLSchema, Lexer, Source, TokenKind
from graphql.type import GraphQLInterfaceType, GraphQLObjectType

from gateway.wiring import extension_config
from schema.extensions.schema_names import HIDDEN
from schema.root import build_schema
from tests.hardening_support import settings_for

PRODUCTION = build_schema(extension_config(settings_for(env="production", rate_limit_enabled=False)))
DEVELOPMENT = build_schema(extension_config(settings_for(env="dev", rate_limit_enabled=False)))
GRAPHQL = PRODUCTION._schema

_WINDOW = 'from: "2025-01-01", to: "2025-01-31"'

# (what graphql-core checks, document, variables)
DOCUMENTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("ScalarLeafs: object without selection", '{ tenant(id: "x") }', None),
    ("ScalarLeafs: interface without selection", '{ node(id: "x") }', None),
    ("ScalarLeafs: selection on an enum", "{ tenants { edges { node { status { x } } } } }", None),
    ("ScalarLeafs: selection on a custom scalar", "{ tenants { edges { node { createdAt { x } } } } }", None),
    ("FieldsOnCorrectType", "{ tenants { edges { node { foo } } } }", None),
    ("FieldsOnCorrectType: nested", "{ subscriptions { edges { node { tenant { bar } } } } }", None),
    ("KnownArgumentNames", "{ tenants { edges { node { subscriptions(foo: 1) { totalCount } } } } }", None),
    ("ProvidedRequiredArguments", "{ tenants { edges { node { usage { amount } } } } }", None),
    ("ProvidedRequiredArguments: root", "{ usageAggregates { amount } }", None),
    (
        "VariablesInAllowedPosition",
        "query($x: String!) { usageAggregates(filter: {from: $x, to: $x}, groupBy: []) { amount } }",
        None,
    ),
    (
        "ValuesOfCorrectType: enum value",
        f"{{ usageAggregates(filter: {{{_WINDOW}}}, groupBy: [DAYS]) {{ amount }} }}",
        None,
    ),
    (
        "ValuesOfCorrectType: required input field",
        '{ usageAggregates(filter: {from: "2025-01-01"}, groupBy: []) { amount } }',
        None,
    ),
    (
        "ValuesOfCorrectType: unknown input field",
        f"{{ usageAggregates(filter: {{{_WINDOW}, foo: 1}}, groupBy: []) {{ amount }} }}",
        None,
    ),
    (
        "ValuesOfCorrectType: wrong kind for an enum",
        '{ tenants(filter: {status: "ACTIVE"}) { totalCount } }',
        None,
    ),
    (
        "ValuesOfCorrectType: mutation input",
        'mutation { createTenant(input: {displayName: "x"}) { tenant { id } } }',
        None,
    ),
    ("PossibleFragmentSpreads", "{ tenants { edges { node { ... on Partner { name } } } } }", None),
    (
        "Variable coercion: required input field",
        "query($f: UsageAggregatesFilter!) { usageAggregates(filter: $f, groupBy: [DAY]) { amount } }",
        {"f": {"from": "2025-01-01"}},
    ),
    (
        "Variable coercion: mutation input",
        "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
        {"i": {"displayName": "x", "colour": "red"}},
    ),
]


def _schema_names(schema: GraphQLSchema) -> tuple[frozenset[str], frozenset[str]]:
    """(type names, names of fields, arguments, input fields and enum values), minus what every caller knows."""
    roots = {root.name for root in (schema.query_type, schema.mutation_type) if root}
    builtins = {"String", "Int", "Float", "Boolean", "ID"}
    types = {name for name in schema.type_map if not name.startswith("__")} - roots - builtins
    members: set[str] = set()
    for name in types | roots:
        named = schema.type_map[name]
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                members |= {field_name, *field.args}
        elif isinstance(named, GraphQLInputObjectType):
            members |= set(named.fields)
        elif isinstance(named, GraphQLEnumType):
            members |= set(named.values)
    return frozenset(types), frozenset(members)


TYPES, MEMBERS = _schema_names(GRAPHQL)


def _spelled(document: str) -> set[str]:
    lexer, names = Lexer(Source(document)), set()
    token = lexer.advance()
    while token.kind is not TokenKind.EOF:
        if token.kind in (TokenKind.NAME, TokenKind.STRING):
            names |= set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", token.value))
        token = lexer.advance()
    return names


def leaked(message: str, document: str) -> set[str]:
    """Schema names in the message that the document did not spell: any type name, and any member name that
    appears quoted (unquoted words such as `type` or `from` are the message's English)."""
    spelled = _spelled(document)
    words = set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", message))
    quoted = set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", " ".join(re.findall(r"'[^']*'|\"[^\"]*\"", message))))
    return ((words & TYPES) | (quoted & MEMBERS)) - spelled


async def _messages(schema: Any, document: str, variables: dict[str, Any] | None) -> list[str]:
    result = await schema.execute(document, variable_values=variables)
    assert result.errors, document
    return [error.message for error in result.errors]


@pytest.mark.parametrize(("rule", "document", "variables"), DOCUMENTS, ids=[rule for rule, _, _ in DOCUMENTS])
async def test_production_messages_name_only_what_the_document_spelled(
    rule: str, document: str, variables: dict[str, Any] | None
) -> None:
    development = await _messages(DEVELOPMENT, document, variables)
    assert any(leaked(message, document) for message in development), development  # the case is real
    production = await _messages(PRODUCTION, document, variables)
    assert [leaked(message, document) for message in production] == [set()] * len(production), production
    assert len(production) == len(development)


# Refusals of our own scalars' values (resolvers/grammar.py) name no schema type in any mode: there is nothing to
# hide, and nothing must be hidden that the caller needs ("is not a date written YYYY-MM-DD" stays whole).
SCALAR_REFUSALS = [
    ('{ usageAggregates(filter: {from: "nope", to: "2025-01-31"}, groupBy: []) { amount } }', None),
    (
        "query($f: UsageAggregatesFilter!) { usageAggregates(filter: $f, groupBy: [DAY]) { amount } }",
        {"f": {"from": "2025-01-01", "to": "never"}},
    ),
]


@pytest.mark.parametrize(("document", "variables"), SCALAR_REFUSALS)
async def test_scalar_refusals_name_no_schema_type_in_any_mode(document: str, variables: dict[str, Any] | None) -> None:
    for schema in (DEVELOPMENT, PRODUCTION):
        messages = await _messages(schema, document, variables)
        assert messages and all(not leaked(message, document) for message in messages), messages
        assert all("YYYY-MM-DD" in message for message in messages), messages


async def test_codes_and_the_documents_own_names_are_kept() -> None:
    result = await PRODUCTION.execute("{ tenants { edges { node { foo } } } }")
    [error] = result.errors or []
    assert error.message == f"Cannot query field 'foo' on type {HIDDEN}."
    assert error.extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert error.locations is not None
    result = await PRODUCTION.execute("{ tenants { edges { node { ... on Tenant { foo } } } } }")
    [error] = result.errors or []
    assert error.message == "Cannot query field 'foo' on type 'Tenant'."


async def test_a_name_written_only_in_a_comment_is_not_repeated() -> None:
    # Otherwise a comment listing guesses would make the message confirm the one that is right.
    result = await PRODUCTION.execute('{ tenant(id: "x") }  # Tenant Subscription Partner')
    [error] = result.errors or []
    assert "Tenant" not in error.message.replace("'tenant", "")
