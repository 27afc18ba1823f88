"""Invitation codes: unguessable, shown once, stored only as a hash, and guessing them is rate limited.

A code is 256 random bits (`secrets.token_urlsafe(32)`) behind a short prefix that secret scanners can match. The
database keeps its SHA-256 (hex), and every lookup goes through that hash's unique index: a guess costs the same
whatever it resembles, and nothing in the table redeems anything.

Every answer to a code that redeems nothing (unknown, expired, revoked, used up) is one failed lookup for the
caller (its token subject), taken from a token bucket of `DPOR_INVITATION_CODE_FAILURES` per
`DPOR_INVITATION_CODE_WINDOW_SECONDS` through the project's rate limiter (resolvers/rate_limiter.py, in process or
Redis). Once the bucket cannot cover one more failure, every code lookup of that caller, a valid code's too, is
RATE_LIMITED before anything is looked up: an answer that differed for a valid code would keep the guessing going.
Successful lookups cost nothing, so an owner previewing and accepting is never slowed down.
"""

from __future__ import annotations

import hashlib
import math
import secrets
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
    """One operation's guard over its code lookup: `admit()` before looking, `failed()` when the code redeems
    nothing. Without a limiter (rate limiting off) it admits everything."""

    limiter: RateLimiter | None
    key: str
    # Set when `admit` had to take this lookup's point already (the bucket refilled between its two calls).
    _prepaid: bool = False

    async def admit(self) -> None:
        if self.limiter is None:
            return
        budget = await self.limiter.consume(self.key, 0)
        if budget.remaining >= 1:
            return
        # Nothing left: ask for the point, which tells how long until it is there (and takes it if it just came).
        charged = await self.limiter.consume(self.key, 1)
        if charged.allowed:
            self._prepaid = True
            return
        retry_after = max(1, math.ceil(charged.retry_after))
        raise RateLimited(
            f"Too many invitation codes that redeem nothing; retry in {retry_after} s.", retryAfter=retry_after
        )

    async def failed(self) -> None:
        if self.limiter is not None and not self._prepaid:
            await self.limiter.consume(self.key, 1)


def guard_for(context: RequestContext) -> CodeGuard:
    """The guard of one operation of this request's caller (keyed by token subject: one budget per user)."""
    subject = context.principal.subject if context.principal is not None else "-"
    return CodeGuard(context.invitation_code_limiter, f"invitation-code:{subject}")
