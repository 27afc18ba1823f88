"""From a validated token's claims to a Principal: which roles its scopes grant, and on whom they act.

Claims read: ``sub``, ``client_id``, ``jti`` (:rfc:`9068#section-2.2`), ``scope`` (a space-separated string,
:rfc:`8693#section-4.2`), ``tid`` (the tenant's external id, a UUID) and ``partner_id`` (the partner's MPN id,
digits). A role that needs a ``tid`` or a ``partner_id`` the token lacks (or states malformed) is dropped: the
token is valid but grants less. Whether a delegated admin's partner really serves the tenant is the policy's
question, answered from the database (auth.scope), not here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from auth.config import AuthConfig, AuthConfigError
from auth.principal import PARTNER_ROLES, TENANT_ROLES, Principal, Role
from auth.rfc6750 import InsufficientScopeError, InvalidTokenError

# MPN ids are decimal digits (six to ten in practice); the bound only keeps nonsense out.
_MPN_ID = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class ScopeRoles:
    """Which scope grants which role: one scope per role, names from the configuration (AuthConfig.scope_names)."""

    by_scope: Mapping[str, Role]

    @classmethod
    def from_config(cls, config: AuthConfig) -> ScopeRoles:
        names = config.scope_names
        by_scope = {scope: role for role, scope in names.items()}
        if len(by_scope) != len(names):
            # Two roles on one scope would make every token carrying it both: refuse to guess which was meant.
            shared = next(scope for scope in by_scope if list(names.values()).count(scope) > 1)
            raise AuthConfigError(f"scope {shared!r} is given to two roles", "scope_names")
        return cls(by_scope)

    def scope_of(self, role: Role) -> str:
        return next(scope for scope, granted in self.by_scope.items() if granted is role)


def principal_from_claims(claims: Mapping[str, object], scope_roles: ScopeRoles) -> Principal:
    """The caller a validated token describes. Raises InsufficientScopeError if it grants no role, and
    InvalidTokenError if a claim we rely on has the wrong type."""
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidTokenError(description="scope is not a string")
    scopes = frozenset(scope.split())
    tenant = _tenant_external_id(claims.get("tid"))
    partner = _partner_mpn_id(claims.get("partner_id"))

    roles = set()
    for name in scopes:
        role = scope_roles.by_scope.get(name)
        if role is None:
            continue
        if role in TENANT_ROLES and tenant is None:
            continue
        if role in PARTNER_ROLES and partner is None:
            continue
        if role is Role.DELEGATED_ADMIN and tenant is None:
            continue  # a delegated admin acts on one customer tenant, named by "tid"
        roles.add(role)
    if not roles:
        raise InsufficientScopeError(description=f"no role in scope {scope!r} (tid, partner_id as required)")

    jti = claims.get("jti")
    client_id = claims.get("client_id")
    return Principal(
        subject=str(claims["sub"]),
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=scopes,
        roles=frozenset(roles),
        tenant_external_id=tenant if roles & (TENANT_ROLES | {Role.DELEGATED_ADMIN}) else None,
        partner_mpn_id=partner if roles & PARTNER_ROLES else None,
        token_id=jti if isinstance(jti, str) else None,
    )


def _tenant_external_id(value: object) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) != 36:
        return None  # only the canonical hyphenated form: one tenant, one spelling
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    # str(UUID) is lower case: an upper-case spelling is a second name for the same tenant, refused.
    return parsed if str(parsed) == value else None


def _partner_mpn_id(value: object) -> str | None:
    if isinstance(value, str) and _MPN_ID.fullmatch(value):
        return value
    return None
