"""A caller's scope as the database's row-level security policies read it: its ids and its reach, from the policy.

The reach tokens (`ENTITY.code`, see db/row_security.py) are auth.policy's READ table as this caller's roles get
it (`read_filters`, the same function the SQL row filters read), so the policies and the row filters cannot
disagree on who reads what; tests/service/test_row_security.py holds them to the same rows. Two additions are
what operations need beyond reading, each from an OPERATIONS grant:

- A tenant's OWNER previews, accepts and declines a DPOR invitation it reaches only by its code
  (`dporInvitation`, `acceptDporInvitation`, `declineDporInvitation`): `DPOR_INVITATION.c`, the one row whose
  code hash the transaction presents (db.row_security.present_invitation_code).
- USAGE_INGEST reads nothing, but `ingestUsage` (reach ALL) checks every record's subscription and writes usage:
  in write transactions only (`write_reach`).
"""

from __future__ import annotations

import functools
import uuid

from auth.policy import OPERATIONS, Entity, RowFilter, read_filters
from auth.principal import Role
from auth.scope import CallerScope
from db.row_security import Caller, request_caller

CODES = {
    RowFilter.ALL: "*",
    RowFilter.OWN_TENANT: "t",
    RowFilter.DELEGATED_TENANT: "d",
    RowFilter.ATTRIBUTED: "a",
    RowFilter.OWN_PARTNER: "p",
    RowFilter.ATTRIBUTED_WINDOWS: "w",
}


@functools.cache
def reach(roles: frozenset[Role]) -> frozenset[str]:
    """The reach tokens of a caller holding these (effective) roles, in every transaction: READ's filters, and the
    invitation its code names for roles that preview or accept one by code."""
    tokens = {f"{entity.value}.{CODES[rule]}" for entity in Entity for rule in read_filters(entity, roles)}
    if any(role in OPERATIONS[name].grants for name in ("dporInvitation", "acceptDporInvitation") for role in roles):
        tokens.add("DPOR_INVITATION.c")
    return frozenset(tokens)


@functools.cache
def write_reach(roles: frozenset[Role]) -> frozenset[str]:
    """What its mutations' transactions reach besides: `ingestUsage` (reach ALL) checks every record's subscription
    and writes usage. Never in a read's transaction, so a token holding OWNER and USAGE_INGEST reads its tenant's
    rows only (tests/service/test_row_security.py found it reading every subscription when this was one set)."""
    return (
        frozenset({"SUBSCRIPTION.*", "USAGE.*"})
        if any(r in OPERATIONS["ingestUsage"].grants for r in roles)
        else frozenset()
    )


@functools.lru_cache(maxsize=4096)
def _caller(roles: frozenset[Role], tenant_id: uuid.UUID | None, partner_id: uuid.UUID | None) -> Caller:
    return request_caller(reach(roles), tenant_id, partner_id, write_reach(roles))


def caller_of(scope: CallerScope) -> Caller:
    """The settings of this caller's transactions (one object per distinct caller, its SQL built once)."""
    return _caller(scope.roles, scope.tenant_id, scope.partner_id)
