"""Real access tokens for the benchmark: a signing key the harness makes, a JWKS file the gateway trusts.

The gateway runs with DPOR_ENV=production and DPOR_OAUTH_JWKS_FILE, so every request goes through the same
RFC 9068 validation as in production. Signing reuses auth.dev_keys.mint_dev_token with a configuration that points
its key directory at the harness's own directory and name the benchmark issuer and audience: the key is generated
there on first use (mode 0600) and is never the developer's dev key.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from auth import dev_keys
from auth.config import AuthConfig
from auth.principal import Role
from gateway.settings import Settings
from gateway.wiring import auth_config

ISSUER = "https://issuer.bench.dpor-gateway.invalid/"
AUDIENCE = "dpor-gateway-bench"
# Long enough for the longest run; the gateway checks exp like any other claim.
TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class TokenIssuer:
    directory: Path

    @property
    def _config(self) -> AuthConfig:
        # A dev-mode configuration only to drive the signing helper; the gateway itself runs in production.
        settings = Settings(
            env="dev", var_dir=self.directory, oauth_issuer=ISSUER, oauth_audience=AUDIENCE, _env_file=None
        )  # type: ignore[call-arg]
        return auth_config(settings)

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    def write_jwks(self) -> Path:
        """Write the public half of the signing key (made now if absent) as a JWK Set (RFC 7517 section 5)."""
        key_set = dev_keys.public_key_set(self._config)
        self.jwks_path.write_text(json.dumps(key_set.as_dict()), encoding="utf-8")
        return self.jwks_path

    def owner(self, tenant_external_id: uuid.UUID) -> str:
        return dev_keys.mint_dev_token(
            self._config,
            roles=[Role.OWNER],
            tenant=tenant_external_id,
            subject=f"bench-owner-{tenant_external_id}",
            client_id="dpor-bench",
            ttl=TTL_SECONDS,
        )

    def partner(self, mpn_id: str) -> str:
        return dev_keys.mint_dev_token(
            self._config,
            roles=[Role.PARTNER],
            partner=mpn_id,
            subject=f"bench-partner-{mpn_id}",
            client_id="dpor-bench",
            ttl=TTL_SECONDS,
        )

    def usage_ingest(self) -> str:
        return dev_keys.mint_dev_token(
            self._config, roles=[Role.USAGE_INGEST], subject="bench-ingest", client_id="dpor-bench", ttl=TTL_SECONDS
        )
