"""The static limits on a document, as graphql-core validation rules created once per settings.

Depth and aliases use Strawberry's own validators (`QueryDepthLimiter`, `MaxAliasesLimiter`), wrapped so their
errors carry a code and the limit (they report plain messages). Rules are built once, not per request: the
validation cache keys on the rule classes, and a class per request would never hit. Tokens are limited while
parsing (`MaxTokensLimiter`, see __init__.py), before any of these rules run.

Two limits Strawberry has no limiter for are written here:

- Root fields per operation: each root field is a separate entry point (its own query plan, its own SQL); a
  document with hundreds of them is a flood in one request. Fields reached through fragments at the root count.
- Directives per field: directives are evaluated per field per result item; piling them on (`@skip(if: $a)
  @include(if: $b) ...`) multiplies work without changing the result size the cost estimate sees.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from schema.extensions.errors import Code, limit_error


def count_root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
        elif isinstance(selection, InlineFragmentNode):
            count += count_root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            # A cycle or an unknown fragment is reported by the spec's own rules; here it only must not loop.
            if name in seen or name not in fragments:
                continue
            count += count_root_fields(fragments[name].selection_set, fragments, seen | {name})
    return count


def root_fields_rule(max_root_fields: int) -> type[ValidationRule]:
    class MaxRootFields(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            count = count_root_fields(node.selection_set, fragments, frozenset())
            if count > max_root_fields:
                self.report_error(
                    limit_error(
                        f"The operation selects {count} root fields; the maximum is {max_root_fields}.",
                        Code.TOO_MANY_ROOT_FIELDS,
                        "maxRootFields",
                        max_root_fields,
                        count,
                    )
                )

    return MaxRootFields


def directives_rule(max_directives: int) -> type[ValidationRule]:
    class MaxDirectivesPerField(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.reported = False

        def _check(self, node: FieldNode | FragmentSpreadNode | InlineFragmentNode) -> None:
            count = len(node.directives or ())
            # One error per document is enough to explain the refusal; a thousand would be its own flood.
            if count > max_directives and not self.reported:
                self.reported = True
                self.report_error(
                    limit_error(
                        f"A selection carries {count} directives; the maximum is {max_directives}.",
                        Code.TOO_MANY_DIRECTIVES,
                        "maxDirectivesPerField",
                        max_directives,
                        count,
                    )
                )

        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            self._check(node)

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: Any) -> None:
            self._check(node)

        def enter_inline_fragment(self, node: InlineFragmentNode, *_args: Any) -> None:
            self._check(node)

    return MaxDirectivesPerField


def coded_rule(rule: type[ValidationRule], code: Code, name: str, value: int) -> type[ValidationRule]:
    """Give every error `rule` reports the code and limit. Strawberry's limiters report from `__init__`."""

    class Coded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            report = context.on_error

            def on_error(error: GraphQLError) -> None:
                report(limit_error(error.message, code, name, value))

            context.on_error = on_error  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    Coded.__name__ = rule.__name__
    return Coded


def limit_rules(
    *, max_depth: int, max_aliases: int, max_root_fields: int, max_directives_per_field: int
) -> list[type[ASTValidationRule]]:
    return [
        coded_rule(depth_validator(max_depth, None, None), Code.QUERY_TOO_DEEP, "maxDepth", max_depth),
        coded_rule(aliases_validator(max_aliases), Code.TOO_MANY_ALIASES, "maxAliases", max_aliases),
        root_fields_rule(max_root_fields),
        directives_rule(max_directives_per_field),
    ]
