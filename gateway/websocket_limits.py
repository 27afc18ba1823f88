"""How many websockets one caller holds open (DPOR_MAX_WEBSOCKETS_PER_CALLER): counted in this process, or in
Redis across every gateway process when DPOR_REDIS_URL is set.

The caller is the rate limit's (schema.extensions.rate_limit.bucket_key: the token's subject and client), known
once `connection_init` validated its token; one connection over the limit is closed with 4429.

In Redis each caller has a sorted set of its open connections, each scored with the instant its lease ends;
a process renews its connections' leases every third of LEASE_SECONDS, and a count first drops the expired
ones. So a process that dies without closing its sockets holds their places for LEASE_SECONDS at most, not
forever. Counting and adding are one Lua script (atomic: two processes cannot both take the last place), timed
by the Redis server's clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress
from typing import Any, Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

KEY_PREFIX = "dpor:websockets:"
LEASE_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 1.0

OPEN = """
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000))
return 1
"""
RENEW = """
local lease = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
for index, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[index + 1])
  redis.call('PEXPIRE', key, math.ceil(lease * 1000))
end
return #KEYS
"""


class WebsocketCount(Protocol):
    limit: int

    async def open(self, caller: str) -> str | None:
        """A place for one more connection of `caller` (its id), or None when it holds the limit already."""

    async def close(self, caller: str, place: str) -> None: ...

    async def aclose(self) -> None: ...


class LocalWebsocketCount:
    """This process's connections only: with `serve --workers N`, a caller may hold N times the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, set[str]] = {}

    async def open(self, caller: str) -> str | None:
        places = self._open.setdefault(caller, set())
        if len(places) >= self.limit:
            return None
        place = uuid.uuid4().hex
        places.add(place)
        return place

    async def close(self, caller: str, place: str) -> None:
        places = self._open.get(caller)
        if places is not None:
            places.discard(place)
            if not places:
                del self._open[caller]

    async def aclose(self) -> None:
        self._open.clear()


class RedisWebsocketCount:
    """Every process's connections, in Redis."""

    def __init__(self, limit: int, url: str, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.limit = limit
        self.url = url
        self.lease_seconds = lease_seconds
        self._client: aioredis.Redis | None = None
        self._scripts: tuple[Any, Any] | None = None
        self._held: dict[str, str] = {}  # place -> caller, this process's open connections
        self._renewing: asyncio.Task[None] | None = None

    def _connected(self) -> tuple[Any, Any]:
        if self._scripts is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            self._scripts = (self._client.register_script(OPEN), self._client.register_script(RENEW))
        return self._scripts

    async def open(self, caller: str) -> str | None:
        opening, _renew = self._connected()
        place = uuid.uuid4().hex
        if not await opening(keys=[KEY_PREFIX + caller], args=[self.limit, self.lease_seconds, place]):
            return None
        self._held[place] = caller
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_every(), name="dpor-websocket-leases")
        return place

    async def close(self, caller: str, place: str) -> None:
        self._held.pop(place, None)
        if self._client is not None:
            try:
                await self._client.zrem(KEY_PREFIX + caller, place)
            except (OSError, aioredis.RedisError) as error:  # its lease runs out instead
                log.warning("websocket count: could not free a place in Redis (%s)", error)

    async def _renew_every(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            held = list(self._held.items())
            if not held:
                return
            _open, renewing = self._connected()
            try:
                await renewing(
                    keys=[KEY_PREFIX + caller for _place, caller in held],
                    args=[self.lease_seconds, *(place for place, _caller in held)],
                )
            except (OSError, aioredis.RedisError) as error:
                log.warning("websocket count: could not renew leases in Redis (%s)", error)

    async def aclose(self) -> None:
        task, self._renewing = self._renewing, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        client, self._client, self._scripts = self._client, None, None
        if client is not None:
            await client.aclose()


def websocket_count(limit: int, redis_url: str | None) -> WebsocketCount:
    return RedisWebsocketCount(limit, redis_url) if redis_url else LocalWebsocketCount(limit)
