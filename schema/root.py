"""The assembled schema: root types composed from the feature modules, plus extensions."""

from __future__ import annotations

import functools

from schema import extensions
from schema.association import PartnerAssociation
from schema.audit import AuditEvent
from schema.change_events import SubscriptionRoot
from schema.delegation import DelegatedAdminRelationship
from schema.errors import GatewaySchema
from schema.extensions.config import ExtensionConfig
from schema.fast_lane import fast_lane_for
from schema.mutations import Mutation
from schema.partner import Partner
from schema.query import Query
from schema.scalars import SCALAR_OVERRIDES
from schema.subscription import Subscription
from schema.tenant import Tenant

# Types reachable only through the Node interface must be named so they appear in the schema.
NODE_TYPES = [Tenant, Subscription, Partner, PartnerAssociation, DelegatedAdminRelationship, AuditEvent]


def _schema(extension_list: list[object]) -> GatewaySchema:
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=SubscriptionRoot,
        types=NODE_TYPES,
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        extensions=extension_list,  # type: ignore[arg-type]
    )


@functools.lru_cache(maxsize=8)
def build_schema(config: ExtensionConfig) -> GatewaySchema:
    """The configuration is frozen, so equal configurations always build the same schema: build it once. The
    schema carries its fast lane (schema/fast_lane.py), which shares the extensions' compiled reads."""
    shared = extensions.shared_for(config)
    schema = _schema(list(extensions.for_config(config, shared)))
    schema.fast_lane = fast_lane_for(config, schema._schema, shared)
    return schema


def sdl() -> str:
    """The contract, independent of settings (extensions do not change types)."""
    return _schema([]).as_str() + "\n"
