"""Invitation codes: unguessable, shown once, stored only as a hash, and guessing them is rate limited.

A code is 256 random bits (`secrets.token_urlsafe(32)`) behind a short prefix that secret scanners can match. The
database keeps its SHA-256 (hex), and every lookup goes through that hash's unique index: a guess costs the same
whatever it resembles, and nothing in the table redeems anything.

Every answer to a code that redeems nothing (unknown, expired, revoked, used up) is one failed lookup for the
caller (its token subject), taken from a token bucket of `DPOR_INVITATION_CODE_FAILURES` per
`DPOR_INVITATION_CODE_WINDOW_SECONDS` through the project's rate limiter (resolvers/rate_limiter.py, in process or
Redis). Once the bucket cannot cover one more failure, every code lookup of that caller, a valid code's too, is
RATE_LIMITED before anything is looked up: an answer that differed for a valid code would keep the guessing going.

A lookup takes its point before it looks and gives it back when the code was good: checking the bucket first and
charging it after the miss let every lookup running at once pass the check (ten aliases of one document, and
documents in parallel: 50 guesses answered through a budget of 10). Holding the point while looking, no more
lookups can fail than the bucket holds. Successful lookups cost nothing once done, so an owner previewing and
accepting is never slowed down.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from resolvers.context import RequestContext
from resolvers.errors import RateLimited
from resolvers.rate_limiter import RateLimiter

CODE_PREFIX = "dporinv_"
CODE_BYTES = 32  # 256 bits; the issue asks for at least 128


def new_code() -> str:
    return CODE_PREFIX + secrets.token_urlsafe(CODE_BYTES)


def code_hash(code: str) -> str:
    """The stored form of a code. Any string hashes (a lone surrogate too): a malformed code is simply unknown."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class CodeGuard:
    """One operation's guard over its code lookup: `async with guard.admitted():` around the lookup, `failed()`
    when the code redeems nothing. Without a limiter (rate limiting off) it admits everything."""

    limiter: RateLimiter | None
    key: str
    # A point taken by `admit` that goes back on `release` unless the lookup failed.
    _held: bool = False

    async def admit(self) -> None:
        """Takes this lookup's point, or RATE_LIMITED when the bucket cannot cover it (nothing is taken then)."""
        if self.limiter is None:
            return
        charged = await self.limiter.consume(self.key, 1)
        if not charged.allowed:
            retry_after = max(1, math.ceil(charged.retry_after))
            raise RateLimited(
                f"Too many invitation codes that redeem nothing; retry in {retry_after} s.", retryAfter=retry_after
            )
        self._held = True

    async def failed(self) -> None:
        """The code redeemed nothing: the point `admit` took stays spent."""
        self._held = False

    async def release(self) -> None:
        """The lookup is over without failing (the code was good, or the operation was refused for another
        reason): its point goes back."""
        if self._held and self.limiter is not None:
            self._held = False
            await self.limiter.consume(self.key, -1)

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        await self.admit()
        try:
            yield
        finally:
            await self.release()


def guard_for(context: RequestContext) -> CodeGuard:
    """The guard of one operation of this request's caller (keyed by token subject: one budget per user)."""
    subject = context.principal.subject if context.principal is not None else "-"
    return CodeGuard(context.invitation_code_limiter, f"invitation-code:{subject}")
