"""Refuse text containing NUL (U+0000) anywhere in an operation's inputs, as BAD_USER_INPUT.

PostgreSQL's text types can neither store nor compare NUL ("invalid byte sequence for encoding UTF8: 0x00"), so
such a value reaching SQL (a display name, a search, an idempotency key) failed as an unexpected error, INTERNAL
in production, while SQLite stored it. No field of the API has a use for it: it is refused before execution, in
one place, for every argument, whether written in the document ("\\u0000") or sent as a variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from resolvers.codes import Code
from schema.extensions.caching import DocumentLRU
from schema.extensions.errors import coded_error

NUL = "\x00"


class _FindsNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        self.found = self.found or NUL in node.value


_SEEN: DocumentLRU[bool] = DocumentLRU(1024)


def in_document(document: DocumentNode) -> bool:
    """Cached by document (caching.DocumentLRU): a repeated operation is not walked again."""
    return _SEEN.get(document, None, lambda: _walk(document))


def _walk(document: DocumentNode) -> bool:
    finder = _FindsNul()
    visit(document, finder)
    return finder.found


def in_value(value: Any) -> bool:
    """Any string inside a JSON value (variables), keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RefuseNulCharacters(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if in_value(context.variables) or (document is not None and in_document(document)):
            raise coded_error("Text inputs must not contain the NUL character (U+0000).", Code.BAD_USER_INPUT)
        yield
