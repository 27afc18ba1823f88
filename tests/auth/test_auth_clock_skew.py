"""Clock skew between issuer and gateway: tolerated up to DPOR_OAUTH_CLOCK_SKEW_SECONDS (default 60 s), no
further. Authlib's validator alone allows none: an issuer clock two seconds ahead would fail every token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


def _ahead(seconds: int) -> dict[str, Any]:
    """Claims from an issuer whose clock runs ``seconds`` ahead of ours."""
    issued = now() + seconds
    return claims(iat=issued, nbf=issued, exp=issued + 600)


def _expired_ago(seconds: int) -> dict[str, Any]:
    return claims(iat=now() - 600, exp=now() - seconds)


async def test_issuer_two_seconds_ahead_is_accepted_by_default(tmp_path: Path) -> None:
    app = gateway(production_settings(tmp_path))
    assert (await post(app, sign(_ahead(2), rsa_key("rsa-1")))).status_code == 200


async def test_token_expired_two_seconds_ago_is_accepted_by_default(tmp_path: Path) -> None:
    app = gateway(production_settings(tmp_path))
    assert (await post(app, sign(_expired_ago(2), rsa_key("rsa-1")))).status_code == 200


@pytest.mark.parametrize("make_claims", [_ahead, _expired_ago], ids=["issuer ahead", "expired"])
async def test_skew_beyond_the_default_is_refused(tmp_path: Path, make_claims: Any) -> None:
    app = gateway(production_settings(tmp_path))
    assert_refused(await post(app, sign(make_claims(75), rsa_key("rsa-1"))), 401, "invalid_token")


@pytest.mark.parametrize("make_claims", [_ahead, _expired_ago], ids=["issuer ahead", "expired"])
async def test_skew_follows_the_setting(tmp_path: Path, make_claims: Any) -> None:
    strict = gateway(production_settings(tmp_path, oauth_clock_skew_seconds=0))
    assert_refused(await post(strict, sign(make_claims(2), rsa_key("rsa-1"))), 401, "invalid_token")
    lenient = gateway(production_settings(tmp_path, oauth_clock_skew_seconds=120))
    assert (await post(lenient, sign(make_claims(75), rsa_key("rsa-1")))).status_code == 200
