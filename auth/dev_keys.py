"""The dev issuer: a local signing key, made on first start, that only a DPOR_ENV=dev gateway trusts.

It lets the embedded default (`make run`) and the tests use real, signed RFC 9068 tokens through the same
validation path as production. The private key lives in ``AuthConfig.dev_key_dir`` (git-ignored), mode 0600. A
production gateway never reads it (auth.authenticator chooses the key source).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from auth.claims import ScopeRoles
from auth.config import AuthConfig, AuthConfigError
from auth.principal import Role

DEV_ISSUER = "https://dev.dpor-gateway.local/"
DEV_AUDIENCE = "dpor-gateway"
DEV_CLIENT_ID = "dpor-gateway-dev"
KEY_FILE_NAME = "dev-signing-key.json"
ALGORITHM = "RS256"  # RSA verification is the cheapest of our allowed algorithms on the request path

# Importing an RSA private key checks its consistency, about 100 ms: tests mint hundreds of tokens, so the
# parsed key is kept per file, and read again only when the file changes (inode or mtime).
_loaded: dict[Path, tuple[tuple[int, int], RSAKey]] = {}


def issuer_of(config: AuthConfig) -> str:
    return config.issuer or DEV_ISSUER


def audience_of(config: AuthConfig) -> str:
    return config.audience or DEV_AUDIENCE


def key_path(config: AuthConfig) -> Path:
    return config.dev_key_dir / KEY_FILE_NAME


def signing_key(config: AuthConfig) -> RSAKey:
    """The dev private key, created on first use. Safe when several workers start at once: the key is written
    to a private temporary file and linked into place, so exactly one creation wins and all read it."""
    if config.production:
        raise AuthConfigError("the dev signing key is never used in production")
    path = key_path(config)
    if not path.exists():
        _create(path)
    status = path.stat()
    mode = status.st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthConfigError(f"dev signing key {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    version = (status.st_ino, status.st_mtime_ns)
    loaded = _loaded.get(path)
    if loaded is not None and loaded[0] == version:
        return loaded[1]
    key = RSAKey.import_key(json.loads(path.read_bytes()))
    if not key.is_private or not key.kid:
        raise AuthConfigError(f"dev signing key {path} is not a private RSA JWK with a kid; delete it to recreate")
    _loaded[path] = (version, key)
    return key


def public_key_set(config: AuthConfig) -> KeySet:
    return KeySet([RSAKey.import_key(signing_key(config).as_dict(private=False))])


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(key.as_dict(private=True), file)
        # If another process linked its key first, use theirs.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink()


def mint_dev_token(
    config: AuthConfig,
    *,
    roles: Iterable[Role] = (),
    tenant: uuid.UUID | str | None = None,
    partner: str | None = None,
    scopes: Iterable[str] = (),
    ttl: int = 3600,
    subject: str = "dev-user",
    client_id: str = DEV_CLIENT_ID,
    now: int | None = None,
) -> str:
    """A JWT access token (RFC 9068 section 2) signed with the dev key, granting ``roles`` through their
    configured scopes plus any raw ``scopes``. ``tenant`` becomes ``tid``, ``partner`` becomes ``partner_id``.

    Nothing is checked beyond what signing needs: tests use this to make tokens the gateway must refuse too.
    """
    key = signing_key(config)
    scope_roles = ScopeRoles.from_config(config)
    granted = [scope_roles.scope_of(role) for role in roles] + list(scopes)
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, object] = {
        "iss": issuer_of(config),
        "aud": audience_of(config),
        "sub": subject,
        "client_id": client_id,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(dict.fromkeys(granted)),
    }
    if tenant is not None:
        claims["tid"] = str(tenant)
    if partner is not None:
        claims["partner_id"] = partner
    # RFC 9068 section 2.1: "typ" is "at+jwt"; "kid" names the key in the set (RFC 7515 section 4.1.4).
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": str(key.kid)}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])
