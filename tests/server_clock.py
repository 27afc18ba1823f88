"""A server clock the tests set and move (db.clock): association intervals, expiries and decline windows are then
instants of the test's choosing, and 30 days pass in a line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from db import clock


class ServerClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def server_clock() -> Iterator[ServerClock]:
    """The server's clock, stopped at 2026-03-01T00:00:00Z until the test moves it (usage days up to the real
    tomorrow are ingestible, so a story set in March 2026 can carry usage)."""
    stopped = ServerClock(datetime(2026, 3, 1, tzinfo=UTC))
    with clock.moved_to(stopped):
        yield stopped
