"""Who is calling: the facts a validated access token establishes, and the roles its scopes map to."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.Enum):
    OWNER = "OWNER"
    SERVICE_ADMIN = "SERVICE_ADMIN"
    CO_ADMIN = "CO_ADMIN"
    DELEGATED_ADMIN = "DELEGATED_ADMIN"
    PARTNER = "PARTNER"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    USAGE_INGEST = "USAGE_INGEST"


# Roles that act on the tenant named by the token's `tid` claim.
TENANT_ROLES = frozenset({Role.OWNER, Role.SERVICE_ADMIN, Role.CO_ADMIN})
# Roles that act as the partner named by the token's `partner_id` claim.
PARTNER_ROLES = frozenset({Role.PARTNER, Role.DELEGATED_ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller whose token was validated. Claims are as the token states them; nothing here is checked
    against the database yet (see auth.scope for that)."""

    subject: str
    client_id: str | None
    scopes: frozenset[str]
    roles: frozenset[Role]
    tenant_external_id: uuid.UUID | None = None
    partner_mpn_id: str | None = None
    token_id: str | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles
