"""Field-level policy as a Strawberry permission class, driven by auth.policy.FIELDS.

A caller who may read a parent but not one of its fields gets FORBIDDEN on that field only; the rest of the
result stands (partial data, standard GraphQL errors). The decision is made for the row in hand
(auth.policy.field_rule): a type carrying a FieldPolicy field names the tenant its row belongs to with
`policy_tenant_id()`.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from strawberry.permission import BasePermission
from strawberry.types import Info

from auth.policy import OPERATIONS, TENANT_PERSONAL_FIELDS, field_rule, operation_reaches_partner
from auth.row_filters import reaches_tenant
from resolvers.caller import caller_scope, loaders_of
from resolvers.codes import Code
from resolvers.context import RequestContext
from resolvers.errors import Forbidden


class TenantRow(Protocol):
    def policy_tenant_id(self) -> uuid.UUID:
        """The id of the tenant this row belongs to: what tenant-scoped roles are matched against."""
        ...


class FieldPolicy(BasePermission):
    message = "not allowed for the caller's roles"
    error_extensions = {"code": Code.FORBIDDEN.value}  # noqa: RUF012 (Strawberry reads it as a class attribute)

    async def has_permission(self, source: TenantRow, info: Info[RequestContext, None], **kwargs: Any) -> bool:
        scope = await caller_scope(info.context)
        rule = field_rule(info._raw_info.parent_type.name, info.field_name, scope.roles)
        return rule.allows(source.policy_tenant_id(), scope.tenant_id)


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


async def require_tenant_personal_field(info: Info[RequestContext, None], subscription_id: uuid.UUID) -> None:
    """auth.policy.TENANT_PERSONAL_FIELDS, decided for this row: FORBIDDEN on the field (partial data) unless the
    caller's row filter on the rule's entity reaches the tenant of the row's subscription."""
    entity = TENANT_PERSONAL_FIELDS[(info._raw_info.parent_type.name, info.field_name)]
    loaders = await loaders_of(info.context)
    subscription = await loaders.subscription.load(subscription_id)
    if subscription is None or not reaches_tenant(entity, loaders.scope, subscription.tenant_id):
        raise Forbidden("only the tenant's admins read who acted; see the *Role and *ClientId fields")
