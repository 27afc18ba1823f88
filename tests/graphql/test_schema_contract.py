"""The published contract: schema.graphql is what the server serves, and every type and field is described."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from gateway.commands.export_schema import SCHEMA_FILE, current_sdl
from gateway.settings import load_settings
from gateway.wiring import extension_config
from schema.root import build_schema


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == current_sdl(), (
        "schema.graphql is stale: run `dpor-gateway export-schema` (or `make schema`) and commit it"
    )


def test_the_served_schema_is_the_exported_one() -> None:
    served = build_schema(extension_config(load_settings())).as_str() + "\n"
    assert served == current_sdl()


def test_every_type_field_and_argument_has_a_description() -> None:
    schema = build_schema(extension_config(load_settings()))._schema
    missing = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID", "UUID", "Date", "JSON"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for argument_name, argument in getattr(field, "args", {}).items():
                    if not argument.description:
                        missing.append(f"{name}.{field_name}({argument_name})")
        if isinstance(graphql_type, GraphQLEnumType):
            continue
    assert missing == [], missing


def test_sdl_readers_see_only_the_real_root_operation_types() -> None:
    """Without an explicit schema block, SDL tools take the domain type `Subscription` as the subscription root
    and accept operations the server rejects (`subscription Bogus { externalId }`)."""
    from graphql import build_schema as build_from_sdl
    from graphql import parse, validate

    exported = build_from_sdl(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert exported.query_type is not None and exported.query_type.name == "Query"
    assert exported.mutation_type is not None and exported.mutation_type.name == "Mutation"
    # The subscription root is named for what it is (issue 15), never the domain type `Subscription`.
    assert exported.subscription_type is not None and exported.subscription_type.name == "SubscriptionRoot"
    assert validate(exported, parse("subscription Bogus { externalId }")) != []
    assert validate(exported, parse("subscription { attributionChanges { sequence } }")) == []
    reread = build_from_sdl(current_sdl()).subscription_type
    assert reread is not None and reread.name == "SubscriptionRoot"
