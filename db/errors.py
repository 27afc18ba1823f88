"""What a database failure means for the caller, read from the exception chain the driver raised.

The schema's error codes (schema/extensions/error_codes.py) turn these verdicts into TIMEOUT and
DATABASE_UNAVAILABLE; the SQLSTATEs and SQLAlchemy's exception types stay here, beside the engine that raises them.
Both walk `orig` (SQLAlchemy's wrapper around the driver's error) and `__cause__` (asyncpg's errors re-raised).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (or by a client-side cancel).
QUERY_CANCELED = "57014"
# SQLSTATE classes and codes meaning the connection, not the statement, failed: 08 (connection exception), 57P01-03
# (admin shutdown, crash shutdown, cannot connect now), 53300 (too many connections: the server's
# max_connections, or the role's or database's CONNECTION LIMIT, is reached; the pool may open one later).
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_statement_timeout(error: BaseException | None) -> bool:
    """The statement ran too long and the database cancelled it (PostgreSQL `statement_timeout`)."""
    while error is not None:
        if getattr(error, "sqlstate", None) == QUERY_CANCELED or getattr(error, "pgcode", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def is_unavailable(error: BaseException | None) -> bool:
    """The request failed because the database went away, not because of anything in it."""
    while error is not None:
        # SQLAlchemy's own verdict: the driver reported a disconnect and the pooled connection was invalidated.
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        # Refused or reset while connecting (the pool opening a new connection); asyncpg's TimeoutError when
        # connecting is an OSError too.
        if isinstance(error, OSError):
            return True
        sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in CONNECTION_SQLSTATES):
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False
