"""Give every error leaving the schema a code.

Errors that already carry `extensions.code` (the limits here, the resolvers' typed errors) are kept as they
are. Of the rest: syntax errors become GRAPHQL_PARSE_FAILED (or TOO_MANY_TOKENS when the token limit aborted
the parse), errors raised while validating the document become GRAPHQL_VALIDATION_FAILED, variable values that
do not coerce become BAD_USER_INPUT, and a cancelled statement (PostgreSQL `statement_timeout`) becomes
TIMEOUT. Anything still without a code is unexpected: in production the masking extension replaces it by
INTERNAL. Logging is the schema's (schema/errors.py: expected errors at INFO, others at ERROR with the request
id), not this module's, so that each error is logged once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from schema.extensions.errors import Code, code_of, limit_error

# graphql-core's message when `max_tokens` stops the parser (graphql/language/parser.py).
TOO_MANY_TOKENS = re.compile(r"Document contains more than (\d+) tokens")
# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (or by a client-side cancel).
QUERY_CANCELED = "57014"


def _is_statement_timeout(error: BaseException | None) -> bool:
    while error is not None:
        if getattr(error, "sqlstate", None) == QUERY_CANCELED or getattr(error, "pgcode", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def classify(error: GraphQLError) -> GraphQLError:
    if code_of(error) is not None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        if match := TOO_MANY_TOKENS.search(error.message):
            limit = int(match.group(1))
            coded = limit_error(f"The document has more than {limit} tokens.", Code.TOO_MANY_TOKENS, "maxTokens", limit)
            return GraphQLError(
                coded.message, source=error.source, positions=error.positions, extensions=coded.extensions
            )
        return _with_code(error, Code.GRAPHQL_PARSE_FAILED)
    if error.path is None and error.message.startswith("Variable '$"):
        # graphql-core coerces variables before execution; a value that does not fit is the caller's input.
        return _with_code(error, Code.BAD_USER_INPUT)
    if error.original_error is None and error.path is None:
        return _with_code(error, Code.GRAPHQL_VALIDATION_FAILED)
    if _is_statement_timeout(error.original_error):
        return GraphQLError(
            "The database statement took too long and was cancelled.",
            nodes=error.nodes,
            path=error.path,
            original_error=error.original_error,
            extensions={"code": Code.TIMEOUT.value},
        )
    return error


def _with_code(error: GraphQLError, code: Code) -> GraphQLError:
    # A new error rather than a mutation: validation errors are shared through the validation cache.
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": code.value},
    )


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [classify(error) for error in result.errors]
