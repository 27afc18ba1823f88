"""Liveness and readiness probes. Neither needs a token; neither reveals more than a reason."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from db import connection_role
from db.engine import Database
from db.migrations import current_revision, head_revision

READINESS_TIMEOUT_SECONDS = 2.0


async def healthz(_request: Request) -> JSONResponse:
    """The process is alive and serving HTTP."""
    return JSONResponse({"status": "ok"})


def readiness_endpoint(database: Database, *, least_privilege: bool = False):  # type: ignore[no-untyped-def]
    """`least_privilege` (production on PostgreSQL): not ready while the gateway's database role could change the
    schema, skip row-level security or rewrite history (db/connection_role.py), which `serve` refuses at start-up
    too; checked here as well for a database that was down then."""
    expected_head = head_revision()
    check_role = least_privilege and database.dialect == "postgresql"

    async def readyz(_request: Request) -> JSONResponse:
        """Ready when the database answers and its schema is at the migration head; degraded (still ready) when a
        read replica is not serving."""
        problem = None
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                async with database.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                    if check_role:
                        problem = (await connection_role.read(connection)).problem
                revision = await current_revision(database.engine)
        except Exception as error:  # any failure to reach the database means "not ready", with its reason
            return JSONResponse(
                {"status": "unavailable", "reason": f"database unreachable: {type(error).__name__}"},
                status_code=503,
            )
        if problem is not None:
            # The role's name and privileges are the operator's business, not an anonymous prober's.
            return JSONResponse({"status": "unavailable", "reason": "database role not least-privileged"}, 503)
        if revision != expected_head:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "reason": f"migrations not at head (at {revision}, head {expected_head})",
                },
                status_code=503,
            )
        if database.replicas is None:
            return JSONResponse({"status": "ok", "revision": revision})
        # Read replicas (db/replicas.py), as the last health check found them: one that is down or lagging only
        # moves reads to the primary, so the gateway stays ready (200) and says it is degraded.
        states = database.replicas.states()
        unwell = [f"{replica.name} {replica.state}" for replica in database.replicas.members if replica.state != "up"]
        if not unwell:
            return JSONResponse({"status": "ok", "revision": revision, "replicas": states})
        reason = f"reads on the primary: {', '.join(unwell)}"
        return JSONResponse({"status": "degraded", "revision": revision, "reason": reason, "replicas": states})

    return readyz
