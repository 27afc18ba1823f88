"""`subscriptions`: the subscriptions the caller sees, oldest first."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import select

from auth.policy import Entity
from auth.row_filters import visibility
from auth.scope import CallerScope
from db.engine import Database
from db.enums import Offer, SubscriptionStatus
from db.subscription import Subscription
from resolvers.filters import subscription_conditions
from resolvers.loaders import SUBSCRIPTION_ORDER
from resolvers.pagination import Paging
from resolvers.reads.listing import Listing, list_rows


@dataclass(frozen=True, slots=True)
class SubscriptionFilter:
    """Omitted (None) fields do not filter."""

    tenant_id: uuid.UUID | None = None
    offer: Offer | None = None
    status: SubscriptionStatus | None = None
    has_digital_partner_of_record: bool | None = None  # with (True) or without (False) an active DPOR
    partner_id: uuid.UUID | None = None  # the partner is or was associated with the subscription


async def list_subscriptions(
    database: Database, scope: CallerScope, filter: SubscriptionFilter, paging: Paging
) -> Listing[Subscription]:
    statement = select(Subscription).where(*subscription_conditions(asdict(filter)))
    return await list_rows(
        database, statement, visible=visibility(Entity.SUBSCRIPTION, scope), key=SUBSCRIPTION_ORDER, paging=paging
    )
