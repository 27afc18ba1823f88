"""The gateway's Schema class: how GraphQL errors are logged, and how the SDL is printed.

Errors: expected ones (typed, with a code) are logged at INFO, anything else at ERROR.

Error *responses* (codes, masking) are shaped by the extensions in schema/extensions; this only decides what the
log says, always with the request id so a caller's report can be matched to the log line.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import strawberry
from graphql import GraphQLError, GraphQLSchema
from strawberry.types import ExecutionContext

from resolvers.codes import Code
from resolvers.errors import GatewayError
from schema.extensions.error_codes import classify
from schema.extensions.errors import code_of

if TYPE_CHECKING:
    from schema.fast_lane import FastLane

log = logging.getLogger("dpor_gateway.graphql")


def _request_id(execution_context: ExecutionContext | None) -> str:
    context = getattr(execution_context, "context", None)
    return str(getattr(context, "request_id", "-"))


def is_expected(error: GraphQLError) -> bool:
    """Caller mistakes and policy outcomes: typed gateway errors, permission denials, validation failures."""
    if error.original_error is None:
        return True  # parse and validation errors: the query itself is wrong
    if isinstance(error.original_error, GatewayError):
        return True
    if isinstance(error.original_error, GraphQLError):
        # graphql-core's own coercion of the caller's variables (a string for an Int, a missing input field):
        # it wraps its GraphQLError in another. The caller's mistake, BAD_USER_INPUT, not ours.
        return True
    return bool(error.extensions and error.extensions.get("code") == Code.FORBIDDEN)


def schema_definition(schema: GraphQLSchema) -> str:
    """The `schema { ... }` block naming the root operation types.

    graphql-core and Strawberry omit it when the roots are named Query/Mutation/Subscription, and SDL readers then
    take any type named `Subscription` as the subscription root. Ours is a domain type (a tenant's subscription) and
    the API has no subscription operations, so the block is always printed and names only the real roots.
    """
    roots = [
        ("query", schema.query_type),
        ("mutation", schema.mutation_type),
        ("subscription", schema.subscription_type),
    ]
    lines = [f"  {operation}: {root.name}" for operation, root in roots if root is not None]
    return "schema {\n" + "\n".join(lines) + "\n}"


def where(error: GraphQLError) -> str:
    """The field path of an execution error; the document position of a parse or validation error (which has no
    path); "the request" for an error that points at neither (a refusal before parsing)."""
    if error.path:
        return "path " + ".".join(str(part) for part in error.path)
    if error.locations:
        return ", ".join(f"line {location.line} column {location.column}" for location in error.locations)
    return "the request"


class GatewaySchema(strawberry.Schema):
    # Set by schema.root.build_schema; schemas built otherwise (tests' own) have none.
    fast_lane: FastLane | None = None

    def as_str(self) -> str:
        """The SDL, always with its schema definition (see `schema_definition`)."""
        printed = super().as_str()
        if printed.startswith("schema ") or "\n\nschema " in printed:
            return printed
        return schema_definition(self._schema) + "\n\n" + printed

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        request_id = _request_id(execution_context)
        for error in errors:
            if is_expected(error):
                # Strawberry reports errors before the error-codes extension has coded them: classify here
                # too, or a syntax error would be logged as a validation failure.
                code = code_of(classify(error)) or Code.GRAPHQL_VALIDATION_FAILED.value
                log.info("request %s: %s at %s: %s", request_id, code, where(error), error.message)
            else:
                log.error(
                    "request %s: unexpected error at %s",
                    request_id,
                    where(error),
                    exc_info=error.original_error,
                )
