"""Partners, identified across the ecosystem by their partner network (MPN) id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, new_id, utcnow
from db.types import UTCDateTime


class Partner(Base):
    __tablename__ = "partners"
    __table_args__ = (
        # trim(x, chars) strips digits on both SQLite and PostgreSQL: what is left must be nothing.
        CheckConstraint("length(mpn_id) > 0 AND trim(mpn_id, '0123456789') = ''", name="mpn_id_digits"),
        CheckConstraint("length(country_code) = 2 AND upper(country_code) = country_code", name="country_code"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    mpn_id: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(256), index=True)
    country_code: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
