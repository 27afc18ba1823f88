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
        async with guard.admitted():
            await guard.failed()
    error = await _refused(CodeGuard(limiter, "invitation-code:alice"))
    assert error.extensions == {"code": "RATE_LIMITED", "retryAfter": 10}
    await CodeGuard(limiter, "invitation-code:bob").admit()  # per caller
    clock.now += 10
    await CodeGuard(limiter, "invitation-code:alice").admit()


async def test_successful_lookups_cost_nothing() -> None:
    limiter = MemoryRateLimiter(Bucket(capacity=1, window_seconds=3_600), clock=Clock())
    for _ in range(5):
        async with CodeGuard(limiter, "k").admitted():  # admitted, never failed
            pass
    assert (await limiter.consume("k", 0)).remaining == 1


async def test_a_lookup_holds_its_point_while_it_looks() -> None:
    """Lookups running at once each hold a point: with one point left, a second one is refused before it looks,
    even though the first has not failed yet (so no more lookups can fail than the bucket holds)."""
    limiter = MemoryRateLimiter(Bucket(capacity=1, window_seconds=3_600), clock=Clock())
    first = CodeGuard(limiter, "k")
    async with first.admitted():
        await _refused(CodeGuard(limiter, "k"))
        await first.failed()
    await _refused(CodeGuard(limiter, "k"))  # the failure kept it


async def test_a_point_given_back_never_overfills_the_bucket() -> None:
    """A point held across a refill goes back without lifting the bucket above its capacity."""
    clock = Clock()
    limiter = MemoryRateLimiter(Bucket(capacity=2, window_seconds=20), clock=clock)  # one point per 10 s
    guard = CodeGuard(limiter, "k")
    async with guard.admitted():
        clock.now += 60  # full again meanwhile
    assert (await limiter.consume("k", 0)).remaining == 2


async def test_no_limiter_admits_everything() -> None:
    guard = CodeGuard(None, "k")
    for _ in range(100):
        async with guard.admitted():
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
            async with guard.admitted():
                await guard.failed()
        error = await _refused(CodeGuard(second, key))
        assert error.extensions["retryAfter"] == pytest.approx(1_800, rel=0.01)  # one failure per 30 minutes
        # A good lookup's point goes back through the store, never above capacity.
        other = f"invitation-code:{uuid.uuid4().hex}"
        async with CodeGuard(first, other).admitted():
            assert (await second.consume(other, 0)).remaining == pytest.approx(1, abs=0.01)
        assert (await second.consume(other, 0)).remaining == pytest.approx(2, abs=0.01)
    finally:
        await first.close()
        if second is not first:
            await second.close()
