"""Field-level policy as a Strawberry permission class, driven by auth.policy.FIELDS.

A caller who may read a parent but not one of its fields gets FORBIDDEN on that field only; the rest of the
result stands (partial data, standard GraphQL errors).
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.policy import FIELDS, OPERATIONS
from auth.row_filters import can_read
from resolvers.caller import caller_scope
from resolvers.context import RequestContext


class FieldPolicy(BasePermission):
    message = "not allowed for the caller's roles"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 (Strawberry reads it as a class attribute)

    async def has_permission(self, source: Any, info: Info[RequestContext, None], **kwargs: Any) -> bool:
        scope = await caller_scope(info.context)
        entity = FIELDS[(info._raw_info.parent_type.name, info.field_name)]
        return can_read(entity, scope)


class OperationPolicy(BasePermission):
    """For a field that is also an operation in auth.policy.OPERATIONS (e.g. Partner.attributedSubscriptions)."""

    message = "not allowed for the caller's roles"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012

    async def has_permission(self, source: Any, info: Info[RequestContext, None], **kwargs: Any) -> bool:
        scope = await caller_scope(info.context)
        return bool(set(OPERATIONS[info.field_name].grants) & scope.roles)
