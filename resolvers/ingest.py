"""The ingestUsage mutation's logic: authorize, replay or run the batch, audit it, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.scope import CallerScope
from db.base import new_id
from resolvers import audit, idempotency
from resolvers.authorize import Actor, acting_grant, granted
from resolvers.usage.ingestion import ingest_usage
from resolvers.usage.validation import UsageRecordInput

OPERATION = "ingestUsage"


@dataclass(frozen=True)
class IngestArgs:
    records: Sequence[UsageRecordInput]
    idempotency_key: str | None


@dataclass(frozen=True)
class IngestOutcome:
    inserted: int
    replaced: int
    # (subscription external id, latest usage day ingested, ISO)
    freshness: list[tuple[str, str]]


async def ingest(session: AsyncSession, scope: CallerScope, request_id: str, args: IngestArgs) -> IngestOutcome:
    """The batch's outcome. It names no rows to re-read: the freshness pairs are of the subscriptions the caller
    itself sent, by the external ids it sent (USAGE_INGEST reads nothing else)."""
    records, key = args.records, args.idempotency_key
    role, _ = acting_grant(granted(OPERATION, scope), scope, None, "subscription")
    actor = Actor(scope.principal.subject, scope.principal.client_id, role, request_id)
    fingerprint = idempotency.input_hash(OPERATION, {"records": [asdict(record) for record in records]})
    if (stored := await idempotency.replay(session, actor.subject, key, fingerprint)) is not None:
        return IngestOutcome(stored["inserted"], stored["replaced"], [tuple(pair) for pair in stored["freshness"]])
    result = await ingest_usage(session, records)
    outcome = IngestOutcome(
        result.inserted,
        result.replaced,
        [(item.external_id, item.usage_data_as_of.isoformat()) for item in result.freshness],
    )
    summary: dict[str, Any] = {
        "inserted": outcome.inserted,
        "replaced": outcome.replaced,
        "records": len(records),
        "subscriptions": len(outcome.freshness),
    }
    audit.record(session, actor, OPERATION, target_type="UsageBatch", target_id=new_id(), tenant_id=None, after=summary)
    idempotency.remember(session, actor.subject, key, OPERATION, fingerprint, asdict(outcome))
    return outcome
