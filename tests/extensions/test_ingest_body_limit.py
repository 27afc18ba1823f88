"""The documented largest `ingestUsage` batch (5,000 records) fits in a request: usage ingest callers have a
body limit of their own (DPOR_MAX_INGEST_BODY_BYTES), everyone else keeps DPOR_MAX_BODY_BYTES."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

from auth.principal import Role
from db.engine import Database
from resolvers.usage.validation import MAX_BATCH_RECORDS
from tests import factories
from tests.api import Api, principal, token_for

INGEST = "mutation($i: IngestUsageInput!) { ingestUsage(input: $i) { inserted replaced } }"
INGESTER = principal(Role.USAGE_INGEST, subject="meter-pipeline")
OWNER_OF_NOTHING = principal(Role.PLATFORM_ADMIN, subject="admin")
# Meter names as Azure's price sheet spells them.
METERS = [
    ("Virtual Machines", "D2s v3/D2s v3 Low Priority - Linux - West Europe"),
    ("Storage", "Standard SSD Managed Disks - E10 LRS Disk Mount - North Europe"),
    ("Azure Cosmos DB", "Azure Cosmos DB - 100 RU/s Multi-Master - Standard"),
    ("Bandwidth", "Standard Data Transfer Out - Zone 1 - Inter-Region Egress"),
    ("Azure App Service", "Premium v3 App Service Plan - P1 v3 App - Linux"),
]


def realistic_batch(subscription_ids: list[str]) -> list[dict[str, Any]]:
    """5,000 records: GUID meter ids, real meter names, quantities and amounts with their full decimals."""
    records = []
    for index in range(MAX_BATCH_RECORDS):
        service, meter_name = METERS[index % len(METERS)]
        records.append(
            {
                "subscriptionId": subscription_ids[index % len(subscription_ids)],
                "usageDate": (date(2026, 1, 1) + timedelta(days=index % 28)).isoformat(),
                "service": service,
                "meterId": str(uuid.UUID(int=index + 1)),
                "meterName": meter_name,
                "quantity": f"{index % 1000}.{index:06d}"[:12],
                "unit": "1 Hour",
                "amount": f"{index % 997}.{index % 100:02d}",
                "currency": "EUR",
            }
        )
    return records


async def subscriptions(database: Database, count: int) -> list[str]:
    tenant = factories.tenant()
    async with database.write() as session:
        await factories.add_flushed(session, tenant)
        subs = [factories.subscription(tenant) for _ in range(count)]
        await factories.add_flushed(session, *subs)
    return [sub.external_id for sub in subs]


async def send(api: Api, body: bytes, caller: Any) -> Any:
    headers = {"authorization": f"Bearer {token_for(api.settings, caller)}", "content-type": "application/json"}
    return await api.client.post("/graphql", content=body, headers=headers)


async def test_a_full_realistic_batch_is_ingested_over_http(api: Api, database: Database) -> None:
    records = realistic_batch(await subscriptions(database, 10))
    body = json.dumps({"query": INGEST, "variables": {"i": {"records": records}}}).encode()
    assert len(body) > api.settings.max_body_bytes  # about 1.2 MB against the general 1 MB limit
    response = await send(api, body, INGESTER)
    assert response.status_code == 200, response.text[:500]
    assert "errors" not in response.json(), response.json()["errors"]
    assert response.json()["data"] == {"ingestUsage": {"inserted": MAX_BATCH_RECORDS, "replaced": 0}}


async def test_other_callers_keep_the_general_limit(api: Api) -> None:
    body = json.dumps({"query": "{ __typename }", "padding": " " * api.settings.max_body_bytes}).encode()
    response = await send(api, body, OWNER_OF_NOTHING)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["limit"]["name"] == "maxBodyBytes"


async def test_the_ingest_limit_holds_too(api: Api) -> None:
    body = json.dumps({"query": "{ __typename }", "padding": " " * api.settings.max_ingest_body_bytes}).encode()
    response = await send(api, body, INGESTER)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["limit"]["value"] == api.settings.max_ingest_body_bytes


def test_a_batch_of_the_longest_values_validation_allows_fits_the_ingest_limit(api: Api) -> None:
    # Every string at its validated maximum length (resolvers/usage/validation.py), every number at its widest.
    widest = "-999999999999.999999"
    record = {
        "subscriptionId": "s" * 64,
        "usageDate": "2026-01-01",
        "service": "v" * 128,
        "meterId": "m" * 64,
        "meterName": "n" * 256,
        "quantity": widest,
        "unit": "u" * 32,
        "amount": widest,
        "currency": "EUR",
    }
    body = json.dumps({"query": INGEST, "variables": {"i": {"records": [record] * MAX_BATCH_RECORDS}}})
    assert len(body.encode()) <= api.settings.max_ingest_body_bytes
