"""Expected errors, each a typed exception with its machine-readable code.

graphql-core copies an original error's `extensions` onto the GraphQL error, so raising one of these from a resolver
yields `{"extensions": {"code": ...}}` (a resolvers.codes.Code) without any per-resolver handling. These are logged
at INFO; anything else is unexpected, masked as INTERNAL and logged at ERROR with the request id.
"""

from __future__ import annotations

from typing import Any

from resolvers.codes import Code


class GatewayError(Exception):
    code: Code = Code.INTERNAL

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code.value, **details}


class Unauthenticated(GatewayError):
    code = Code.UNAUTHENTICATED


class Forbidden(GatewayError):
    """The caller's roles may never do this. Says nothing about whether the target exists."""

    code = Code.FORBIDDEN

    def __init__(self, message: str = "not allowed for the caller's roles", **details: Any) -> None:
        super().__init__(message, **details)


class NotFound(GatewayError):
    """Absent, or outside the caller's reach: the two are indistinguishable on purpose (IDs cannot be probed)."""

    code = Code.NOT_FOUND

    def __init__(self, what: str = "object", **details: Any) -> None:
        super().__init__(f"{what} not found", **details)


class BadUserInput(GatewayError):
    code = Code.BAD_USER_INPUT

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        if field is not None:
            details["field"] = field
        super().__init__(message, **details)


class Conflict(GatewayError):
    code = Code.CONFLICT


class NotActive(GatewayError):
    """The target exists and is in reach, but its tenant or subscription is not ACTIVE (auth.policy)."""

    code = Code.NOT_ACTIVE


class RateLimited(GatewayError):
    code = Code.RATE_LIMITED


class TooManyUsageRows(GatewayError):
    """Usage aggregates with more rows than `max_usage_rows` (the cost estimate refuses most before any SQL)."""

    code = Code.TOO_MANY_USAGE_ROWS

    def __init__(self, rows: int, maximum: int) -> None:
        super().__init__(
            f"The usage asked for has more than {maximum} rows: narrow the window, pin a subscription, tenant,"
            " partner or service, or group by fewer keys.",
            limit={"name": "maxUsageRows", "value": maximum, "actual": rows},
        )


EXPECTED_ERRORS: tuple[type[GatewayError], ...] = (
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    NotActive,
    RateLimited,
    TooManyUsageRows,
)
