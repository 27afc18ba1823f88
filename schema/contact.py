"""Tenant contacts: personal data, readable only by the tenant's own admins and platform admins."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.tenant import TenantContact as ContactRow


@strawberry.type(description="A person to contact at a tenant. Personal data.")
class Contact:
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Email address.")
    phone: str | None = strawberry.field(description="Phone number, if given.")
    created_at: datetime = strawberry.field(description="When the contact was added (UTC).")

    @classmethod
    def from_row(cls, row: ContactRow) -> Contact:
        return cls(name=row.name, email=row.email, phone=row.phone, created_at=row.created_at)
