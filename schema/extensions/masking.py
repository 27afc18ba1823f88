"""Production error masking: an error without a code of its own becomes INTERNAL plus the request id.

The caller learns that something failed and which request to quote; the message, the exception type and any
SQL stay in our logs (error_codes.py logs them at ERROR with the same request id). Errors with a code (limits,
validation, the resolvers' typed errors) are meant for the caller and pass unchanged.
"""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.codes import Code
from schema.extensions.errors import code_of

MASKED_MESSAGE = "Internal server error."


def is_unexpected(error: GraphQLError) -> bool:
    return code_of(error) in (None, Code.INTERNAL.value)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        extensions: dict[str, object] = {"code": Code.INTERNAL.value}
        request_id = getattr(self.execution_context.context, "request_id", None)
        if request_id is not None:
            extensions["requestId"] = request_id
        return GraphQLError(
            MASKED_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
