"""A subscription sent over HTTP is refused before anything runs (schema/extensions/websocket_operations.py), whatever
stream it asks for: it would otherwise be executed as a query ("Cannot return null", an unexpected error), and
Strawberry's HTTP stream transports are off (README, "GraphQL subscriptions")."""

from __future__ import annotations

import pytest

from auth.principal import Role
from tests.api import Api, principal, token_for

SUBSCRIPTION = "subscription { associationChanges { sequence type } }"


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "text/event-stream",  # graphql-sse
        "multipart/mixed;subscriptionSpec=1.0,application/json",  # multipart subscriptions
    ],
)
async def test_a_subscription_over_http_is_refused_with_the_websocket_named(
    api: Api, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = token_for(api.settings, principal(Role.PLATFORM_ADMIN))
    headers = {"authorization": f"Bearer {token}", "accept": accept}
    response = await api.client.post("/graphql", json={"query": SUBSCRIPTION}, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] is None
    assert [(error["extensions"]["code"], error["message"]) for error in body["errors"]] == [
        ("METHOD_NOT_ALLOWED", "Subscriptions run over a graphql-transport-ws websocket on /graphql, not over HTTP.")
    ]
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
