"""schema.permissions.OperationPolicy on a Partner row in SQL: a field that is also an operation
(Partner.attributedSubscriptions, Partner.dporInvitations) answers only where a held grant on that operation
reaches the row (auth.policy.operation_reaches_partner), else it is FORBIDDEN, which the statement writes as MISSING
so that the interpreter answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.types import Uuid

from auth.policy import RowFilter, grants
from auth.row_filters import SCOPE_PARTNER_ID

if TYPE_CHECKING:
    from resolvers.compiled.planner import Builder


def reaches_partner_row(builder: Builder, operation: str, row: Any) -> bool | ColumnElement[bool]:
    """A held grant of reach ALL reaches every row; OWN_PARTNER the caller's own partner's row (its MPN id known);
    no other reach does. True or False when it is the same on every row, else in SQL."""
    reach = {grant.reach for grant in grants(operation, builder.caller.roles).values()}
    if RowFilter.ALL in reach:
        return True
    if RowFilter.OWN_PARTNER not in reach or not builder.caller.known.partner:
        return False
    return row.c.id == bindparam(SCOPE_PARTNER_ID, type_=Uuid())  # type: ignore[no-any-return]
