"""GraphQL's CollectFields for the compiler: the response keys of a selection on one runtime type, in order, with
the field nodes merged under each, after @skip/@include and fragments (each named fragment once per collection)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
)

from resolvers.compiled.errors import NotCompilable

# json_build_object takes at most 100 arguments: 50 keys.
MAX_KEYS = 50


class Selections:
    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        applies: Any,
    ) -> None:
        """`applies(condition, type_name)`: whether a fragment on `condition` applies to an object of `type_name`
        (False when it never can, NotCompilable when the compiler does not know the condition)."""
        self.fragments = fragments
        self.variables = variables
        self.applies = applies

    def included(self, selection: SelectionNode) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"directive @{name}")
            arguments = directive.arguments or ()
            if len(arguments) != 1:
                raise NotCompilable(f"@{name} without its one argument")
            value = arguments[0].value
            if isinstance(value, BooleanValueNode):
                condition = value.value
            elif isinstance(value, VariableNode) and isinstance(self.variables.get(value.name.value), bool):
                condition = self.variables[value.name.value]
            else:
                raise NotCompilable("a directive condition that is not a boolean")
            if condition is (name == "skip"):
                return False
        return True

    def collect(self, type_name: str, selection_sets: Iterable[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    fields.setdefault((selection.alias or selection.name).value, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition.name.value if selection.type_condition else None
                    if self.applies(condition, type_name):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments[name]
                    if self.applies(fragment.type_condition.name.value, type_name):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        if len(fields) > MAX_KEYS:
            raise NotCompilable("too many keys for one json_build_object")
        return fields

    def under(self, type_name: str, nodes: Iterable[FieldNode]) -> dict[str, list[FieldNode]]:
        """The keys selected under the merged field nodes, on `type_name`."""
        return self.collect(type_name, [node.selection_set for node in nodes if node.selection_set is not None])
