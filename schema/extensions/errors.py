"""Error codes of the hardening layer, and the one way to build an error that carries one.

Every refusal names what was exceeded: `extensions.code` is a stable machine-readable code (one per kind of
limit, so a client can branch on it without parsing text) and, for limits, `extensions.limit` holds the
limit's name and configured value (plus the measured value where there is one), e.g.

    {"message": "Query depth 14 exceeds the maximum of 10.",
     "extensions": {"code": "QUERY_TOO_DEEP", "limit": {"name": "maxDepth", "value": 10, "actual": 14}}}

The codes themselves are `resolvers.codes.Code`, beside the resolvers' typed errors that carry the project-wide
ones.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from resolvers.codes import Code


def coded_error(message: str, code: Code, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value, **extensions})


def limit_error(
    message: str, code: Code, name: str, value: int | float, actual: int | float | None = None
) -> GraphQLError:
    limit: dict[str, Any] = {"name": name, "value": value}
    if actual is not None:
        limit["actual"] = actual
    return coded_error(message, code, limit=limit)


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None
