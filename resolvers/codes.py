"""Every machine-readable error code the gateway answers with (`extensions.code`), in one enum.

The resolvers' typed errors (resolvers/errors.py) carry the project-wide codes; the schema extensions, the HTTP view
and the bearer middleware the others. Codes are stable: clients and dashboards branch and alert on them.
One code per limit rather than a single OPERATION_LIMIT_EXCEEDED: "too deep" calls for a different fix than
"rate limited".
"""

from __future__ import annotations

import enum


class Code(enum.StrEnum):
    # Project-wide.
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    # An association change on a tenant or subscription that is not ACTIVE (reads still work).
    NOT_ACTIVE = "NOT_ACTIVE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    # The document could not be parsed, or is not valid against the schema.
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    # HTTP-level refusals (the body never reached GraphQL).
    BAD_REQUEST = "BAD_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BATCHING_DISABLED = "BATCHING_DISABLED"
    TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
    # Static limits on the document.
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
    TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
    # Cost, checked with the variables before execution (a bad `first` is BAD_USER_INPUT, field "first").
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    # Usage aggregates that may return more rows than `max_usage_rows` (estimated before SQL, checked after).
    TOO_MANY_USAGE_ROWS = "TOO_MANY_USAGE_ROWS"
    # The request ran out of time (execution deadline or database statement timeout).
    TIMEOUT = "TIMEOUT"
    # The database could not be reached or dropped the connection mid-request; safe to retry later.
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    # Trusted documents.
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    OPERATION_NOT_TRUSTED = "OPERATION_NOT_TRUSTED"
