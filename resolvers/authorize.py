"""Mutation authorization from auth.policy.OPERATIONS: which role acts, and whether the target is in its reach.

auth.policy decides (the grants, the role preference, the reach over a target, the conditions); this module turns
its answers into the errors a caller sees. Order matters for what a caller can learn: the role check comes first
and needs no lookup (FORBIDDEN says nothing about the target); only then is the target looked up, and one outside
the acting role's reach is NOT_FOUND, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from auth.policy import Grant, acting_role, condition_holds, grants
from auth.principal import Role
from auth.scope import CallerScope
from resolvers.errors import Forbidden, NotFound

# The role recorded for what the gateway does by itself because time passed (resolvers.sweep): no caller acted.
SYSTEM_ROLE = "SYSTEM"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a mutation, as the audit log records it."""

    subject: str
    client_id: str | None
    role: Role | None  # None: the gateway itself (SYSTEM_ROLE)
    request_id: str

    @property
    def role_name(self) -> str:
        return self.role.value if self.role is not None else SYSTEM_ROLE


def granted(operation: str, scope: CallerScope) -> dict[Role, Grant]:
    """The caller's grants for the operation; FORBIDDEN when none of its roles has one."""
    held = grants(operation, scope.roles)
    if not held:
        raise Forbidden(f"{operation} is not allowed for the caller's roles")
    return held


def acting_grant(
    held: dict[Role, Grant],
    scope: CallerScope,
    tenant_id: uuid.UUID | None,
    what: str,
) -> tuple[Role, Grant]:
    """The role that acts on a target of `tenant_id` (auth.policy.acting_role); NOT_FOUND when none reaches it."""
    acting = acting_role(held, scope.tenant_id, tenant_id)
    if acting is None:
        raise NotFound(what)
    return acting


def require_condition(grant: Grant, *, is_admin_link: bool, partner_id: uuid.UUID, scope: CallerScope) -> None:
    if not condition_holds(
        grant.condition, is_admin_link=is_admin_link, partner_id=partner_id, caller_partner_id=scope.partner_id
    ):
        raise Forbidden("a delegated admin may only link or unlink a PARTNER_ADMIN_LINK naming its own partner")
