"""The floor's caller scope: the token's tenant or partner resolved to a row id, remembered as the gateway does.

auth/scope.py remembers the row ids of external ids it has resolved (they never change once the row exists), so a
returning caller's request sends no scope statement. The floor does the same, so both sides send the same SQL.
"""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

SCOPE_TENANT = "SELECT id FROM tenants WHERE external_id = $1"
SCOPE_PARTNER = "SELECT id FROM partners WHERE mpn_id = $1"

_known: dict[tuple[str, Any], Any] = {}


async def scope_id(connection: asyncpg.Connection, statement: str, external: Any) -> Any:
    """The row id for `external` (SCOPE_TENANT or SCOPE_PARTNER), from memory after the first time it was found."""
    key = (statement, external)
    found = _known.get(key)
    if found is None:
        found = await connection.fetchval(statement, external)
        if found is not None:
            _known[key] = found
    return found
