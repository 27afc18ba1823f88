"""Token buckets of cost points, one per principal: in this process, or in Redis shared by all processes.

A bucket holds at most `capacity` points and refills continuously at `capacity / window` points per second. An
operation takes its estimated cost from its caller's bucket; if the bucket holds less, nothing is taken and
the caller learns how long until it would hold enough (`retry_after`). A negative cost gives points back, never
above capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resolvers.rate_limiter import RateLimiter

if TYPE_CHECKING:
    from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: int
    window_seconds: float

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.window_seconds


def for_settings(settings: Settings) -> RateLimiter | None:
    """The application's limiter (None when rate limiting is off). The app owns it: created with the app,
    closed with its lifespan, handed to the rate-limit extension in each request's context (RequestContext)."""
    if not settings.rate_limit_enabled:
        return None
    bucket = Bucket(capacity=settings.rate_limit_points, window_seconds=settings.rate_limit_window_seconds)
    return create_rate_limiter(bucket, settings.redis_url)


def invitation_codes_for_settings(settings: Settings) -> RateLimiter | None:
    """The limiter of failed DPOR invitation code lookups (resolvers/invitations/codes.py): a bucket of its own,
    `invitation_code_failures` per `invitation_code_window_seconds`, kept where the cost budget is kept (its keys
    are prefixed apart). Off when rate limiting is off, as the fuzz and load tests need."""
    if not settings.rate_limit_enabled:
        return None
    bucket = Bucket(capacity=settings.invitation_code_failures, window_seconds=settings.invitation_code_window_seconds)
    return create_rate_limiter(bucket, settings.redis_url)


def create_rate_limiter(bucket: Bucket, redis_url: str | None) -> RateLimiter:
    if redis_url:
        from gateway.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(bucket, redis_url)
    from gateway.ratelimit.memory import MemoryRateLimiter

    return MemoryRateLimiter(bucket)
