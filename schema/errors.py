"""How GraphQL errors are logged: expected ones (typed, with a code) at INFO, anything else at ERROR.

Error *responses* (codes, masking) are shaped by the extensions in schema/extensions; this only decides what the
log says, always with the request id so a caller's report can be matched to the log line.
"""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from resolvers.errors import GatewayError
from schema.extensions.error_codes import classify
from schema.extensions.errors import Code, code_of

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
    return bool(error.extensions and error.extensions.get("code") == "FORBIDDEN")


def where(error: GraphQLError) -> str:
    """The field path of an execution error; the document position of a parse or validation error (which has no
    path); "the request" for an error that points at neither (a refusal before parsing)."""
    if error.path:
        return "path " + ".".join(str(part) for part in error.path)
    if error.locations:
        return ", ".join(f"line {location.line} column {location.column}" for location in error.locations)
    return "the request"


class GatewaySchema(strawberry.Schema):
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
