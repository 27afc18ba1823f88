"""The guard over DPOR invitation code lookups (resolvers/invitations/codes.py): failed lookups per caller from a
bucket of their own, in process and in Redis (when DPOR_TEST_REDIS_URL is set); the HTTP story is in
tests/graphql/test_dpor_invitations.py."""

from __future__ import annotations

import os
import uuid

import pytest

from gateway.ratelimit import Bucket, create_rate_limiter
from gateway.ratelimit.memory import MemoryRateLimiter
from resolvers.errors import RateLimited
from resolvers.invitations.codes import CodeGuard
from tests.extensions.test_rate_limit import REDIS_URL_VARIABLE, Clock, limiter_backends


async def _refused(guard: CodeGuard) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        await guard.admit()
    return refused.value


async def test_failures_spend_the_bucket_and_it_refills() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(Bucket(capacity=3, window_seconds=30), clock=clock)  # one failure per 10 s
    for _ in range(3):
        guard = CodeGuard(limiter, "invitation-code:alice")
        await guard.admit()
        await guard.failed()
    error = await _refused(CodeGuard(limiter, "invitation-code:alice"))
    assert error.extensions == {"code": "RATE_LIMITED", "retryAfter": 10}
    await CodeGuard(limiter, "invitation-code:bob").admit()  # per caller
    clock.now += 10
    await CodeGuard(limiter, "invitation-code:alice").admit()


async def test_successful_lookups_cost_nothing() -> None:
    limiter = MemoryRateLimiter(Bucket(capacity=1, window_seconds=3_600), clock=Clock())
    for _ in range(5):
        await CodeGuard(limiter, "k").admit()  # admitted, never failed
    assert (await limiter.consume("k", 0)).remaining == 1


async def test_a_point_that_refills_between_the_two_reads_is_not_taken_twice() -> None:
    class Ticking(Clock):
        """Five seconds pass at every read."""

        def __call__(self) -> float:
            self.now += 5
            return self.now

    clock = Ticking()
    limiter = MemoryRateLimiter(Bucket(capacity=1, window_seconds=10), clock=clock)  # 0.1 point per second
    limiter.states["k"] = (0.0, clock.now)  # empty
    guard = CodeGuard(limiter, "k")
    # The peek sees half a point; asked for one five seconds later, the bucket has it, and admit takes it ...
    await guard.admit()
    # ... so the failure takes no other (it would leave the half point of the next five seconds unspent).
    await guard.failed()
    assert limiter.states["k"][0] == pytest.approx(0.0)


async def test_no_limiter_admits_everything() -> None:
    guard = CodeGuard(None, "k")
    for _ in range(100):
        await guard.admit()
        await guard.failed()


@pytest.mark.parametrize("backend", limiter_backends())
async def test_the_bucket_is_shared_through_the_limiter_s_store(backend: str) -> None:
    """Two limiters standing for two gateway processes draw from one guess budget per caller."""
    bucket = Bucket(capacity=2, window_seconds=3_600)
    url = os.environ.get(REDIS_URL_VARIABLE) if backend == "redis" else None
    first = create_rate_limiter(bucket, url)
    second = first if url is None else create_rate_limiter(bucket, url)
    key = f"invitation-code:{uuid.uuid4().hex}"
    try:
        for limiter in (first, second):
            guard = CodeGuard(limiter, key)
            await guard.admit()
            await guard.failed()
        error = await _refused(CodeGuard(second, key))
        assert error.extensions["retryAfter"] == pytest.approx(1_800, rel=0.01)  # one failure per 30 minutes
        await CodeGuard(first, f"invitation-code:{uuid.uuid4().hex}").admit()
    finally:
        await first.close()
        if second is not first:
            await second.close()
