"""Customer tenants and their contacts (personal data, kept in its own table so access to it is explicit)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, enum_column, new_id, utcnow
from db.enums import TenantStatus
from db.types import UTCDateTime


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("length(country_code) = 2 AND upper(country_code) = country_code", name="country_code"),
        CheckConstraint("length(display_name) > 0", name="display_name_not_empty"),
        Index("ix_tenants_country_status", "country_code", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The directory's GUID for the tenant; tokens name a tenant by it (the `tid` claim).
    external_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    display_name: Mapped[str] = mapped_column(String(256))
    primary_domain: Mapped[str] = mapped_column(String(253))
    country_code: Mapped[str] = mapped_column(String(2))
    status: Mapped[TenantStatus] = mapped_column(
        enum_column(TenantStatus, "tenant_status"), default=TenantStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TenantContact(Base):
    __tablename__ = "tenant_contacts"
    __table_args__ = (CheckConstraint("length(name) > 0", name="name_not_empty"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = relationship(lazy="raise")
