"""The benchmarked operations: their GraphQL documents and the variables and token of each request.

Each operation is a pool of ready-made requests (body bytes plus the caller's token) drawn at random by the
load generator, so a run touches many partners, tenants and subscriptions rather than one hot row. The floor
endpoint of each read (bench.floor) answers the same JSON for the same variables.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson

from bench.dataset import Sample
from bench.tokens import TokenIssuer

ATTRIBUTED_PAGE = 50

# (1) A partner's attributed subscriptions: one page with each subscription's tenant display name, its
# current-month attributed amount (one row per association type and currency; a partner sees only what is
# attributed to it) and the association rows that name the partner.
ATTRIBUTED_SUBSCRIPTIONS = """
query AttributedSubscriptions($first: Int!, $monthStart: Date!, $today: Date!) {
  attributedSubscriptions(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id displayName status tenant { displayName }
        usage(from: $monthStart, to: $today, groupBy: []) { currency attribution { amount } }
      }
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


# (2) A tenant's last 12 months of usage by month and service, from the rollups.
TENANT_USAGE = """
query TenantUsage($id: ID!, $from: Date!, $to: Date!) {
  tenant(id: $id) {
    usage(from: $from, to: $to, groupBy: [MONTH, SERVICE]) { month service currency quantity amount }
  }
}
"""

# (5) A partner's last 12 months of attributed usage by month.
PARTNER_ATTRIBUTED_USAGE = """
query PartnerAttributedUsage($id: ID!, $from: Date!, $to: Date!) {
  node(id: $id) {
    ... on Partner { attributedUsage(from: $from, to: $to, groupBy: [MONTH]) { month currency quantity amount } }
  }
}
"""


def current_month() -> tuple[str, str]:
    """[first day of the month of the seed's last day, that day] in UTC: the window of a "current-month" amount.

    The seed's usage ends yesterday, so on the 1st of a month today's month holds no usage yet and (1) would
    measure an empty window: the latest month with data is the one of yesterday (the report says which)."""
    last = datetime.now(UTC).date() - timedelta(days=1)
    return last.replace(day=1).isoformat(), last.isoformat()


def twelve_months() -> tuple[str, str]:
    """[first day of the month 11 months back, yesterday] in UTC: the seed's default window ends yesterday."""
    last = datetime.now(UTC).date() - timedelta(days=1)
    month = last.year * 12 + last.month - 1 - 11
    return date(month // 12, month % 12 + 1, 1).isoformat(), last.isoformat()


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
    month_start, today = current_month()
    variables: dict[str, object] = {"first": first, "monthStart": month_start, "today": today}
    graphql, floor = [], []
    for partner in sample.partners:
        token = issuer.partner(partner.mpn_id)
        graphql.append(_graphql(ATTRIBUTED_SUBSCRIPTIONS, variables, token))
        floor.append(_floor("/attributed-subscriptions", {**variables, "partnerMpnId": partner.mpn_id}, token))
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


def tenant_usage(sample: Sample, issuer: TokenIssuer) -> Operation:
    first_day, last_day = twelve_months()
    graphql, floor = [], []
    for subscription in sample.subscriptions[:200]:
        token = issuer.owner(subscription.tenant_external_id)
        variables: dict[str, object] = {"id": subscription.tenant_global_id, "from": first_day, "to": last_day}
        graphql.append(_graphql(TENANT_USAGE, variables, token))
        floor.append(
            _floor("/tenant-usage", {**variables, "tenantExternalId": str(subscription.tenant_external_id)}, token)
        )
    return Operation("tenant_usage", "(2) tenant 12-month usage by month and service", TENANT_USAGE, graphql, floor)


def partner_attributed_usage(sample: Sample, issuer: TokenIssuer) -> Operation:
    first_day, last_day = twelve_months()
    graphql, floor = [], []
    for partner in sample.partners:
        token = issuer.partner(partner.mpn_id)
        variables: dict[str, object] = {"id": partner.global_id, "from": first_day, "to": last_day}
        graphql.append(_graphql(PARTNER_ATTRIBUTED_USAGE, variables, token))
        floor.append(_floor("/partner-usage", {**variables, "partnerMpnId": partner.mpn_id}, token))
    title = "(5) partner 12-month attributed usage by month"
    return Operation("partner_usage", title, PARTNER_ATTRIBUTED_USAGE, graphql, floor)


# The operations a run measures. Adding one is a builder here, its floor route in bench.floor, and nothing
# else: the harness checks, measures and reports whatever is listed.
READS: tuple[Callable[[Sample, TokenIssuer], Operation], ...] = (
    attributed_subscriptions,
    subscription_node,
    tenant_usage,
    partner_attributed_usage,
)
WRITES: tuple[Callable[[Sample, TokenIssuer, random.Random], Operation], ...] = (set_dpor,)
