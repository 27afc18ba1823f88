"""What auth/ needs to know of the deployment: the token issuer and its keys, the scope names, the dev key's home.

gateway/wiring.py builds it from the settings; nothing in auth/ reads `Settings`. A configuration auth/ cannot use
raises AuthConfigError naming the field at fault, which the wiring reports as the setting to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auth.principal import Role


@dataclass(frozen=True, slots=True)
class AuthConfig:
    # In production only the configured issuer's key set is trusted, never the dev key.
    production: bool
    # None in dev: the dev issuer and audience (auth.dev_keys).
    issuer: str | None
    audience: str | None
    # The issuer's key set, fetched (RFC 8414 `jwks_uri`) or read from a file; neither in dev: the dev key.
    jwks_url: str | None
    jwks_file: Path | None
    clock_skew_seconds: int
    # Longest accepted `exp` - `iat` (0: no maximum).
    max_token_lifetime_seconds: int
    # RFC 6750 section 3: the realm named in WWW-Authenticate challenges.
    realm: str
    # The scope (RFC 6749 section 3.3 scope-token) that grants each role.
    scope_names: Mapping[Role, str]
    # Where the dev signing key is kept (git-ignored).
    dev_key_dir: Path


class AuthConfigError(Exception):
    """The configuration cannot be used; `field` names the AuthConfig field at fault (None: no one field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
