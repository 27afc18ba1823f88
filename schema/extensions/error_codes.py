"""Give every error leaving the schema a code.

Errors that already carry `extensions.code` (the limits here, the resolvers' typed errors) are kept as they
are. Of the rest: syntax errors become GRAPHQL_PARSE_FAILED (or TOO_MANY_TOKENS when the token limit aborted
the parse), errors raised while validating the document become GRAPHQL_VALIDATION_FAILED, variable values that
do not coerce become BAD_USER_INPUT, a cancelled statement (PostgreSQL `statement_timeout`) becomes TIMEOUT,
and a database that cannot be reached, refuses another connection (too many clients) or dropped the connection
becomes DATABASE_UNAVAILABLE (without the driver's message, which names hosts and SQL), with `Retry-After`.
Anything still without a code is unexpected: in production the masking extension replaces it by INTERNAL.
Logging is the schema's (schema/errors.py: expected errors at INFO, others at ERROR with the request id), not
this module's, so that each error is logged once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from db import errors as database_errors
from resolvers.codes import Code
from schema.extensions.errors import code_of, limit_error

# graphql-core's message when `max_tokens` stops the parser (graphql/language/parser.py).
TOO_MANY_TOKENS = re.compile(r"Document contains more than (\d+) tokens")
# Seconds a client is told to wait before retrying when the database is unavailable (`Retry-After`).
DATABASE_RETRY_AFTER_SECONDS = 1


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
    if database_errors.is_statement_timeout(error.original_error):
        return GraphQLError(
            "The database statement took too long and was cancelled.",
            nodes=error.nodes,
            path=error.path,
            original_error=error.original_error,
            extensions={"code": Code.TIMEOUT.value},
        )
    if database_errors.is_unavailable(error.original_error):
        return GraphQLError(
            "The database is unavailable; retry later.",
            nodes=error.nodes,
            path=error.path,
            original_error=error.original_error,
            extensions={"code": Code.DATABASE_UNAVAILABLE.value},
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
            if any(code_of(error) == Code.DATABASE_UNAVAILABLE.value for error in result.errors):
                # RFC 9110 section 10.2.3: when to try again, as a rate-limited answer says it.
                response = getattr(self.execution_context.context, "response", None)
                if response is not None:
                    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
