"""Bounded caches for parsing and validation, so a repeated document costs neither twice.

Parsing uses Strawberry's `ParserCache` (an LRU keyed by the query text and parse options), except that a
document already supplied by an earlier extension (a trusted document, see persisted.py) is not parsed again.

Validation is our own LRU rather than Strawberry's `ValidationCache` for one reason: production must validate
with graphql-core's `hide_suggestions=True` ("Did you mean 'secretField'?" reveals the schema to a caller who
may not introspect it), and `ValidationCache` has no way to pass that flag. The key is the document object, by
identity (the parse cache hands out one object per text), the schema, the rules and the flag.

Why by identity: graphql-core's AST nodes are frozen dataclasses, so they hash and compare by structure,
recursively; an `lru_cache` keyed by a document walked the whole document twice on every lookup. `DocumentLRU`
keys by `id()` and keeps the document in the entry, so an id is never reused while its entry lives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import suppress
from functools import cache
from typing import Generic, TypeVar

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

# graphql-core's own default: a pathologically invalid document cannot make validation report without end.
MAX_VALIDATION_ERRORS = 100
# Strawberry appends these two rules in its own validation step; ours replaces that step, so it adds them too.
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (MaybeNullValidationRule, OneOfInputValidationRule)


class DocumentParserCache(ParserCache):
    """`ParserCache` that leaves an already supplied document alone, and lets Strawberry report syntax errors.

    A syntax error raised from an `on_parse` hook escapes Strawberry's parse step and skips the other
    extensions' handling of the result; leaving the document unset instead makes Strawberry parse the
    (invalid, hence uncached) text itself, inside its own error handling.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query is not None:
            with suppress(GraphQLError):
                context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(
        schema,
        document,
        (*rules, *STRAWBERRY_RULES),
        max_errors=MAX_VALIDATION_ERRORS,
        hide_suggestions=hide_suggestions,
    )


class CachedValidation(SchemaExtension):
    """Validate through a bounded LRU, optionally without "Did you mean" suggestions."""

    def __init__(self, *, maxsize: int, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions
        self.validate = _validator(maxsize)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # An earlier extension may have settled validation (a trusted document validated before): keep its
        # answer.
        if context.pre_execution_errors is None and context.graphql_document is not None:
            errors = self.validate(
                context.schema._schema,
                context.graphql_document,
                context.validation_rules,
                self.hide_suggestions,
            )
            # A copy: the cached list is shared by every request with this document.
            context.pre_execution_errors = list(errors)
        yield


V = TypeVar("V")


class DocumentLRU(Generic[V]):
    """A bounded LRU of values computed from a document (and other hashable inputs), keyed by the document's
    identity."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[int, Hashable], tuple[DocumentNode, V]] = OrderedDict()

    def get(self, document: DocumentNode, inputs: Hashable, compute: Callable[[], V]) -> V:
        key = (id(document), inputs)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is document:
            self._entries.move_to_end(key)
            return entry[1]
        value = compute()
        self._entries[key] = (document, value)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value


ValidateFunction = Callable[
    [GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...], bool], list[GraphQLError]
]


@cache
def _validator(maxsize: int) -> ValidateFunction:
    # One LRU per size, shared by every request (extensions are constructed per request).
    results: DocumentLRU[list[GraphQLError]] = DocumentLRU(maxsize)

    def validate_cached(
        schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...], hide: bool
    ) -> list[GraphQLError]:
        return results.get(document, (id(schema), rules, hide), lambda: _validate(schema, document, rules, hide))

    return validate_cached
