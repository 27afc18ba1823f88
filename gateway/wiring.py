"""The one place that turns `Settings` into what the layers below gateway/ take, and their errors back into settings.

Nothing below gateway/ reads `Settings` (issue 12): auth/ declares the few values it needs as a frozen AuthConfig,
and its AuthConfigError names the field at fault, reported here as the setting to change (SettingsError, one line).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from auth.authenticator import Authenticator
from auth.config import AuthConfig, AuthConfigError
from auth.principal import Role
from gateway.settings import Settings, SettingsError

# The setting behind each AuthConfig field (tests/test_wiring.py checks that every field has one).
AUTH_SETTINGS = {
    "production": "DPOR_ENV",
    "issuer": "DPOR_OAUTH_ISSUER",
    "audience": "DPOR_OAUTH_AUDIENCE",
    "jwks_url": "DPOR_OAUTH_JWKS_URL",
    "jwks_file": "DPOR_OAUTH_JWKS_FILE",
    "clock_skew_seconds": "DPOR_OAUTH_CLOCK_SKEW_SECONDS",
    "max_token_lifetime_seconds": "DPOR_OAUTH_MAX_TOKEN_LIFETIME_SECONDS",
    "realm": "DPOR_OAUTH_REALM",
    "scope_names": "DPOR_SCOPE_*",
    "dev_key_dir": "DPOR_VAR_DIR",
}


def auth_config(settings: Settings) -> AuthConfig:
    return AuthConfig(
        production=settings.is_production,
        issuer=settings.oauth_issuer,
        audience=settings.oauth_audience,
        jwks_url=settings.oauth_jwks_url,
        jwks_file=settings.oauth_jwks_file,
        clock_skew_seconds=settings.oauth_clock_skew_seconds,
        max_token_lifetime_seconds=settings.oauth_max_token_lifetime_seconds,
        realm=settings.oauth_realm,
        scope_names={
            Role.OWNER: settings.scope_owner,
            Role.SERVICE_ADMIN: settings.scope_service_admin,
            Role.CO_ADMIN: settings.scope_co_admin,
            Role.DELEGATED_ADMIN: settings.scope_delegated_admin,
            Role.PARTNER: settings.scope_partner,
            Role.PLATFORM_ADMIN: settings.scope_platform_admin,
            Role.USAGE_INGEST: settings.scope_usage_ingest,
        },
        dev_key_dir=settings.var_dir,
    )


def settings_error(error: AuthConfigError) -> SettingsError:
    """The auth configuration error as the setting to change (an error of no one field keeps its message)."""
    if error.field is None:
        return SettingsError(str(error))
    return SettingsError(f"invalid setting {AUTH_SETTINGS[error.field]}: {error}")


def authenticator(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Authenticator:
    """Raises SettingsError (one line, naming the setting) when the key source cannot be used."""
    try:
        return Authenticator.from_config(auth_config(settings), transport=transport, clock=clock)
    except AuthConfigError as error:
        raise settings_error(error) from None
