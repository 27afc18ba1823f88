"""The benchmarked operations: their GraphQL documents and the variables and token of each request.

Each operation is a pool of ready-made requests (body bytes plus the caller's token) drawn at random by the
load generator, so a run touches many partners, tenants and subscriptions rather than one hot row. The floor
endpoint of each read (bench.floor) answers the same JSON for the same variables.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench.dataset import Sample
from bench.tokens import TokenIssuer

ATTRIBUTED_PAGE = 50

# (1) A partner's attributed subscriptions: one page with each subscription's tenant display name and the
# association rows that name the partner.
ATTRIBUTED_SUBSCRIPTIONS = """
query AttributedSubscriptions($first: Int!) {
  attributedSubscriptions(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node { id displayName status tenant { displayName } }
      associations { type validFrom validTo }
    }
  }
}
"""

# (3) One subscription by global ID with its Digital Partner of Record.
SUBSCRIPTION_NODE = """
query SubscriptionNode($id: ID!) {
  node(id: $id) {
    ... on Subscription {
      id displayName status version
      digitalPartnerOfRecord { validFrom partner { id name mpnId } }
    }
  }
}
"""

# (4) Read the version, then set the DPOR with it (bench.loadgen's "set_dpor" scenario).
SUBSCRIPTION_VERSION = """
query SubscriptionVersion($id: ID!) {
  node(id: $id) { ... on Subscription { version } }
}
"""

SET_DPOR = """
mutation SetDpor($input: SetDigitalPartnerOfRecordInput!) {
  setDigitalPartnerOfRecord(input: $input) {
    changed
    subscription { version }
    association { validFrom }
  }
}
"""


@dataclass(frozen=True)
class Request:
    """One ready HTTP request: path, JSON body, bearer token."""

    path: str
    body: bytes
    token: str


@dataclass(frozen=True)
class Operation:
    key: str
    title: str
    document: str
    # GraphQL requests and the floor's requests for the same work, index for index.
    graphql: list[Request]
    floor: list[Request]
    # Read-modify-write operations run through the Python load generator's scenario of this name.
    scenario: str | None = None


def _graphql(document: str, variables: dict[str, object], token: str) -> Request:
    return Request("/graphql", orjson.dumps({"query": document, "variables": variables}), token)


def _floor(path: str, variables: dict[str, object], token: str) -> Request:
    return Request(path, orjson.dumps(variables), token)


def attributed_subscriptions(sample: Sample, issuer: TokenIssuer, *, first: int = ATTRIBUTED_PAGE) -> Operation:
    graphql, floor = [], []
    for partner in sample.partners:
        token = issuer.partner(partner.mpn_id)
        graphql.append(_graphql(ATTRIBUTED_SUBSCRIPTIONS, {"first": first}, token))
        floor.append(_floor("/attributed-subscriptions", {"partnerMpnId": partner.mpn_id, "first": first}, token))
    title = f"(1) partner attributedSubscriptions(first: {first})"
    return Operation("attributed", title, ATTRIBUTED_SUBSCRIPTIONS, graphql, floor)


def subscription_node(sample: Sample, issuer: TokenIssuer) -> Operation:
    graphql, floor = [], []
    owners: dict[object, str] = {}
    for subscription in sample.subscriptions:
        token = owners.get(subscription.tenant_external_id)
        if token is None:
            token = owners[subscription.tenant_external_id] = issuer.owner(subscription.tenant_external_id)
        graphql.append(_graphql(SUBSCRIPTION_NODE, {"id": subscription.global_id}, token))
        floor.append(
            _floor(
                "/subscription-node",
                {"id": subscription.global_id, "tenantExternalId": str(subscription.tenant_external_id)},
                token,
            )
        )
    return Operation("node", "(3) node(id:) subscription with its DPOR", SUBSCRIPTION_NODE, graphql, floor)


def set_dpor(sample: Sample, issuer: TokenIssuer, rng: random.Random) -> Operation:
    """Requests carry the subscription, a first partner to set and the partners to pick from at random on
    later attempts (so repeated sets of one subscription mostly change it); the scenario reads the version."""
    graphql = []
    owners: dict[object, str] = {}
    for subscription in sample.subscriptions:
        token = owners.get(subscription.tenant_external_id)
        if token is None:
            token = owners[subscription.tenant_external_id] = issuer.owner(subscription.tenant_external_id)
        partner = rng.choice(sample.partners)
        variables = {
            "subscriptionId": subscription.global_id,
            "partnerId": partner.global_id,
            "partnerIds": [p.global_id for p in sample.partners[:20]],
        }
        graphql.append(Request("/graphql", orjson.dumps(variables), token))
    title = "(4) setDigitalPartnerOfRecord (read version, then set)"
    return Operation("set_dpor", title, SET_DPOR, graphql, [], "set_dpor")


# The operations a run measures. Adding one (the usage reads, issue 5's (2) and (5)) is a builder here, its
# floor route in bench.floor, and nothing else: the harness checks, measures and reports whatever is listed.
READS: tuple[Callable[[Sample, TokenIssuer], Operation], ...] = (attributed_subscriptions, subscription_node)
WRITES: tuple[Callable[[Sample, TokenIssuer, random.Random], Operation], ...] = (set_dpor,)
