"""`dpor-gateway token`: prints, alone on its last line, a token the dev gateway accepts with the roles
asked."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from auth.principal import Role
from gateway.cli import main
from tests.auth_support import dev_settings, gateway, install_spy, post

TENANT = uuid.uuid4()


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DPOR_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DPOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}")
    return tmp_path / "var"


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["token", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


async def test_printed_token_is_accepted_with_the_roles_asked(
    var_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys,
        "--role", "delegated-admin",
        "--role", "partner",
        "--tenant", str(TENANT),
        "--partner", "7654321",
        "--scope", "openid",
        "--subject", "alice",
        "--ttl", "120",
    )  # fmt: skip
    assert code == 0
    token = out.rstrip("\n").splitlines()[-1]
    claims = payload(token)
    assert claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == "alice"

    spy = install_spy(monkeypatch)
    response = await post(gateway(dev_settings(tmp_path)), token)
    assert response.status_code == 200, response.text
    (principal,) = spy.principals
    assert principal is not None
    assert principal.roles == {Role.DELEGATED_ADMIN, Role.PARTNER}
    assert principal.tenant_external_id == TENANT
    assert principal.partner_mpn_id == "7654321"
    assert "openid" in principal.scopes


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ((), "at least one --role"),
        (("--role", "owner"), "--tenant"),
        (("--role", "service-admin"), "--tenant"),
        (("--role", "delegated-admin", "--partner", "1234"), "--tenant"),
        (("--role", "partner"), "--partner"),
        (("--role", "partner", "--partner", "12ab"), "--partner"),
        (("--role", "platform-admin", "--ttl", "0"), "--ttl"),
    ],
)
def test_incomplete_requests_are_refused(
    var_dir: Path, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], complaint: str
) -> None:
    code, out, err = run(capsys, *arguments)
    assert code == 2
    assert out == ""
    assert complaint in err


def test_every_role_has_a_command_line_name(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = [
        "owner",
        "service-admin",
        "co-admin",
        "delegated-admin",
        "partner",
        "platform-admin",
        "usage-ingest",
    ]
    arguments = [part for name in names for part in ("--role", name)]
    code, out, _ = run(capsys, *arguments, "--tenant", str(TENANT), "--partner", "1234567")
    assert code == 0
    assert len(payload(out.splitlines()[-1])["scope"].split()) == len(Role) == len(names)


def test_production_mints_nothing(
    var_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPOR_ENV", "production")
    monkeypatch.setenv("DPOR_OAUTH_ISSUER", "https://issuer.test/")
    monkeypatch.setenv("DPOR_OAUTH_AUDIENCE", "dpor")
    monkeypatch.setenv("DPOR_OAUTH_JWKS_URL", "https://issuer.test/jwks.json")
    code, out, err = run(capsys, "--role", "platform-admin")
    assert (code, out) == (2, "")
    assert "DPOR_ENV=production" in err
    assert not var_dir.exists()


def test_as_a_subprocess_the_last_line_is_the_token(var_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "token", "--role", "platform-admin"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    last = result.stdout.splitlines()[-1]
    assert last.count(".") == 2 and " " not in last
    assert payload(last)["scope"] == "dpor.admin"


def test_a_dev_key_readable_by_others_stops_the_command_in_one_line(
    var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--role", "platform-admin")[0] == 0  # makes the key
    (key,) = var_dir.iterdir()
    key.chmod(0o644)
    code, out, err = run(capsys, "--role", "platform-admin")
    assert (code, out) == (2, "")
    assert err.startswith("dpor-gateway: dev signing key ") and "readable by others" in err, err
    assert err.count("\n") == 1
