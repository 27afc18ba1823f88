"""Bulk DPOR changes: set or remove the Digital Partner of Record of up to 500 subscriptions in one transaction,
all or nothing (issue 14). Only the tenant's OWNER may (auth.policy).

The steps are the single change's (resolvers.associations), run set-based over the whole batch
(resolvers.association_steps, resolvers.dpor_changes), so statements do not grow with the batch:
1. FORBIDDEN, before any lookup, unless a held role may perform the operation;
2. every subscription locked in one SELECT ... FOR UPDATE in id order (a batch never waits in a cycle with a
   single change, which holds one subscription, or with another batch) and reached: NOT_FOUND for one that does
   not exist or is outside the caller's reach, the same answer; one named twice is BAD_USER_INPUT on its repeats
   (which of two expected versions is meant is unknown), and so is an item the schema could not decode (it comes
   as its BadUserInput, so that it is listed with the others' problems rather than alone);
3. a repeated idempotency key with the same input replays the stored result; with another input it is CONFLICT;
4-5. NOT_ACTIVE for a tenant or subscription that is not ACTIVE, else CONFLICT (with `currentVersion`) for a stale
   expectedVersion, for every item in one pass;
6. when any item failed, nothing is written: BatchRefused lists every failing item by index with its code.
   Otherwise each DPOR changes as the single mutation would change it (one history row and one audit event per
   changed subscription, nothing for one already as asked), every event carrying the batch's correlation id.
The payload shows each item's rows as written, under the caller's row filters, in one statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.scope import CallerScope
from db.base import new_id
from resolvers import idempotency
from resolvers.association_change import AssociationChange, ShownChange, shown_changes
from resolvers.association_steps import Target, reach, refusals, require_partner
from resolvers.dpor_changes import remove_dpors, set_dpors
from resolvers.errors import BadUserInput, BatchRefused, GatewayError, ItemProblem

MAX_ITEMS = 500
SUBSCRIPTIONS = "subscriptions"  # the input field holding the items


@dataclass(frozen=True, slots=True)
class BulkItem:
    subscription_id: uuid.UUID
    expected_version: int


# An input item decoded, or why it could not be (a malformed id or version).
Given = BulkItem | BadUserInput


@dataclass(frozen=True)
class BulkSetDporArgs:
    partner_id: uuid.UUID
    items: tuple[Given, ...]
    idempotency_key: str | None


@dataclass(frozen=True)
class BulkRemoveDporArgs:
    items: tuple[Given, ...]
    idempotency_key: str | None


@dataclass(frozen=True)
class ShownBatch:
    """A batch's payload: its correlation id (on every audit event it wrote) and each item's change, in input
    order, as resolvers.association_change shows a single change."""

    correlation_id: str
    changes: list[ShownChange]


def check_size(count: int) -> None:
    if not 1 <= count <= MAX_ITEMS:
        raise BadUserInput(
            f"{SUBSCRIPTIONS} must hold 1 to {MAX_ITEMS} items, not {count}",
            field=SUBSCRIPTIONS,
            minimum=1,
            maximum=MAX_ITEMS,
            actual=count,
        )


def repeats(decoded: Sequence[tuple[int, BulkItem]]) -> list[ItemProblem]:
    """Each later mention of a subscription named earlier in the batch (items by their input index)."""
    first: dict[uuid.UUID, int] = {}
    problems = []
    for index, item in decoded:
        earlier = first.setdefault(item.subscription_id, index)
        if earlier != index:
            error = BadUserInput(
                f"the subscription is also item {earlier}: name each subscription once",
                field="subscriptionId",
                duplicateOf=earlier,
            )
            problems.append(ItemProblem(index, error))
    return problems


Apply = Callable[[list[Target], str], Awaitable[list[AssociationChange]]]


async def _batch(
    session: AsyncSession,
    scope: CallerScope,
    request_id: str,
    operation: str,
    args: BulkSetDporArgs | BulkRemoveDporArgs,
    apply: Apply,
) -> ShownBatch:
    """Steps 1-6 over the batch; `apply(targets, correlation_id)` writes the changes once every item passed."""
    check_size(len(args.items))
    problems = [ItemProblem(index, item) for index, item in enumerate(args.items) if isinstance(item, BadUserInput)]
    decoded = [(index, item) for index, item in enumerate(args.items) if isinstance(item, BulkItem)]
    found_by_index = await reach(session, scope, operation, [item.subscription_id for _, item in decoded], request_id)
    problems += repeats(decoded)
    refused_already = {problem.index for problem in problems}
    reached = [
        (index, item, found)
        for (index, item), found in zip(decoded, found_by_index, strict=True)
        if index not in refused_already
    ]
    problems += [ItemProblem(index, found) for index, _, found in reached if isinstance(found, GatewayError)]
    subject, key = scope.principal.subject, args.idempotency_key
    # Only a batch of decoded items has a fingerprint (its items as given); only one whose every subscription is
    # reached and named once can be a replay (versions have moved on since).
    fingerprint = "" if problems else idempotency.input_hash(operation, asdict(args) | {"idempotency_key": None})
    if not problems and (stored := await idempotency.replay(session, subject, key, fingerprint)) is not None:
        return await _shown(session, scope, [found for _, _, found in reached], stored)
    checked = [(index, item, found) for index, item, found in reached if isinstance(found, Target)]
    refused = await refusals(
        session, operation, [(found.subscription, item.expected_version) for _, item, found in checked]
    )
    problems += [ItemProblem(index, error) for (index, _, _), error in zip(checked, refused, strict=True) if error]
    if problems:
        raise BatchRefused(SUBSCRIPTIONS, problems)
    targets = [found for _, _, found in checked]
    correlation_id = new_id().hex
    changes = await apply(targets, correlation_id)
    result = {"correlation_id": correlation_id, "changes": [asdict(change) for change in changes]}
    idempotency.remember(session, subject, key, operation, fingerprint, result)
    await session.flush()
    shown = await shown_changes(session, scope, [(t.subscription, c) for t, c in zip(targets, changes, strict=True)])
    return ShownBatch(correlation_id, shown)


async def _shown(
    session: AsyncSession, scope: CallerScope, reached: Sequence[Target | GatewayError], stored: dict[str, Any]
) -> ShownBatch:
    """A replay: the first run's changes, on the subscriptions locked now (every one reached, in input order)."""
    changes = [AssociationChange.from_stored(change) for change in stored["changes"]]
    subscriptions = [found.subscription for found in reached if isinstance(found, Target)]
    shown = await shown_changes(session, scope, list(zip(subscriptions, changes, strict=True)))
    return ShownBatch(stored["correlation_id"], shown)


async def bulk_set_digital_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: BulkSetDporArgs
) -> ShownBatch:
    operation = "bulkSetDigitalPartnerOfRecord"

    async def apply(targets: list[Target], correlation_id: str) -> list[AssociationChange]:
        await require_partner(session, args.partner_id)
        return await set_dpors(session, operation, targets, args.partner_id, correlation_id=correlation_id)

    return await _batch(session, scope, request_id, operation, args, apply)


async def bulk_remove_digital_partner_of_record(
    session: AsyncSession, scope: CallerScope, request_id: str, args: BulkRemoveDporArgs
) -> ShownBatch:
    operation = "bulkRemoveDigitalPartnerOfRecord"

    async def apply(targets: list[Target], correlation_id: str) -> list[AssociationChange]:
        return await remove_dpors(session, operation, targets, correlation_id=correlation_id)

    return await _batch(session, scope, request_id, operation, args, apply)
