"""Mutation authorization from auth.policy.OPERATIONS: which role acts, and whether the target is in its reach.

Order matters for what a caller can learn: the role check comes first and needs no lookup (FORBIDDEN says nothing
about the target); only then is the target looked up, and one outside the acting role's reach is NOT_FOUND, exactly
like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth.policy import Condition, Grant, RowFilter, grants
from auth.principal import Role
from auth.scope import CallerScope
from resolvers.errors import Forbidden, NotFound

# When several held roles may perform an operation, the audit log records the most direct one.
ROLE_PREFERENCE = (
    Role.PLATFORM_ADMIN,
    Role.OWNER,
    Role.SERVICE_ADMIN,
    Role.CO_ADMIN,
    Role.DELEGATED_ADMIN,
    Role.PARTNER,
    Role.USAGE_INGEST,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a mutation, as the audit log records it."""

    subject: str
    client_id: str | None
    role: Role
    request_id: str


def granted(operation: str, scope: CallerScope) -> dict[Role, Grant]:
    """The caller's grants for the operation; FORBIDDEN when none of its roles has one."""
    held = grants(operation, scope.roles)
    if not held:
        raise Forbidden(f"{operation} is not allowed for the caller's roles")
    return held


def tenant_in_reach(reach: RowFilter, scope: CallerScope, tenant_id: uuid.UUID) -> bool:
    if reach is RowFilter.ALL:
        return True
    if reach in (RowFilter.OWN_TENANT, RowFilter.DELEGATED_TENANT):
        return scope.tenant_id is not None and scope.tenant_id == tenant_id
    return False


def acting_grant(
    held: dict[Role, Grant],
    scope: CallerScope,
    tenant_id: uuid.UUID | None,
    what: str,
) -> tuple[Role, Grant]:
    """The preferred held role whose reach covers the target's tenant; NOT_FOUND when none does.

    A role without a condition is preferred over one with a condition, so an OWNER who also holds DELEGATED_ADMIN
    is never limited by the delegated admin's rule.
    """
    candidates = [
        (role, held[role])
        for role in ROLE_PREFERENCE
        if role in held and (tenant_id is None or tenant_in_reach(held[role].reach, scope, tenant_id))
    ]
    if not candidates:
        raise NotFound(what)
    candidates.sort(key=lambda pair: pair[1].condition is not None)
    return candidates[0]


def require_condition(grant: Grant, *, is_admin_link: bool, partner_id: uuid.UUID, scope: CallerScope) -> None:
    if grant.condition is Condition.ADMIN_LINK_OF_OWN_PARTNER and not (
        is_admin_link and scope.partner_id is not None and partner_id == scope.partner_id
    ):
        raise Forbidden("a delegated admin may only link or unlink a PARTNER_ADMIN_LINK naming its own partner")
