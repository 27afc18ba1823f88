"""The Mutation root: one `input` argument, a payload type, one transaction each, audited.

Mutations live by feature (associations, bulk associations, claims, usage, provisioning, DPOR invitations,
webhooks); each decodes its input, hands it to one function in resolvers/ through `common.run` (the request's
transaction, the caller's scope) and converts the rows it returns, which the resolver has read under the caller's
row filters.
"""

from __future__ import annotations

import strawberry

from schema.mutations.associations import AssociationMutations
from schema.mutations.bulk_associations import BulkAssociationMutations
from schema.mutations.claims import ClaimMutations
from schema.mutations.dpor_invitations import DporInvitationMutations
from schema.mutations.provisioning import ProvisioningMutations
from schema.mutations.usage import UsageMutations
from schema.mutations.webhooks import WebhookMutations


# strawberry.tools.merge_types composes the same way (the bases' fields, in this order, are the SDL's order), but
# takes no description; the root's description is part of the published contract.
@strawberry.type(description="Write operations. Each runs in one transaction and writes an audit event.")
class Mutation(
    AssociationMutations,
    BulkAssociationMutations,
    ClaimMutations,
    UsageMutations,
    ProvisioningMutations,
    DporInvitationMutations,
    WebhookMutations,
):
    pass


__all__ = ["Mutation"]
