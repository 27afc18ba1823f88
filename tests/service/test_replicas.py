"""Read replica settings and lag arithmetic (db/replicas.py), without a server: the cluster tests are in
test_replicas_postgresql.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.engine import Database
from db.read_pins import ReadPins
from db.replicas import Replicas
from gateway.settings import SettingsError, load_settings

PRIMARY = "postgresql+asyncpg://app@primary/dpor"


def test_read_urls_are_comma_separated_postgresql_urls_of_a_postgresql_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPOR_DATABASE_READ_URLS", "postgresql+asyncpg://app@r1/dpor, postgresql+asyncpg://app@r2/dpor")
    assert load_settings(database_url=PRIMARY).database_read_urls == (
        "postgresql+asyncpg://app@r1/dpor",
        "postgresql+asyncpg://app@r2/dpor",
    )
    with pytest.raises(SettingsError, match="DPOR_DATABASE_READ_URLS: read replicas need a PostgreSQL primary"):
        load_settings(database_url="sqlite+aiosqlite:///x.sqlite3")
    monkeypatch.setenv("DPOR_DATABASE_READ_URLS", "sqlite+aiosqlite:///replica.sqlite3")
    with pytest.raises(SettingsError, match="DPOR_DATABASE_READ_URLS: read replicas are PostgreSQL"):
        load_settings(database_url=PRIMARY)


def test_the_read_your_writes_window_outlasts_the_lag_a_serving_replica_may_have() -> None:
    urls = ("postgresql+asyncpg://app@r1/dpor",)
    with pytest.raises(SettingsError, match="DPOR_DATABASE_READ_YOUR_WRITES_SECONDS: must be at least"):
        load_settings(
            database_url=PRIMARY,
            database_read_urls=urls,
            database_replica_max_lag_seconds=3,
            database_replica_check_seconds=1,
            database_read_your_writes_seconds=3.5,
        )


async def test_lag_is_the_age_of_the_newest_primary_position_the_replica_has_replayed(tmp_path: Path) -> None:
    primary = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'p.sqlite3'}")
    replicas = Replicas(primary, [], max_lag_seconds=1, check_seconds=0.5, pins=ReadPins(2))
    assert replicas._lag(100) is None  # no sample of the primary yet: unknown
    replicas._samples.extend([(10.0, 100), (10.5, 100), (11.0, 250), (11.5, 400)])
    assert replicas._lag(400) == 0  # everything: an idle primary shows no lag
    assert replicas._lag(300) == 0.5  # has what the primary had at 11.0, not at 11.5
    assert replicas._lag(100) == 1.0
    assert replicas._lag(50) == 2.0  # behind every sample: at least the window (1.5 s) and one interval
    assert replicas._lag(None) is None
    await primary.dispose()
