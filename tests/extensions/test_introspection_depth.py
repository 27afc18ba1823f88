"""Root introspection fields have their own depth bound: GraphiQL's and codegen's standard introspection query is 14
levels deep (one `ofType` per list or non-null wrapper), and the data depth limit (12) refused it, so the IDE in dev
had no docs and no completion. Deeper introspection, and deep data, are still refused."""

from __future__ import annotations

from graphql import get_introspection_query

from auth.principal import Role
from tests.api import Api, error_codes, principal

ADMIN = principal(Role.PLATFORM_ADMIN)


def _nested_type_refs(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"ofType {{ {inner} }}"
    return f'{{ __type(name: "Tenant") {{ fields {{ type {{ {inner} }} }} }} }}'


async def test_the_standard_introspection_query_passes_the_limits(api: Api) -> None:
    body = await api.execute(get_introspection_query(descriptions=True), as_=ADMIN)
    assert "errors" not in body, body.get("errors")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_deeper_than_its_own_bound_is_refused(api: Api) -> None:
    body = await api.execute(_nested_type_refs(20), as_=ADMIN)
    assert error_codes(body) == ["QUERY_TOO_DEEP"]
    assert body["errors"][0]["extensions"]["limit"]["name"] == "maxIntrospectionDepth"


async def test_data_fields_keep_the_data_depth_bound_beside_introspection(api: Api) -> None:
    deep = "id"
    for _ in range(4):  # 4 levels each: subscriptions, edges, node, tenant; 16 in all, over the data bound of 12
        deep = f"subscriptions(first: 1) {{ edges {{ node {{ tenant {{ {deep} }} }} }} }}"
    body = await api.execute(f'{{ __schema {{ queryType {{ name }} }} tenant(id: "x") {{ {deep} }} }}', as_=ADMIN)
    assert error_codes(body) == ["QUERY_TOO_DEEP"]
    assert body["errors"][0]["extensions"]["limit"]["name"] == "maxDepth"
