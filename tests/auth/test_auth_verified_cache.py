"""A token already verified is recognised by its bytes, not re-verified; that memory never outlives the
token's own validity or the key set that verified it (see also test_auth_jwks for withdrawn keys)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from auth import authenticator as authenticator_module
from auth.authenticator import Authenticator
from auth.rfc9068 import AccessTokenValidator
from gateway.wiring import auth_config
from tests.auth_support import (
    assert_refused,
    claims,
    gateway,
    now,
    post,
    production_settings,
    rsa_key,
    sign,
)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = AccessTokenValidator.authenticate_token

    def counting(self: AccessTokenValidator, token_string: str) -> object:
        seen.append(token_string)
        return original(self, token_string)

    monkeypatch.setattr(AccessTokenValidator, "authenticate_token", counting)
    return seen


async def test_a_reused_token_is_verified_once(tmp_path: Path, verifications: list[str]) -> None:
    app = gateway(production_settings(tmp_path))
    reused = sign(claims(), rsa_key("rsa-1"))
    for _ in range(5):
        assert (await post(app, reused)).status_code == 200
    assert verifications == [reused]


async def test_a_remembered_token_still_expires(
    tmp_path: Path, verifications: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = gateway(production_settings(tmp_path, oauth_clock_skew_seconds=0))
    short = sign(claims(exp=now() + 5), rsa_key("rsa-1"))
    assert (await post(app, short)).status_code == 200
    later = time.time() + 6
    monkeypatch.setattr(time, "time", lambda: later)
    assert_refused(await post(app, short), 401, "invalid_token")
    assert verifications == [short, short]


async def test_refused_tokens_are_not_remembered(tmp_path: Path, verifications: list[str]) -> None:
    app = gateway(production_settings(tmp_path))
    forged = sign(claims(aud="https://other.test/"), rsa_key("rsa-1"))
    for _ in range(3):
        assert_refused(await post(app, forged), 401, "invalid_token")
    assert len(verifications) == 3


async def test_the_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authenticator_module, "VERIFIED_CACHE_SIZE", 3)
    settings = production_settings(tmp_path)
    authenticator = Authenticator.from_config(auth_config(settings))
    app = gateway(settings, authenticator)
    tokens = [sign(claims(), rsa_key("rsa-1")) for _ in range(5)]
    for value in tokens:
        assert (await post(app, value)).status_code == 200
    assert list(authenticator._verified) == tokens[2:]
