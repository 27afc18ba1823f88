"""Bearer token usage, :rfc:`6750`: reading the token from a request and answering with a challenge.

Only the Authorization request header field (section 2.1) is accepted. Tokens in a form body (section 2.2) or
in the URI query (section 2.3, which "SHOULD NOT" be used: URIs end up in logs) are ignored, so such a
request counts as carrying no credentials.
"""

from __future__ import annotations

import re

from authlib.oauth2.base import OAuth2Error  # type: ignore[import-untyped]
from authlib.oauth2.rfc6750.errors import (  # type: ignore[import-untyped]
    InsufficientScopeError,
    InvalidTokenError,
)

__all__ = [
    "InsufficientScopeError",
    "InvalidTokenError",
    "MissingCredentialsError",
    "challenge",
    "token_from_authorization",
]

# Section 2.1: credentials = "Bearer" 1*SP b64token
#              b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
# A JWT access token takes a few hundred bytes to a few KiB: anything far larger is not worth parsing.
MAX_TOKEN_LENGTH = 8192


class MissingCredentialsError(OAuth2Error):  # type: ignore[misc]
    """The request carries no bearer credentials at all.

    :rfc:`6750#section-3.1`: "If the request lacks any authentication information (e.g., the client was
    unaware that authentication is necessary or attempted using an unsupported authentication method), the
    resource server SHOULD NOT include an error code or other error information." Authlib's own
    ``MissingAuthorizationError`` answers with a non-standard ``missing_authorization`` code instead.
    """

    error = None
    status_code = 401


def token_from_authorization(values: list[str]) -> str:
    """The bearer token of a request, given its Authorization header values.

    Raises MissingCredentialsError when there is no Authorization header or it names another scheme, and
    InvalidTokenError when the header is a malformed Bearer credential or is repeated (which of two
    credentials would be meant is ambiguous, so neither is used).
    """
    if not values:
        raise MissingCredentialsError(description="no Authorization header")
    if len(values) > 1:
        raise InvalidTokenError(description=f"{len(values)} Authorization headers")
    value = values[0].strip()
    # Section 2.1 and RFC 9110 section 11.1: the auth-scheme is matched case-insensitively.
    if value[:7].lower() != "bearer " and value.lower() != "bearer":
        raise MissingCredentialsError(description="the Authorization header names another scheme than Bearer")
    match = _BEARER.fullmatch(value)
    if match is None:
        raise InvalidTokenError(description="a malformed Bearer credential")
    if len(match.group(1)) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError(description=f"a token longer than {MAX_TOKEN_LENGTH} characters")
    return match.group(1)


def challenge(realm: str, error: OAuth2Error) -> str:
    """The ``WWW-Authenticate`` value for a failed request, :rfc:`6750#section-3`.

    It names the realm and the error code only: no ``error_description``, so a caller probing with forged
    tokens learns nothing about which check failed. (The errors' descriptions are for our log only.)
    """
    parameters = [f'realm="{realm}"']
    if error.error:
        parameters.append(f'error="{error.error}"')
    return "Bearer " + ", ".join(parameters)
