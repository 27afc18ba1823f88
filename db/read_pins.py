"""Read-your-writes for read replicas (db/replicas.py): a caller who just wrote reads the primary for a while.

A replica replays the primary's changes a little later; a caller who changed something and reads it back at once
must not be shown the state before its own change. So a write pins its caller (the token's subject) to the
primary for `seconds`, a window longer than the lag a replica may have and still serve reads (the settings check
that, gateway/settings.py). Pins live in this process, and in Redis as well when one is configured, so that a
caller whose next request reaches another gateway process is pinned there too. Redis keys expire by themselves
(PX); a Redis that cannot be asked counts as "pinned": the primary is always a correct answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis

logger = logging.getLogger("dpor.replicas")

KEY_PREFIX = "dpor:read-pin:"
REDIS_TIMEOUT_SECONDS = 0.5
# In-process pins are pruned of expired ones when there are more than this many.
PRUNE_ABOVE = 10_000


class ReadPins:
    """Who wrote within the last `seconds`: in this process, and in Redis when `redis_url` is given."""

    def __init__(
        self, seconds: float, *, redis_url: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until: dict[str, float] = {}
        self._redis_url = redis_url
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis | None:
        if self._redis_url is not None and self._client is None:
            self._client = aioredis.Redis.from_url(
                self._redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
        return self._client

    async def pin(self, caller: str) -> None:
        """After `caller`'s write committed."""
        if self.seconds <= 0:
            return
        now = self._clock()
        self._until[caller] = now + self.seconds
        if len(self._until) > PRUNE_ABOVE:
            self._until = {key: until for key, until in self._until.items() if until > now}
        client = self._redis()
        if client is not None:
            try:
                await client.set(KEY_PREFIX + caller, b"1", px=max(1, round(self.seconds * 1000)))
            except Exception as error:  # the write is committed; other processes may serve a stale read
                logger.warning("could not pin a writer in Redis (%s); other processes may read a replica", error)

    async def pinned(self, caller: str) -> bool:
        if self.seconds <= 0:
            return False
        if self._until.get(caller, 0.0) > self._clock():
            return True
        client = self._redis()
        if client is None:
            return False
        try:
            return bool(await client.exists(KEY_PREFIX + caller))
        except Exception as error:  # unknown: the primary is the answer that cannot be stale
            logger.warning("could not ask Redis for read pins (%s); reading the primary", error)
            return True

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
