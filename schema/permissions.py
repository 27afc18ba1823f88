"""Field-level policy as a Strawberry permission class, driven by auth.policy.FIELDS.

A caller who may read a parent but not one of its fields gets FORBIDDEN on that field only; the rest of the
result stands (partial data, standard GraphQL errors). The decision is made for the row in hand
(auth.policy.field_rule): a type carrying a FieldPolicy field names the tenant its row belongs to with
`policy_tenant_id(context)`.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.policy import OPERATIONS, field_rule, operation_reaches_partner
from resolvers.caller import caller_scope
from resolvers.codes import Code
from resolvers.context import RequestContext


class TenantRow(Protocol):
    async def policy_tenant_id(self, context: RequestContext) -> uuid.UUID | None:
        """The id of the tenant this row belongs to (None: none the caller reaches): what tenant-scoped roles are
        matched against."""
        ...


class FieldPolicy(BasePermission):
    message = "not allowed for the caller's roles"
    error_extensions = {"code": Code.FORBIDDEN.value}  # noqa: RUF012 (Strawberry reads it as a class attribute)

    async def has_permission(self, source: TenantRow, info: Info[RequestContext, None], **kwargs: Any) -> bool:
        scope = await caller_scope(info.context)
        rule = field_rule(info._raw_info.parent_type.name, info.field_name, scope.roles)
        if rule.anywhere:
            return True
        return rule.allows(await source.policy_tenant_id(info.context), scope.tenant_id)


class PartnerRow(Protocol):
    def policy_partner_id(self) -> uuid.UUID:
        """The id of the partner this row is: what OWN_PARTNER grants are matched against."""
        ...


class OperationPolicy(BasePermission):
    """For a field that is also an operation in auth.policy.OPERATIONS (e.g. Partner.attributedSubscriptions).

    On a root field the roles decide (the resolver then bounds the target by the acting role's reach); on a
    Partner row, a held role's grant must reach that partner (auth.policy.operation_reaches_partner)."""

    message = "not allowed for the caller's roles"
    error_extensions = {"code": Code.FORBIDDEN.value}  # noqa: RUF012

    async def has_permission(self, source: Any, info: Info[RequestContext, None], **kwargs: Any) -> bool:
        scope = await caller_scope(info.context)
        if hasattr(source, "policy_partner_id"):
            row: PartnerRow = source
            return operation_reaches_partner(info.field_name, scope.roles, row.policy_partner_id(), scope.partner_id)
        return bool(set(OPERATIONS[info.field_name].grants) & scope.roles)
