"""Idempotency keys: the same key and input from the same caller replays the first result and writes nothing;
the same key with another input is a CONFLICT. Checked inside the mutation's transaction, after the target row is
locked, so two concurrent retries cannot both act."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.idempotency import IdempotencyRecord
from resolvers.errors import BadUserInput, Conflict

MAX_KEY_LENGTH = 128


def input_hash(operation: str, values: dict[str, Any]) -> str:
    canonical = orjson.dumps({"operation": operation, "input": values}, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise BadUserInput(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters", field="idempotencyKey")


async def replay(session: AsyncSession, caller: str, key: str | None, fingerprint: str) -> dict[str, Any] | None:
    """The stored result for this key, or None when the key is new (or absent)."""
    if key is None:
        return None
    stored = await session.get(IdempotencyRecord, (caller, key))
    if stored is None:
        return None
    if stored.input_hash != fingerprint:
        raise Conflict("idempotencyKey was already used with a different input", field="idempotencyKey")
    return stored.result


def remember(
    session: AsyncSession,
    caller: str,
    key: str | None,
    operation: str,
    fingerprint: str,
    result: dict[str, Any],
) -> None:
    if key is not None:
        session.add(
            IdempotencyRecord(caller=caller, key=key, operation=operation, input_hash=fingerprint, result=result)
        )


__all__ = ["check_key", "input_hash", "remember", "replay"]
