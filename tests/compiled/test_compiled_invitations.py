"""Partner.dporInvitations on the compiled path shows what the interpreter shows of an invitation and nothing more:
its catalog entry is the schema type's fields, and no statement reads the code hash (the differential test,
test_compiled_reads.py, holds the answers to the interpreter's)."""

from __future__ import annotations

from graphql import OperationDefinitionNode, parse

from auth.principal import Role
from auth.row_filters import Known
from resolvers import global_id
from resolvers.compiled.catalog import OBJECTS
from resolvers.compiled.planner import CallerShape, plan
from schema.root import _schema

EVERY_FIELD = """query($f: DporInvitationsFilter) { partners(first: 5) { edges { node {
  dporInvitations(first: 3, filter: $f) { totalCount pageInfo { endCursor } edges { cursor node {
    id message createdAt expiresAt maxRedemptions redemptions revokedAt status __typename } } } } } } }"""


def test_the_catalog_holds_the_schema_types_fields_only() -> None:
    shown = _schema([])._schema.get_type("DporInvitation")
    assert set(OBJECTS["DporInvitation"].fields) == set(shown.fields)  # type: ignore[union-attr]
    assert OBJECTS["DporInvitation"].hidden == {"code_hash"}


def test_no_compiled_statement_reads_the_code_hash() -> None:
    document = parse(EVERY_FIELD)
    (operation,) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    for roles, variables in (
        ({Role.PLATFORM_ADMIN}, {"f": {"status": ["ACTIVE", "EXPIRED"]}}),
        ({Role.PARTNER}, {"f": None}),
    ):
        caller = CallerShape(frozenset(roles), Known(tenant=False, partner=True))
        found = plan(operation, {}, variables, caller, global_id.decode_any, max_page_size=100)
        assert "dpor_invitations" in found.sql and "code_hash" not in found.sql
