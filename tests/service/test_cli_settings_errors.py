"""A setting the gateway cannot use stops `dpor-gateway serve` with one line naming it, never a traceback.

Run as the operator runs it: the CLI in a subprocess, with only the environment under test."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.commands.serve import check_rate_limit_scope
from gateway.settings import SettingsError
from tests.auth_support import dev_settings, production_settings

REPO = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("DPOR_")}
    base = {"DPOR_VAR_DIR": str(tmp_path / "var"), "DPOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/db.sqlite3"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "1", *args],
        env=clean | {"PYTHONPATH": str(REPO)} | base | env,
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], setting: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"dpor-gateway: invalid setting {setting}: "), result.stderr


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1/db", "foo", "mysql://u@h/db", "sqlite:///x.sqlite3"],
)
def test_a_database_url_the_gateway_cannot_use(tmp_path: Path, url: str) -> None:
    assert_one_line_naming(serve(tmp_path, {"DPOR_DATABASE_URL": url}), "DPOR_DATABASE_URL")


def test_a_cross_field_error_names_the_setting(tmp_path: Path) -> None:
    result = serve(tmp_path, {"DPOR_RATE_LIMIT_POINTS": "50"})
    assert_one_line_naming(result, "DPOR_RATE_LIMIT_POINTS")
    assert "DPOR_MAX_COST" in result.stderr


@pytest.mark.parametrize(
    "manifest",
    [
        {hashlib.sha256(b"{ a }").hexdigest(): "{ b }"},  # a hash that is not its document's
        {"sha256:" + hashlib.sha256(b"{ a").hexdigest(): "{ a"},  # a document that does not parse
        ["not", "a", "manifest"],
        None,  # no such file
    ],
)
def test_a_persisted_documents_manifest_the_gateway_cannot_use(tmp_path: Path, manifest: object) -> None:
    path = tmp_path / "manifest.json"
    if manifest is not None:
        path.write_text(json.dumps(manifest))
    result = serve(tmp_path, {"DPOR_PERSISTED_DOCUMENTS_PATH": str(path)})
    assert_one_line_naming(result, "DPOR_PERSISTED_DOCUMENTS_PATH")


def test_a_per_client_manifest_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "mobile.json"
    path.write_text("{nope")
    result = serve(tmp_path, {"DPOR_PERSISTED_DOCUMENTS_PER_CLIENT": json.dumps([["mobile", str(path)]])})
    assert_one_line_naming(result, "DPOR_PERSISTED_DOCUMENTS_PER_CLIENT")


PRODUCTION = {
    "DPOR_ENV": "production",
    "DPOR_OAUTH_ISSUER": "https://issuer.test/",
    "DPOR_OAUTH_AUDIENCE": "https://api.test/dpor",
}


def test_production_refuses_several_workers_sharing_no_rate_limit_budget(tmp_path: Path) -> None:
    # Measured before: 2 workers without Redis allowed 200 operations on a budget of 100.
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": []}))
    result = serve(tmp_path, PRODUCTION | {"DPOR_OAUTH_JWKS_FILE": str(jwks)}, "--workers", "2")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("dpor-gateway: missing setting DPOR_REDIS_URL: with --workers 2"), result.stderr
    assert "DPOR_RATE_LIMIT_PER_PROCESS" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "workers", "refused"),
    [
        ({}, 2, True),
        ({}, 1, False),
        ({"redis_url": "redis://127.0.0.1:6379/15"}, 4, False),
        ({"rate_limit_per_process": True}, 2, False),
        ({"rate_limit_enabled": False}, 2, False),
    ],
)
def test_which_worker_counts_need_a_shared_budget(
    tmp_path: Path, overrides: dict[str, object], workers: int, refused: bool
) -> None:
    settings = production_settings(tmp_path, **overrides)
    if refused:
        with pytest.raises(SettingsError, match="DPOR_REDIS_URL"):
            check_rate_limit_scope(settings, workers)
    else:
        check_rate_limit_scope(settings, workers)


def test_dev_warns_loudly_instead(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        check_rate_limit_scope(dev_settings(tmp_path), 2)
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING
    assert "every rate-limit budget is multiplied by 2" in warning.getMessage()
    assert "DPOR_REDIS_URL" in warning.getMessage()
