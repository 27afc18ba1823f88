"""gateway/wiring.py: the settings reach the lower layers' configs whole, and their errors name real settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from auth.config import AuthConfig, AuthConfigError
from auth.principal import Role
from gateway.settings import ENV_PREFIX, Settings
from gateway.wiring import AUTH_SETTINGS, auth_config, settings_error
from tests.auth_support import dev_settings

SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def test_every_auth_config_field_names_a_setting() -> None:
    assert set(AUTH_SETTINGS) == {field.name for field in dataclasses.fields(AuthConfig)}
    scope_settings = {name for name in SETTING_NAMES if name.startswith("DPOR_SCOPE_")}
    assert set(AUTH_SETTINGS.values()) - {"DPOR_SCOPE_*"} <= SETTING_NAMES
    assert len(scope_settings) == len(Role)  # DPOR_SCOPE_* stands for one setting per role


def test_auth_config_carries_each_setting(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, oauth_clock_skew_seconds=7, oauth_realm="elsewhere", scope_partner="p.read")
    config = auth_config(settings)
    assert (config.production, config.clock_skew_seconds, config.realm) == (False, 7, "elsewhere")
    assert config.scope_names[Role.PARTNER] == "p.read"
    assert set(config.scope_names) == set(Role)
    assert config.dev_key_dir == settings.var_dir


def test_an_auth_error_names_its_setting_or_keeps_its_message() -> None:
    assert str(settings_error(AuthConfigError("cannot read x", "jwks_file"))) == (
        "invalid setting DPOR_OAUTH_JWKS_FILE: cannot read x"
    )
    assert str(settings_error(AuthConfigError("dev signing key k is readable by others"))) == (
        "dev signing key k is readable by others"
    )
