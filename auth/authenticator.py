"""One request's Authorization header in, a Principal (or the RFC 6750 error to answer with) out.

This is where the configuration chooses the trust anchor: in production only the configured issuer's key set
(AuthConfig.jwks_url or jwks_file: DPOR_OAUTH_JWKS_URL or DPOR_OAUTH_JWKS_FILE); in dev, when neither is set, the
local dev signing key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from joserfc.jwk import KeySet

from auth import dev_keys
from auth.claims import ScopeRoles, principal_from_claims
from auth.config import AuthConfig, AuthConfigError
from auth.jwks import KeySetError, KeySource, RemoteKeySet, StaticKeySet
from auth.principal import Principal
from auth.rfc6750 import token_from_authorization
from auth.rfc9068 import AccessTokenValidator, key_id

# Clients reuse a token for many requests. Parsing and checking one costs about 250 us, of which the RSA
# signature is only 40; a token already verified is recognised by its exact bytes instead.
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed every check. It stands only while the key set that verified it is the current one
    (a refresh, which may have withdrawn the key, makes a new set) and until ``exp`` plus the leeway."""

    principal: Principal
    kid: str
    key_set: KeySet
    valid_until: float


class Authenticator:
    def __init__(self, validator: AccessTokenValidator, scope_roles: ScopeRoles) -> None:
        self.validator = validator
        self.scope_roles = scope_roles
        self._verified: dict[str, _Verified] = {}

    @property
    def realm(self) -> str:
        return str(self.validator.realm)

    @property
    def keys(self) -> KeySource:
        return self.validator.keys

    @classmethod
    def from_config(
        cls,
        config: AuthConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Authenticator:
        """Raises AuthConfigError (naming the field) when the key source cannot be used."""
        keys: KeySource
        if config.jwks_url is not None:
            keys = RemoteKeySet(config.jwks_url, transport=transport, clock=clock)
        elif config.jwks_file is not None:
            try:
                keys = StaticKeySet.from_file(config.jwks_file)
            except KeySetError as error:
                raise AuthConfigError(str(error), "jwks_file") from None
        elif config.production:  # settings validation already refuses this; never fall back to dev keys
            raise AuthConfigError("a key set is required in production", "jwks_url")
        else:
            keys = StaticKeySet(dev_keys.public_key_set(config))
        validator = AccessTokenValidator(
            dev_keys.issuer_of(config),
            dev_keys.audience_of(config),
            keys,
            leeway=config.clock_skew_seconds,
            realm=config.realm,
            max_lifetime=config.max_token_lifetime_seconds,
        )
        return cls(validator, ScopeRoles.from_config(config))

    async def authenticate(self, authorization: list[str]) -> Principal:
        """Raises MissingCredentialsError, InvalidTokenError or InsufficientScopeError (auth.rfc6750)."""
        return (await self.authenticate_until(authorization))[0]

    async def authenticate_until(self, authorization: list[str]) -> tuple[Principal, float]:
        """`authenticate`, and the instant (epoch seconds) after which the same token is refused: `exp` plus the
        leeway (a long-lived connection, a subscription's websocket, ends then)."""
        token = token_from_authorization(authorization)
        seen = self._verified.get(token)
        if seen is not None:
            await self.keys.prepare(seen.kid)  # keeps the key set fresh even when every request is a hit
            if seen.key_set is self.keys.key_set and time.time() < seen.valid_until:
                return seen.principal, seen.valid_until
        kid = key_id(token)
        await self.keys.prepare(kid)
        key_set = self.keys.key_set
        claims = self.validator.authenticate_token(token)
        self.validator.validate_token(claims, None, None)
        principal = principal_from_claims(claims, self.scope_roles)
        verified = _Verified(principal, kid, key_set, float(claims["exp"]) + self.validator.leeway)
        self._remember(token, verified)
        return principal, verified.valid_until

    def _remember(self, token: str, verified: _Verified) -> None:
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest entry: dicts keep insertion order
        self._verified[token] = verified

    async def aclose(self) -> None:
        if isinstance(self.keys, RemoteKeySet):
            await self.keys.aclose()
