"""The static cost estimate: connections multiply by `first`, nested ones compound, and the estimate is
reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, parse

from db import statement_counter
from db.engine import Database
from schema.extensions.cost import CostMemo, estimate
from tests.hardening_support import (
    ItemConnection,
    client_for,
    codes,
    schema_for,
    settings_for,
    sqlite_database,
)

SCHEMA = schema_for(settings_for())._schema


def cost(query: str, variables: dict[str, Any] | None = None, operation: str | None = None) -> int | None:
    return estimate(SCHEMA, parse(query), operation, variables, max_page_size=100)


def test_scalars_cost_one() -> None:
    assert cost("{ hello secretField }") == 1


def test_a_connection_costs_its_page() -> None:
    assert cost("{ items(first: 10) { totalCount edges { node { id } } } }") == 1 + 10


def test_a_connection_without_first_costs_the_default_page() -> None:
    # The SDL documents `first` as optional with a default of 20 (resolvers/pagination.py): such a query runs.
    assert cost("{ items { totalCount edges { node { id } } } }") == 1 + 20
    assert cost("{ items(first: 5) { edges { node { children { totalCount } } } } }") == 1 + 5 + 5 * 20


def test_nested_connections_multiply() -> None:
    query = """{ items(first: 10) { edges { node {
        children(first: 20) { edges { node {
            children(first: 5) { totalCount } } } } } } } }"""
    assert cost(query) == 1 + 10 + 10 * 20 + 10 * 20 * 5


def test_sibling_connections_add() -> None:
    query = "{ a: items(first: 10) { totalCount } b: items(first: 30) { totalCount } }"
    assert cost(query) == 1 + 10 + 30


def test_fragments_and_variables_count_like_inline_selections() -> None:
    query = """query Q($n: Int!, $m: Int = 4) { items(first: $n) { ...Page } }
        fragment Page on ItemConnection { edges { node { children(first: $m) { totalCount } } } }"""
    assert cost(query, {"n": 3}) == 1 + 3 + 3 * 4
    assert cost(query, {"n": 3, "m": 7}) == 1 + 3 + 3 * 7


def test_the_same_field_selected_twice_is_counted_once() -> None:
    # Execution merges the two selections (same response key), and so does the estimate.
    query = "{ items(first: 10) { totalCount } items(first: 10) { edges { cursor } } }"
    assert cost(query) == 1 + 10


def test_a_list_bounded_by_a_list_argument_counts_its_length() -> None:
    assert cost("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["1", "2", "3"]}) == 1 + 3


def test_nested_connections_inside_nodes_multiply_by_the_ids() -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { children(first: 10) { totalCount } } }"
    assert cost(query, {"ids": ["1", "2"]}) == 1 + 2 + 2 * 10


def test_the_named_operation_is_estimated() -> None:
    query = "query A { items(first: 5) { totalCount } } query B { items(first: 50) { totalCount } }"
    assert cost(query, operation="A") == 6
    assert cost(query, operation="B") == 51


def test_invalid_variables_leave_the_estimate_to_execution() -> None:
    assert cost("query($n: Int!) { items(first: $n) { totalCount } }", {}) is None


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = sqlite_database(tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


async def test_cost_over_the_maximum_is_refused_before_sql(database: Database) -> None:
    async with client_for(settings_for(max_cost=100), database) as client:
        query = "{ items(first: 10) { edges { node { children(first: 10) { totalCount } } } } }"
        with statement_counter.counting() as count:
            response = await client.post("/graphql", json={"query": query})
        body = response.json()
        assert codes(body) == ["COST_LIMIT_EXCEEDED"]
        assert body["errors"][0]["extensions"]["limit"] == {"name": "maxCost", "value": 100, "actual": 111}
        assert body["extensions"]["cost"]["requested"] == 111
        assert count.statements == 0
        at_limit = await client.post("/graphql", json={"query": "{ items(first: 99) { totalCount } }"})
        assert at_limit.json()["data"] == {"items": {"totalCount": 99}}


async def test_the_estimate_and_budget_are_reported(database: Database) -> None:
    settings = settings_for(rate_limit_points=1_000, max_cost=1_000)
    async with client_for(settings, database) as client:
        query = "{ items(first: 4) { totalCount } rateLimit { cost maxCost limit remaining resetAt } }"
        body = (await client.post("/graphql", json={"query": query})).json()
    assert body["extensions"]["cost"] == {
        "requested": 5,
        "actual": 5,
        "maximum": settings.max_cost,
        "throttle": {"status": "OK", "limit": 1_000, "remaining": 995},
    }
    rate_limit = body["data"]["rateLimit"]
    assert {key: rate_limit[key] for key in ("cost", "maxCost", "limit", "remaining")} == {
        "cost": 5,
        "maxCost": settings.max_cost,
        "limit": 1_000,
        "remaining": 995,
    }
    assert rate_limit["resetAt"] is not None


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class Tenant(Node):
    @strawberry.field
    def subscriptions(self, first: int | None = None) -> ItemConnection:
        raise NotImplementedError  # the estimate never resolves anything


@strawberry.type
class Partner(Node):
    name: str


@strawberry.type
class NodeQuery:
    @strawberry.field
    def node(self, id: strawberry.ID) -> Node | None:
        raise NotImplementedError


def test_fields_under_type_conditions_are_counted_on_their_type() -> None:
    schema = strawberry.Schema(query=NodeQuery, types=[Tenant, Partner])._schema
    query = """{ node(id: "t1") { id ... on Tenant { subscriptions(first: 7) { edges { node { id } } } }
                 ... on Partner { name } } }"""
    assert estimate(schema, parse(query), None, None, max_page_size=100) == 1 + 7
    with pytest.raises(GraphQLError) as refused:
        estimate(
            schema,
            parse('{ node(id: "t1") { ... on Tenant { subscriptions(first: 0) { totalCount } } } }'),
            None,
            None,
            max_page_size=100,
        )
    assert refused.value.extensions["code"] == "BAD_USER_INPUT"


def test_the_memo_remembers_the_estimate_by_the_variables_it_reads_only() -> None:
    query = """query Q($n: Int, $s: Float, $ids: [ID!]!) {
        items(first: $n) { totalCount } nodes(ids: $ids) { id } slow(seconds: $s) }"""
    memo = CostMemo(SCHEMA, parse(query), None)

    def memo_cost(**variables: Any) -> int | None:
        return memo.estimate(variables, max_page_size=100, usage=None)

    for n, ids in ((10, ["a"]), (30, ["a"]), (10, ["a", "b", "c"]), (None, ["a"])):
        given: dict[str, Any] = {"ids": ids} if n is None else {"n": n, "ids": ids}
        # Asked twice: the second answer comes from the memo, and both equal the walk's.
        assert memo_cost(**given) == memo_cost(**given) == cost(query, given)
    # `first` and `ids` are read, a leaf's argument is not: the memo is keyed by the first two.
    assert memo._read == ("ids", "n")
    assert memo_cost(n=10, s=0.5, ids=["a"]) == cost(query, {"n": 10, "ids": ["a"]})
    # An explicit null is not an absent variable; an invalid value is refused, not remembered.
    assert memo_cost(n=None, ids=["a"]) == cost(query, {"n": None, "ids": ["a"]})
    assert memo_cost(n="ten", ids=["a"]) is None
    with pytest.raises(GraphQLError):
        memo_cost(n=101, ids=["a"])
