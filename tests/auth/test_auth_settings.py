"""What the gateway trusts, by environment: production refuses to start without an issuer, an audience and
a key set, and never trusts the dev key; dev makes and trusts its own."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from auth.config import AuthConfigError
from auth.dev_keys import DEV_AUDIENCE, DEV_ISSUER, key_path, mint_dev_token, signing_key
from auth.principal import Role
from gateway.cli import main
from gateway.settings import SettingsError
from gateway.wiring import auth_config
from tests.auth_support import (
    AUDIENCE,
    ISSUER,
    assert_refused,
    client,
    dev_settings,
    gateway,
    post,
    production_settings,
)

PRODUCTION_ENV = {
    "DPOR_ENV": "production",
    "DPOR_OAUTH_ISSUER": ISSUER,
    "DPOR_OAUTH_AUDIENCE": AUDIENCE,
    "DPOR_OAUTH_JWKS_URL": "https://issuer.test/jwks.json",
}


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("DPOR_OAUTH_ISSUER", "DPOR_OAUTH_ISSUER"),
        ("DPOR_OAUTH_AUDIENCE", "DPOR_OAUTH_AUDIENCE"),
        ("DPOR_OAUTH_JWKS_URL", "DPOR_OAUTH_JWKS_FILE"),
    ],
)
def test_production_refuses_to_start_without_its_token_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unset: str, named: str
) -> None:
    for name, value in PRODUCTION_ENV.items():
        if name != unset:
            monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"dpor-gateway: invalid setting {named}:")
    assert "DPOR_ENV=production" in error


def test_production_refuses_a_clear_text_jwks_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DPOR_OAUTH_JWKS_URL", "http://issuer.test/jwks.json")
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.startswith("dpor-gateway: invalid setting DPOR_OAUTH_JWKS_URL:")


def test_unreadable_jwks_file_stops_the_app_from_being_built(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SettingsError, match=r"^invalid setting DPOR_OAUTH_JWKS_FILE: cannot read"):
        gateway(production_settings(tmp_path, oauth_jwks_file=broken))


async def test_production_ignores_the_dev_key(tmp_path: Path) -> None:
    # A dev key exists in var_dir and signs a token naming even the production issuer and audience.
    dev = dev_settings(tmp_path, oauth_issuer=ISSUER, oauth_audience=AUDIENCE)
    token = mint_dev_token(auth_config(dev), roles=[Role.PLATFORM_ADMIN])
    assert (await post(gateway(dev), token)).status_code == 200

    production = production_settings(tmp_path)
    assert production.var_dir == dev.var_dir
    assert_refused(await post(gateway(production), token), 401, "invalid_token")
    with pytest.raises(AuthConfigError, match="never used in production"):
        signing_key(auth_config(production))
    with pytest.raises(AuthConfigError):
        mint_dev_token(auth_config(production), roles=[Role.PLATFORM_ADMIN])


async def test_dev_trusts_a_key_it_creates_on_first_start(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    assert not key_path(auth_config(settings)).exists()
    app = gateway(settings)
    path = key_path(auth_config(settings))
    assert path.parent == settings.var_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["kty"] == "RSA"
    assert [entry.name for entry in settings.var_dir.iterdir()] == [path.name]  # no temporary file left
    token = mint_dev_token(auth_config(settings), roles=[Role.OWNER], tenant=uuid.uuid4())
    assert (await post(app, token)).status_code == 200


def test_the_dev_key_survives_restarts(tmp_path: Path) -> None:
    config = auth_config(dev_settings(tmp_path))
    first = signing_key(config)
    assert signing_key(config).kid == first.kid


def test_a_dev_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    signing_key(auth_config(settings))
    os.chmod(key_path(auth_config(settings)), 0o644)
    with pytest.raises(SettingsError, match="readable by others"):
        gateway(settings)


async def test_dev_tokens_name_the_dev_issuer_and_audience(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    token = mint_dev_token(auth_config(settings), roles=[Role.USAGE_INGEST])
    payload = json.loads(_b64decode(token.split(".")[1]))
    assert (payload["iss"], payload["aud"]) == (DEV_ISSUER, DEV_AUDIENCE)
    assert payload["scope"] == "dpor.usage.write"


async def test_graphiql_page_needs_no_token_in_dev_but_operations_do(tmp_path: Path) -> None:
    app = gateway(dev_settings(tmp_path))
    async with client(app) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
        operation = await http.get(
            "/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"}
        )
        not_a_browser = await http.get("/graphql", headers={"accept": "application/json"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert_refused(operation, 401, None)
    assert_refused(not_a_browser, 401, None)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
