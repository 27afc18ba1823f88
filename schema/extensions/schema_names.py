"""Production: errors raised before execution name nothing of the schema that the document did not spell itself.

With introspection and "Did you mean" suggestions off, graphql-core's validation and coercion messages still
name types the caller never wrote: "Field 'tenant' of type 'Tenant' must have a selection of subfields",
"Field 'to' of required type 'Date!' was not provided", "Cannot query field 'x' on type 'Tenant'". Tools such as
clairvoyance rebuild a schema from exactly these (issue 11: 24 of 75 types and 48 of 260 fields in production).

So in production every error without a response path (syntax, validation, variable coercion, the limits and the
cost estimate: everything decided before a resolver runs) is rewritten: a quoted part of its message that holds a
name the document does not contain becomes HIDDEN, and so does a schema type name written without quotes (custom
scalars' messages: "Date cannot represent ..."). What stays: the document's own names (its NAME tokens, not its
comments) and string values, the root types (`{ __typename }` answers them) and the specification's built-in
scalars. Values and keys that came from the variables are hidden too when they look like names: they are the
caller's own, but they are not part of the document. The code
(`extensions.code`) and the locations are kept, so a client can still tell what kind of mistake it made and where.
graphql-core's own errors during execution (arguments coerced there) are rewritten too; errors raised by resolvers
(with a path and an original error) are the project's own messages and pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import GraphQLError, GraphQLSchema, Lexer, Source, TokenKind, print_ast, specified_scalar_types
from strawberry.extensions import SchemaExtension

HIDDEN = "(hidden)"
_IDENTIFIER = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
# A quoted part of a graphql-core message: 'name', 'Type!', '[Type!]!', "value", 'Query.tenant'.
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_ALWAYS_KNOWN = frozenset(specified_scalar_types) | {"__typename", "__schema", "__type"}


@dataclass(frozen=True, slots=True)
class Known:
    """What a message may repeat: the document's names (and the always-known ones) and its string values."""

    names: frozenset[str]
    strings: frozenset[str]


def known_from(schema: GraphQLSchema, document_text: str) -> Known:
    """The document's NAME tokens and string values, read by graphql-core's lexer (comments are skipped: a
    comment names nothing, and a name only in a comment must not unlock it), plus the root types."""
    names: set[str] = set(_ALWAYS_KNOWN)
    strings: set[str] = set()
    names |= {root.name for root in (schema.query_type, schema.mutation_type, schema.subscription_type) if root}
    lexer = Lexer(Source(document_text))
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            if token.value is not None and token.kind is TokenKind.NAME:
                names.add(token.value)
            elif token.value is not None and token.kind in (TokenKind.STRING, TokenKind.BLOCK_STRING):
                strings.add(token.value)
            token = lexer.advance()
    except GraphQLError:
        pass  # a syntax error: the tokens read before it are what the document spelled
    return Known(frozenset(names), frozenset(strings))


def hide_schema_names(message: str, known: Known, type_names: frozenset[str]) -> str:
    """`message` with every quoted part naming something outside `known`, and every bare unknown type name, hidden."""

    def quoted(match: re.Match[str]) -> str:
        text = match.group(0)
        if text[1:-1] in known.strings or all(name in known.names for name in _IDENTIFIER.findall(text)):
            return text
        return HIDDEN

    def bare(match: re.Match[str]) -> str:
        word = match.group(0)
        return HIDDEN if word in type_names and word not in known.names else word

    parts = _QUOTED.split(message)
    quotes = [quoted(match) for match in _QUOTED.finditer(message)] + [""]
    return "".join(_IDENTIFIER.sub(bare, part) + quote for part, quote in zip(parts, quotes, strict=True))


def _rewritten(error: GraphQLError, message: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


class HideSchemaNames(SchemaExtension):
    """Runs outside ErrorCodes (listed before it), so it sees the errors with their codes already assigned."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result = context.result
        if result is None or not result.errors:
            return
        schema = context.schema._schema
        # A trusted document may arrive without its text (persisted.py): its names are those of its AST.
        document = context.graphql_document
        text = context.query or (print_ast(document) if document is not None else "")
        known = known_from(schema, text)
        type_names = frozenset(schema.type_map)
        errors = []
        for error in result.errors:
            # Also graphql-core's own errors during execution (an argument that fails coercion there): no
            # original error, unlike the resolvers' typed errors.
            if error.path is None or error.original_error is None:
                message = hide_schema_names(error.message, known, type_names)
                if message != error.message:
                    error = _rewritten(error, message)
            errors.append(error)
        result.errors = errors
