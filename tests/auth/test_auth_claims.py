"""Scopes to roles, and the tenant and partner each role acts on (auth.claims)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from auth.claims import ScopeRoles, principal_from_claims
from auth.principal import Principal, Role
from auth.rfc6750 import InsufficientScopeError, InvalidTokenError
from gateway.settings import SettingsError
from gateway.wiring import auth_config, authenticator
from tests.auth_support import PARTNER, TENANT, claims, dev_settings

DEFAULT_SCOPES = {
    "dpor.tenant.owner": Role.OWNER,
    "dpor.tenant.service_admin": Role.SERVICE_ADMIN,
    "dpor.tenant.co_admin": Role.CO_ADMIN,
    "dpor.tenant.delegated_admin": Role.DELEGATED_ADMIN,
    "dpor.partner.read": Role.PARTNER,
    "dpor.admin": Role.PLATFORM_ADMIN,
    "dpor.usage.write": Role.USAGE_INGEST,
}


@pytest.fixture
def scope_roles(tmp_path: Path) -> ScopeRoles:
    return ScopeRoles.from_config(auth_config(dev_settings(tmp_path)))


def principal(scope_roles: ScopeRoles, **overrides: Any) -> Principal:
    return principal_from_claims(claims(partner_id=PARTNER) | overrides, scope_roles)


def test_default_scope_names(scope_roles: ScopeRoles) -> None:
    assert dict(scope_roles.by_scope) == DEFAULT_SCOPES


@pytest.mark.parametrize(("scope", "role"), DEFAULT_SCOPES.items())
def test_each_scope_grants_its_role(scope_roles: ScopeRoles, scope: str, role: Role) -> None:
    assert principal(scope_roles, scope=scope).roles == {role}


def test_roles_are_the_union_of_the_scopes(scope_roles: ScopeRoles) -> None:
    granted = principal(scope_roles, scope="dpor.tenant.owner  dpor.usage.write openid dpor.admin")
    assert granted.roles == {Role.OWNER, Role.USAGE_INGEST, Role.PLATFORM_ADMIN}


def test_tenant_and_partner_are_kept_only_for_roles_that_act_on_them(scope_roles: ScopeRoles) -> None:
    owner = principal(scope_roles, scope="dpor.tenant.owner")
    assert (owner.tenant_external_id, owner.partner_mpn_id) == (TENANT, None)
    partner = principal(scope_roles, scope="dpor.partner.read")
    assert (partner.tenant_external_id, partner.partner_mpn_id) == (None, PARTNER)
    delegated = principal(scope_roles, scope="dpor.tenant.delegated_admin")
    assert (delegated.tenant_external_id, delegated.partner_mpn_id) == (TENANT, PARTNER)
    admin = principal(scope_roles, scope="dpor.admin")
    assert (admin.tenant_external_id, admin.partner_mpn_id) == (None, None)


def test_a_role_missing_its_claim_is_dropped_and_the_others_kept(scope_roles: ScopeRoles) -> None:
    granted = principal(scope_roles, scope="dpor.tenant.owner dpor.partner.read", partner_id="not-digits")
    assert granted.roles == {Role.OWNER}
    assert granted.partner_mpn_id is None


@pytest.mark.parametrize(
    "tid",
    [
        TENANT.hex,  # no hyphens
        "{" + str(TENANT) + "}",
        "urn:uuid:" + str(TENANT),
        str(TENANT).replace("-", "")[:32] + "----",  # 36 characters that uuid.UUID would accept
        str(uuid.UUID(int=0))[:-1] + "g",
        str(TENANT).upper(),  # the issuer writes lower case (RFC 9562 output form); another spelling is refused
        str(TENANT).replace("f", "F", 1),
        42,
    ],
)
def test_tid_must_be_a_canonical_uuid(scope_roles: ScopeRoles, tid: object) -> None:
    with pytest.raises(InsufficientScopeError):
        principal(scope_roles, scope="dpor.tenant.owner", tid=tid)


@pytest.mark.parametrize("partner_id", ["", "12a4", "١٢٣٤", "1" * 21, 1234567, " 1234"])
def test_partner_id_must_be_ascii_digits(scope_roles: ScopeRoles, partner_id: object) -> None:
    with pytest.raises(InsufficientScopeError):
        principal(scope_roles, scope="dpor.partner.read", partner_id=partner_id)


def test_scope_claim_must_be_a_string(scope_roles: ScopeRoles) -> None:
    with pytest.raises(InvalidTokenError):
        principal(scope_roles, scope=["dpor.admin"])


def test_scope_names_come_from_settings(tmp_path: Path) -> None:
    renamed = ScopeRoles.from_config(auth_config(dev_settings(tmp_path, scope_owner="api://dpor/Tenant.Owner")))
    assert principal(renamed, scope="api://dpor/Tenant.Owner").roles == {Role.OWNER}
    with pytest.raises(InsufficientScopeError):
        principal(renamed, scope="dpor.tenant.owner")


def test_one_scope_for_two_roles_is_a_settings_error(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, scope_partner="dpor.admin")
    with pytest.raises(
        SettingsError, match=r"^invalid setting DPOR_SCOPE_\*: scope 'dpor\.admin' is given to two roles"
    ):
        authenticator(settings)
