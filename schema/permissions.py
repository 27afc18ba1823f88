"""Field-level policy as a Strawberry permission class, driven by auth.policy.FIELDS.

A caller who may read a parent but not one of its fields gets FORBIDDEN on that field only; the rest of the
result stands (partial data, standard GraphQL errors).
"""

from __future__ import annotations

import uuid
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.policy import FIELDS, OPERATIONS, TENANT_PERSONAL_FIELDS
from auth.row_filters import can_read, reaches_tenant
from resolvers.caller import caller_scope, loaders_of
from resolvers.context import RequestContext
from resolvers.errors import Forbidden


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


async def require_tenant_personal_field(info: Info[RequestContext, None], subscription_id: uuid.UUID) -> None:
    """auth.policy.TENANT_PERSONAL_FIELDS, decided for this row: FORBIDDEN on the field (partial data) unless the
    caller's row filter on the rule's entity reaches the tenant of the row's subscription."""
    entity = TENANT_PERSONAL_FIELDS[(info._raw_info.parent_type.name, info.field_name)]
    loaders = await loaders_of(info.context)
    subscription = await loaders.subscription.load(subscription_id)
    if subscription is None or not reaches_tenant(entity, loaders.scope, subscription.tenant_id):
        raise Forbidden("only the tenant's admins read who acted; see the *Role and *ClientId fields")
