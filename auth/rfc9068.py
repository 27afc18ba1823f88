"""JWT profile for OAuth 2.0 access tokens, :rfc:`9068`, validated as :rfc:`8725` (JWT best practices) asks.

Authlib's ``JWTBearerTokenValidator`` is the base. Out of the box it falls short in ways this subclass closes:

- it accepts a token without a ``typ`` header (section 4 and RFC 8725 section 3.11 ask for explicit typing);
- it checks time claims with no leeway, so an issuer clock a second ahead fails every token;
- it leaves the algorithm allow-list to joserfc's defaults (RFC 8725 section 3.1 asks for an explicit one);
- it accepts a token without ``kid`` while the key set has one key, and refuses it once the issuer publishes a
  second during a rotation: we require ``kid`` so behaviour does not depend on the size of the key set.

Keys come only from the configured key set (auth.jwks). The ``jku``, ``x5u``, ``x5c`` and ``jwk`` header
parameters are never used to find a key: a token cannot name the key that verifies it (RFC 8725 section 3.10).
"""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenValidator  # type: ignore[import-untyped]
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64decode

from auth.jwks import KeySource
from auth.rfc6750 import InsufficientScopeError, InvalidTokenError

# RFC 8725 section 3.1: the algorithms we accept, named, never taken from the token. No "none"; no HMAC, so a
# public key can never be used as an HMAC secret (section 2.1); RSA and ECDSA as issuers commonly sign.
ALGORITHMS = ("RS256", "PS256", "ES256")
# Section 4 step 1 (and RFC 8725 section 3.11): "application/" may be omitted, and media types compare
# case-insensitively (RFC 7515 section 4.1.9).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})

# RFC 7515 section 4: header parameters we do not understand are ignored (not refused) unless listed in
# "crit", which joserfc still enforces.
_REGISTRY = JWSRegistry(algorithms=ALGORITHMS, strict_check_header=False)
# The token is the caller's input, parsed by a library that in places assumes well-typed headers (a "crit"
# that is not a list raises TypeError; deeply nested JSON, RecursionError). Whatever it trips over is a
# malformed token: 401, never a 500.
_MALFORMED = (JoseError, ValueError, TypeError, KeyError, AttributeError, RecursionError)


def key_id(token: str) -> str:
    """The ``kid`` of a compact JWS, read before the signature is checked, to find (or fetch) the key.

    Nothing else from the unverified header is trusted. A token without a string ``kid`` is refused here.
    """
    encoded_header = token.split(".", 1)[0]
    if len(encoded_header) > _REGISTRY.max_header_length * 4 // 3 + 4:
        raise InvalidTokenError(description="an oversized JOSE header")
    try:
        header = json.loads(urlsafe_b64decode(encoded_header.encode("ascii")))
    except (ValueError, UnicodeError, RecursionError) as error:
        raise InvalidTokenError(description="a JOSE header that is not JSON") from error
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(kid, str) or not kid:
        raise InvalidTokenError(description="no kid in the JOSE header")
    return kid


class AccessTokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    """Validates a JWT access token as :rfc:`9068#section-4` describes, against one issuer's key set."""

    def __init__(
        self, issuer: str, audience: str, keys: KeySource, *, leeway: int, realm: str, max_lifetime: int = 0
    ) -> None:
        super().__init__(issuer, audience, realm=realm)
        self.keys = keys
        # Seconds from "iat" to "exp" beyond which a token is refused (0: no maximum). A signing key that leaks,
        # or an issuer misconfigured, must not mint tokens that stay valid for a century.
        self.max_lifetime = max_lifetime
        # RFC 7519 sections 4.1.4 and 4.1.5: implementers "MAY provide for some small leeway, usually no more
        # than a few minutes, to account for clock skew".
        self.leeway = leeway

    def get_jwks(self) -> KeySet:
        return self.keys.key_set

    def _key_set_for(self, token: Any) -> KeySet:
        # RFC 7515 section 4.1.4: the key is chosen by "kid" among the issuer's keys, and only there.
        kid = token.headers().get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidKeyIdError()
        return self.get_jwks()

    def authenticate_token(self, token_string: str) -> JWTAccessTokenClaims:
        """Verify the signature (section 4 step 4) with an explicit algorithm allow-list; claims come next."""
        try:
            token = jwt.decode(token_string, key=self._key_set_for, registry=_REGISTRY)
        except _MALFORMED as error:
            raise InvalidTokenError(realm=self.realm, description=f"signature: {_reason(error)}") from error
        return JWTAccessTokenClaims(token.claims, token.header, self._claims_options())

    def _claims_options(self) -> dict[str, Any]:
        # Section 2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED. Built per token: Authlib pops
        # the "validate" hooks out of the options it is given.
        return {
            # Section 4 step 3: "MUST exactly match the value of the iss claim".
            "iss": {"essential": True, "validate": self.validate_iss},
            "exp": {"essential": True},
            # Section 4 step 4: "aud" MUST contain the identifier the resource server expects for itself.
            "aud": {"essential": True, "value": self.resource_server},
            "sub": {"essential": True},
            "client_id": {"essential": True},
            "iat": {"essential": True},
            "jti": {"essential": True},
        }

    def validate_token(
        self,
        token: JWTAccessTokenClaims,
        scopes: list[str] | None,
        request: object,
        groups: object = None,
        roles: object = None,
        entitlements: object = None,
    ) -> None:
        """Section 4 steps 1, 5 and 6: the type, then the time and identity claims, then the scope."""
        typ = token.header.get("typ")
        # Section 4 step 1: "reject tokens with a typ header value other than at+jwt or application/at+jwt".
        # Authlib lets a token without "typ" through; RFC 8725 section 3.11 is why we do not: an ID token or
        # any other JWT signed by the same issuer must not pass as an access token.
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidTokenError(realm=self.realm, description=f"typ {typ!r} is not at+jwt")
        try:
            token.validate(leeway=self.leeway)
        except _MALFORMED as error:
            raise InvalidTokenError(realm=self.realm, description=f"claims: {_reason(error)}") from error
        if self.max_lifetime and not _lifetime_within(token, self.max_lifetime):
            raise InvalidTokenError(realm=self.realm, description=f"exp is more than {self.max_lifetime} s after iat")
        if self.scope_insufficient(token.get("scope"), scopes):
            raise InsufficientScopeError()


def _lifetime_within(token: JWTAccessTokenClaims, max_lifetime: int) -> bool:
    """Whether ``exp`` is at most ``max_lifetime`` seconds after ``iat``. Both are REQUIRED (section 2.2) and
    already checked to be numbers; a token without ``iat`` never gets here. The lifetime is measured between
    the token's own claims, so no clock skew enters it."""
    issued, expires = token.get("iat"), token.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        return False
    return bool(expires - issued <= max_lifetime)


def _reason(error: BaseException) -> str:
    """For the log: which check failed (joserfc's errors say it in a few words), never the token itself."""
    if isinstance(error, JoseError):
        return f"{error.error}: {error.description}" if error.description else str(error.error)
    return type(error).__name__
