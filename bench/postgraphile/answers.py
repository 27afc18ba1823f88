"""PostGraphile's `data` reshaped into the gateway's, so that the harness can assert they are equal.

Only names and encodings change here, never values: PostGraphile's fields are renamed to the gateway's, UUIDs
become the gateway's global ids (resolvers/global_id.py), the page's end cursor is the gateway's keyset cursor of
its last row (created_at, id; resolvers/pagination.py), and instants are written as the gateway writes them
(UTC, "Z"). Amounts, quantities and dates are PostgreSQL's text as PostGraphile passes it on, compared as they are.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from schema import global_id


def _id(type_name: str, value: str) -> str:
    return global_id.encode(type_name, uuid.UUID(value))


def _instant(value: str | None) -> str | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cursor(created_at: str, row_id: str) -> str:
    values = [datetime.fromisoformat(created_at).astimezone(UTC).isoformat(), uuid.UUID(row_id).hex]
    return base64.urlsafe_b64encode(orjson.dumps(["subscriptions", values])).decode().rstrip("=")


def _attributed(data: dict[str, Any]) -> dict[str, Any]:
    page = data["attributedSubscriptions"]
    edges = []
    for edge in page["edges"]:
        node = edge["node"]
        edges.append(
            {
                "node": {
                    "id": _id("Subscription", node["id"]),
                    "displayName": node["displayName"],
                    "status": node["status"],
                    "tenant": {"displayName": node["tenantByTenantId"]["displayName"]},
                    "usage": [
                        {"currency": row["currency"], "attribution": {"amount": row["amount"]}}
                        for row in node["attributedAmountsList"]
                    ],
                },
                "associations": [
                    {"type": row["type"], "validFrom": _instant(row["validFrom"]), "validTo": _instant(row["validTo"])}
                    for row in node["partnerAssociationsList"]
                ],
            }
        )
    last = page["edges"][-1]["node"] if page["edges"] else None
    return {
        "attributedSubscriptions": {
            "totalCount": page["totalCount"],
            "pageInfo": {
                "hasNextPage": page["pageInfo"]["hasNextPage"],
                "endCursor": None if last is None else _cursor(last["createdAt"], last["id"]),
            },
            "edges": edges,
        }
    }


def _node(data: dict[str, Any]) -> dict[str, Any]:
    row = data["subscriptionById"]
    if row is None:
        return {"node": None}
    dpor = row["digitalPartnerOfRecord"]
    partner = None if dpor is None else dpor["partnerByPartnerId"]
    return {
        "node": {
            "id": _id("Subscription", row["id"]),
            "displayName": row["displayName"],
            "status": row["status"],
            "version": row["version"],
            "digitalPartnerOfRecord": None
            if dpor is None
            else {
                "validFrom": _instant(dpor["validFrom"]),
                "partner": None
                if partner is None
                else {"id": _id("Partner", partner["id"]), "name": partner["name"], "mpnId": partner["mpnId"]},
            },
        }
    }


def _tenant_usage(data: dict[str, Any]) -> dict[str, Any]:
    tenant = data["tenantById"]
    return {"tenant": None if tenant is None else {"usage": tenant["usageList"]}}


def _partner_usage(data: dict[str, Any]) -> dict[str, Any]:
    partner = data["partnerById"]
    return {"node": None if partner is None else {"attributedUsage": partner["attributedUsageList"]}}


_RESHAPE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "attributed": _attributed,
    "node": _node,
    "tenant_usage": _tenant_usage,
    "partner_usage": _partner_usage,
}


def to_gateway_data(key: str, postgraphile_data: dict[str, Any]) -> dict[str, Any]:
    """PostGraphile's `data` for operation `key` in the shape, names and encodings of the gateway's `data`."""
    return _RESHAPE[key](postgraphile_data)
