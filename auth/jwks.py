"""The issuer's JSON Web Key Set, :rfc:`7517#section-5`: loaded once from a file, or fetched and cached.

Validation is on every request's path, so a known ``kid`` costs a dictionary lookup and no I/O. The remote set
is refetched when it is older than its lifetime, or once when a token names a ``kid`` it lacks (the issuer
rotated, :rfc:`7517#section-5` and OpenID Connect Core section 10.1.1), but never more often than the
cooldown allows: a flood of tokens with made-up ``kid`` values costs the issuer one request per cooldown.
When the issuer cannot be reached, the keys already known stay in use: an outage of the issuer never
becomes an outage (or a 5xx) of the gateway, only the inability to learn new keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, import_key

logger = logging.getLogger(__name__)

LIFETIME_SECONDS = 300.0
COOLDOWN_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0
# A key set is a few KiB; a response far larger is a mistake or an attack, never a key set.
MAX_RESPONSE_BYTES = 512 * 1024
# The key types our algorithms (auth.rfc9068.ALGORITHMS) verify with. A symmetric ("oct") key published in a
# key set is refused outright: it could only ever serve an HMAC algorithm, which we never accept.
_KEY_TYPES = frozenset({"RSA", "EC"})


class KeySetError(Exception):
    """A key set could not be read or holds no usable key."""


class KeySource(Protocol):
    """Where the validator finds keys: ``key_set`` is read synchronously on the hot path; ``prepare`` runs
    before it, and is where a source may fetch."""

    @property
    def key_set(self) -> KeySet: ...

    async def prepare(self, kid: str) -> None: ...


def public_signing_keys(document: object) -> KeySet:
    """The usable keys of a JWK Set document.

    Section 5: a member that cannot be understood is ignored rather than voiding the set. A key without
    ``kid`` is ignored too (tokens must name their key, auth.rfc9068), as are keys meant for encryption
    (section 4.2 ``use``) and private key material, which has no business in a published set.
    """
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise KeySetError("not a JWK Set: no 'keys' array")
    usable: list[Key] = []
    for member in keys:
        key = _public_signing_key(member)
        if key is not None:
            usable.append(key)
    if not usable:
        raise KeySetError("no usable signing key")
    return KeySet(usable)


def _public_signing_key(member: object) -> Key | None:
    if not isinstance(member, Mapping) or not isinstance(member.get("kid"), str) or not member["kid"]:
        return None
    if member.get("kty") not in _KEY_TYPES or member.get("use", "sig") != "sig" or "d" in member:
        return None
    try:
        return import_key(dict(member))
    except (JoseError, ValueError, TypeError):
        return None


class StaticKeySet:
    """A key set that never changes while the process runs: a file, or the dev signing key."""

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = key_set

    @classmethod
    def from_file(cls, path: Path) -> StaticKeySet:
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as error:
            raise KeySetError(f"cannot read {path}: {error.__class__.__name__}") from None
        return cls(public_signing_keys(document))

    @property
    def key_set(self) -> KeySet:
        return self._key_set

    async def prepare(self, kid: str) -> None:
        return None


class RemoteKeySet:
    """The key set at an issuer's ``jwks_uri`` (RFC 8414 section 2), cached.

    Redirects are not followed and nothing but this URL is ever fetched (never a token's ``jku`` or
    ``x5u``, RFC 8725 section 3.10).
    """

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        lifetime: float = LIFETIME_SECONDS,
        cooldown: float = COOLDOWN_SECONDS,
    ) -> None:
        self.url = url
        self.clock = clock
        self.lifetime = lifetime
        self.cooldown = cooldown
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._key_set = KeySet([])
        self._kids: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def key_set(self) -> KeySet:
        return self._key_set

    async def prepare(self, kid: str) -> None:
        """Make sure the keys are as fresh as the rules allow before a token naming ``kid`` is verified."""
        if kid in self._kids and not self._expired():
            return  # the hot path: no lock, no I/O
        if kid in self._kids and self._lock.locked():
            return  # another request is already refreshing; the cached key still verifies this token
        async with self._lock:
            # Re-check: the request that held the lock may just have fetched what this one needs.
            if kid in self._kids and not self._expired():
                return
            if self._attempted_at is not None and self.clock() - self._attempted_at < self.cooldown:
                return
            await self._refresh()

    def _expired(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.lifetime

    async def _refresh(self) -> None:
        self._attempted_at = self.clock()
        try:
            key_set = public_signing_keys(await self._fetch())
        except (httpx.HTTPError, KeySetError, ValueError, RecursionError) as error:
            # Keep the keys we have: a token signed with one of them is still genuine. (ValueError covers
            # a body that is not JSON; RecursionError, JSON nested beyond the parser's limit.)
            logger.warning(
                "JWKS refresh from %s failed, keeping %d known keys: %s",
                self.url,
                len(self._kids),
                error.__class__.__name__,
            )
            return
        self._key_set = key_set
        self._kids = frozenset(_kids(key_set.keys))
        self._fetched_at = self._attempted_at

    async def _fetch(self) -> Any:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False
            )
        async with self._client.stream("GET", self.url, headers={"accept": "application/json"}) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise KeySetError("response too large")
        return json.loads(body)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _kids(keys: Iterable[Any]) -> Iterable[str]:
    return (str(key.kid) for key in keys)


__all__ = ["KeySetError", "KeySource", "RemoteKeySet", "StaticKeySet", "public_signing_keys"]
