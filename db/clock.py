"""The server's clock: the one source of "now" for what the gateway writes and compares against the time.

Association intervals start and end at `now_in_seconds()`, delegated admin relationships expire against it, claims
ripen against it, and the models' creation times default to it. Time-driven changes (resolvers.sweep) happen
because this clock passed an instant, so a test moves it (`moved_to`) instead of waiting 30 days; production never
replaces it. Token validation keeps its own clock (the issuer's `exp` is about real time, not the data's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

Source = Callable[[], datetime]


def _system() -> datetime:
    return datetime.now(UTC)


_source: Source = _system


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _source()


def now_in_seconds() -> datetime:
    """The current instant at the precision of association intervals (whole seconds)."""
    return _source().replace(microsecond=0)


@contextmanager
def moved_to(source: Source) -> Iterator[None]:
    """Within the block, `now()` is `source()` (tests: a fixed or advancing instant); the system clock after."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
