"""The GraphQL documents PostGraphile answers for each benchmarked read, by bench.operations key.

Each asks for what the gateway's document asks, in PostGraphile's schema (schema.sql): the same rows and values,
under PostGraphile's names. Rows come with their UUIDs (and (1) its subscriptions' createdAt), from which
bench.postgraphile.answers writes the gateway's global ids and cursors. One document serves both variants: the
partner of (1) is an argument no_auth passes and jwt_rls leaves out (the function then takes the token's).
"""

from __future__ import annotations

ATTRIBUTED_SUBSCRIPTIONS = """
query AttributedSubscriptions($partnerMpnId: String, $first: Int!, $monthStart: Date!, $today: Date!) {
  attributedSubscriptions(partnerMpnId: $partnerMpnId, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id createdAt displayName status tenantByTenantId { displayName }
        attributedAmountsList(firstDay: $monthStart, lastDay: $today, partnerMpnId: $partnerMpnId) { currency amount }
        partnerAssociationsList(partnerMpnId: $partnerMpnId) { type validFrom validTo }
      }
    }
  }
}
"""

SUBSCRIPTION_NODE = """
query SubscriptionNode($id: UUID!) {
  subscriptionById(id: $id) {
    id displayName status version
    digitalPartnerOfRecord { validFrom partnerByPartnerId { id name mpnId } }
  }
}
"""

TENANT_USAGE = """
query TenantUsage($id: UUID!, $from: Date!, $to: Date!) {
  tenantById(id: $id) {
    usageList(firstDay: $from, lastDay: $to) { month service currency quantity amount }
  }
}
"""

PARTNER_ATTRIBUTED_USAGE = """
query PartnerAttributedUsage($id: UUID!, $from: Date!, $to: Date!) {
  partnerById(id: $id) {
    attributedUsageList(firstDay: $from, lastDay: $to) { month currency quantity amount }
  }
}
"""

# bench.operations key -> document.
DOCUMENTS = {
    "attributed": ATTRIBUTED_SUBSCRIPTIONS,
    "node": SUBSCRIPTION_NODE,
    "tenant_usage": TENANT_USAGE,
    "partner_usage": PARTNER_ATTRIBUTED_USAGE,
}
