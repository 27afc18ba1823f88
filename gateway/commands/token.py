"""`dpor-gateway token`: mint a dev access token, signed with the dev key, printed alone on the last line.

dpor-gateway token --role owner --tenant 3f0c...      # a tenant owner
dpor-gateway token --role delegated-admin --tenant 3f0c... --partner 1234567
TOKEN=$(dpor-gateway token --role platform-admin | tail -n1)
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from auth.dev_keys import mint_dev_token
from auth.principal import PARTNER_ROLES, TENANT_ROLES, Role
from gateway.settings import load_settings
from gateway.wiring import auth_config

# Command-line spelling of each role.
ROLE_NAMES = {role.value.lower().replace("_", "-"): role for role in Role}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("token", help="mint a dev access token (DPOR_ENV=dev only)")
    parser.add_argument(
        "--role", action="append", default=[], choices=sorted(ROLE_NAMES), help="a role to grant (repeatable)"
    )
    parser.add_argument("--tenant", type=uuid.UUID, help="the tenant's external id (tid), for tenant roles")
    parser.add_argument("--partner", help="the partner's MPN id (partner_id), for partner roles")
    parser.add_argument("--scope", action="append", default=[], help="an extra raw scope (repeatable)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default: 3600)")
    parser.add_argument("--subject", default="dev-user", help="the sub claim (default: dev-user)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.is_production:
        print("dpor-gateway token: dev tokens are not trusted when DPOR_ENV=production", file=sys.stderr)
        return 2
    roles = [ROLE_NAMES[name] for name in args.role]
    problem = _missing_claim(roles, args)
    if problem:
        print(f"dpor-gateway token: {problem}", file=sys.stderr)
        return 2
    if settings.oauth_jwks_url or settings.oauth_jwks_file:
        print(
            "warning: an issuer key set is configured, so this gateway does not trust the dev key",
            file=sys.stderr,
        )
    token = mint_dev_token(
        auth_config(settings),
        roles=roles,
        tenant=args.tenant,
        partner=args.partner,
        scopes=args.scope,
        ttl=args.ttl,
        subject=args.subject,
    )
    granted = ", ".join(role.value for role in roles) or "no role"
    print(f"# {granted}; expires in {args.ttl} s. Send as: Authorization: Bearer <token>")
    print(token)
    return 0


def _missing_claim(roles: list[Role], args: argparse.Namespace) -> str | None:
    if not roles and not args.scope:
        return "give at least one --role or --scope"
    if args.ttl <= 0:
        return "--ttl must be positive"
    if any(role in TENANT_ROLES or role is Role.DELEGATED_ADMIN for role in roles) and args.tenant is None:
        return "tenant roles and delegated-admin need --tenant <external tenant id>"
    if any(role in PARTNER_ROLES for role in roles) and (
        args.partner is None or not (args.partner.isascii() and args.partner.isdigit())
    ):
        return "partner and delegated-admin need --partner <MPN id, digits>"
    return None
