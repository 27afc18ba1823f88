"""The token bucket in Redis, so every gateway process draws from one budget per principal.

The read-refill-take-write cycle is one Lua script: Redis runs scripts atomically, so two processes taking
from the same bucket at the same moment cannot both spend the same points. Time comes from the Redis server
(TIME), not from each process, so processes whose clocks disagree still agree on the refill. Keys expire once
the bucket would be full again: an idle principal costs no memory.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from gateway.ratelimit import Bucket
from resolvers.rate_limiter import Decision

KEY_PREFIX = "dpor:ratelimit:"
REDIS_TIMEOUT_SECONDS = 1.0

TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'points', 'updated')
local points = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
points = math.min(capacity, points + math.max(0, now - updated) * rate)
local allowed = 0
if cost <= points then
  -- a negative cost gives points back, up to capacity
  points = math.min(capacity, points - cost)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'points', tostring(points), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - points) / rate * 1000) + 1000)
-- Lua numbers would be truncated to integers on the way out: return the points as a string.
return {allowed, tostring(points)}
"""


class RedisRateLimiter:
    def __init__(self, bucket: Bucket, url: str) -> None:
        self.bucket = bucket
        self.url = url
        self.client: aioredis.Redis | None = None
        self.script: Any = None

    def _connected(self) -> Any:
        # Created on first use, and again after `close()`: a schema cached across application lifespans keeps
        # its limiter, and each lifespan closes the connections it opened.
        if self.client is None:
            # Bounded waits: a Redis that stops answering must fail the request (INTERNAL), not hang it.
            self.client = aioredis.Redis.from_url(
                self.url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            self.script = self.client.register_script(TAKE)
        return self.script

    async def consume(self, key: str, cost: int) -> Decision:
        capacity, rate = self.bucket.capacity, self.bucket.refill_per_second
        allowed, points_text = await self._connected()(keys=[KEY_PREFIX + key], args=[capacity, repr(rate), cost])
        points = float(points_text)
        return Decision(
            allowed=bool(allowed),
            capacity=capacity,
            remaining=points,
            retry_after=0.0 if allowed else (cost - points) / rate,
            reset_after=(capacity - points) / rate,
        )

    async def close(self) -> None:
        client, self.client, self.script = self.client, None, None
        if client is not None:
            await client.aclose()
