"""One typed settings object, read from `DPOR_*` environment variables and a `.env` file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "DPOR_"
# Variables with these prefixes belong to the test suite and tooling, not to the gateway.
FOREIGN_PREFIXES = ("DPOR_TEST_", "DPOR_BENCH_")


class SettingsError(Exception):
    """A setting is unknown or invalid; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="forbid", frozen=True)

    env: Literal["dev", "production"] = "dev"
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'dpor-gateway.sqlite3'}"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Where dev-only state lives (the SQLite file, the dev signing key). Never committed.
    var_dir: Path = PROJECT_ROOT / "var"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False

    @cached_property
    def is_production(self) -> bool:
        return self.env == "production"


def _unknown_variables() -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(
        name
        for name in os.environ
        if name.startswith(ENV_PREFIX) and name not in known and not name.startswith(FOREIGN_PREFIXES)
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings, or raise SettingsError naming the first bad one (pydantic ignores unknown env vars)."""
    unknown = _unknown_variables()
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (known: see gateway/settings.py)")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = ENV_PREFIX + ".".join(str(part) for part in first["loc"]).upper()
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None
