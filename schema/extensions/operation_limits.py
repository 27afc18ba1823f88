"""The static limits on a document (depth, aliases, root fields, directives) as validation rules.

Why not Strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter`: both walk fragment spreads once per path,
so a document whose fragments spread the next one twice (`fragment F1 on Query { ...F2 ...F2 }`, and so on)
costs them 2**n steps. Measured with graphql-core 3.3 / Strawberry 0.341: 18 such fragments take 3.7 s in the
depth limiter and 1.8 s in the alias limiter, and 2,000 tokens allow about 160. Here each fragment is measured
once per nesting level (memoized), so the walk is linear in the document while the counts keep the same
meaning: depth as Strawberry counts it (a root leaf is depth 0), aliases counted each time a fragment is
spread.

Root fields count distinct response keys at the root, collecting fragments the way execution does (each
fragment once), since that is what execution will resolve. Directives are counted per selection. The rules are
built once per configuration: the validation cache keys on the rule classes, and a class per request would never
hit.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from resolvers.codes import Code
from schema.extensions.errors import limit_error


class DocumentShape:
    """Depth and alias count of selection sets, memoized per (fragment, nesting level)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], depth_cap: int) -> None:
        self.fragments = fragments
        # Below this level nothing more needs measuring: the document is too deep already.
        self.depth_cap = depth_cap
        self.memo: dict[tuple[str, int], tuple[int, int]] = {}
        self.in_progress: set[str] = set()

    def measure(self, selection_set: SelectionSetNode, level: int) -> tuple[int, int]:
        """(deepest field level reached, aliases) for a selection set whose fields sit at `level`."""
        deepest, aliases = level, 0
        if level > self.depth_cap:
            return deepest, aliases
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    depth, inner = self.measure(selection.selection_set, level + 1)
                    deepest, aliases = max(deepest, depth), aliases + inner
            elif isinstance(selection, InlineFragmentNode):
                depth, inner = self.measure(selection.selection_set, level)
                deepest, aliases = max(deepest, depth), aliases + inner
            elif isinstance(selection, FragmentSpreadNode):
                depth, inner = self.fragment(selection.name.value, level)
                deepest, aliases = max(deepest, depth), aliases + inner
        return deepest, aliases

    def fragment(self, name: str, level: int) -> tuple[int, int]:
        # Cycles and unknown fragments are the spec rules' to report; here they must only terminate.
        if name in self.in_progress or name not in self.fragments:
            return level, 0
        key = (name, level)
        if key not in self.memo:
            self.in_progress.add(name)
            try:
                self.memo[key] = self.measure(self.fragments[name].selection_set, level)
            finally:
                self.in_progress.discard(name)
        return self.memo[key]


def fragments_of(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in context.document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def _split_introspection(selection_set: SelectionSetNode) -> tuple[SelectionSetNode, SelectionSetNode]:
    """(the operation without its root introspection fields, those fields alone)."""
    introspection = tuple(
        s for s in selection_set.selections if isinstance(s, FieldNode) and s.name.value in INTROSPECTION_ROOTS
    )
    rest = tuple(s for s in selection_set.selections if s not in introspection)
    return SelectionSetNode(selections=rest), SelectionSetNode(selections=introspection)


def depth_and_aliases_rule(max_depth: int, max_aliases: int, max_introspection_depth: int) -> type[ValidationRule]:
    """Root `__schema` / `__type` fields are measured against their own bound: the standard introspection query
    (what GraphiQL and codegen send) is 14 levels deep, deeper than any data query needs, because `ofType` nests
    once per list or non-null wrapper. Everything else keeps `max_depth`."""

    class MaxDepthAndAliases(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            fragments = fragments_of(self.context)
            name = node.name.value if node.name else "anonymous"
            data, introspection = _split_introspection(node.selection_set)
            try:
                depth, aliases = DocumentShape(fragments, depth_cap=max_depth).measure(data, 0)
                deep, more = DocumentShape(fragments, depth_cap=max_introspection_depth).measure(introspection, 0)
            except RecursionError:  # nested beyond the interpreter's stack: far beyond any sane depth
                depth, aliases, deep, more = max_depth + 1, 0, 0, 0
            aliases += more
            for measured, bound, setting in (
                (depth, max_depth, "maxDepth"),
                (deep, max_introspection_depth, "maxIntrospectionDepth"),
            ):
                if measured > bound:
                    self.report_error(
                        limit_error(
                            f"Operation '{name}' is nested deeper than the maximum depth of {bound}.",
                            Code.QUERY_TOO_DEEP,
                            setting,
                            bound,
                        )
                    )
                    break
            if aliases > max_aliases:
                self.report_error(
                    limit_error(
                        f"Operation '{name}' uses {aliases} aliases; the maximum is {max_aliases}.",
                        Code.TOO_MANY_ALIASES,
                        "maxAliases",
                        max_aliases,
                        aliases,
                    )
                )

    return MaxDepthAndAliases


def root_response_keys(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    keys: set[str] = set()
    visited: set[str] = set()
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in visited and name in fragments:
                    visited.add(name)
                    pending.append(fragments[name].selection_set)
    return keys


def root_fields_rule(max_root_fields: int) -> type[ValidationRule]:
    class MaxRootFields(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            count = len(root_response_keys(node.selection_set, fragments_of(self.context)))
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


def limit_rules(
    *,
    max_depth: int,
    max_aliases: int,
    max_root_fields: int,
    max_directives_per_field: int,
    max_introspection_depth: int = 15,
) -> list[type[ASTValidationRule]]:
    return [
        depth_and_aliases_rule(max_depth, max_aliases, max_introspection_depth),
        root_fields_rule(max_root_fields),
        directives_rule(max_directives_per_field),
    ]
