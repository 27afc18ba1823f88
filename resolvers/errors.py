"""Expected errors, each a typed exception with its machine-readable code.

graphql-core copies an original error's `extensions` onto the GraphQL error, so raising one of these from a resolver
yields `{"extensions": {"code": ...}}` (a resolvers.codes.Code) without any per-resolver handling. These are logged
at INFO; anything else is unexpected, masked as INTERNAL and logged at ERROR with the request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """One refused item of a batch: its position in the input (0-based) and the typed error it would get alone."""

    index: int
    error: GatewayError

    def as_extension(self) -> dict[str, Any]:
        """`{index, code, message, ...}` with the error's details (`field`, `currentVersion`, ...)."""
        details = {key: value for key, value in self.error.extensions.items() if key != "code"}
        return {"index": self.index, "code": self.error.code.value, "message": self.error.message, **details}


class BatchRefused(GatewayError):
    """A batch refused as a whole, nothing written: `extensions.problems` lists every failing item by index, each
    with the code and details the item would get on its own (NOT_FOUND, CONFLICT with `currentVersion`, ...).

    The error's own code is the first failing item's (as `extensions.field` is the first bad field's in
    resolvers.validation), so a one-item batch answers with the code the single change would."""

    def __init__(self, items: str, problems: Sequence[ItemProblem]) -> None:
        if not problems:
            raise ValueError("a refused batch names at least one problem")
        self.problems = tuple(sorted(problems, key=lambda problem: problem.index))
        first = self.problems[0]
        self.code = first.error.code
        super().__init__(
            f"{len(self.problems)} of the {items} refused, nothing was written; first: item {first.index}:"
            f" {first.error.message}",
            problems=[problem.as_extension() for problem in self.problems],
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
    BatchRefused,
)
