"""Start PostGraphile (server.js under Node) as a bench.server.Server, in either variant.

no_auth: connects as the benchmark's database user (the tables' owner, which row-level security does not restrict)
and ignores the Authorization header: the unsecured ceiling. jwt_rls: connects as the authenticator role,
verifies each request's RS256 token against the harness's JWKS file (issuer, audience, expiry) and runs it as
the RLS role with the token's claims in jwt.claims.*. Both run `workers` node:cluster processes with a pool of
`pool_size` connections each, like the gateway's workers and pools.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.postgraphile.database import authenticator_url
from bench.server import Server, free_port
from bench.tokens import AUDIENCE, ISSUER

SERVER_JS = Path(__file__).resolve().parent / "server.js"
NO_AUTH = "no_auth"
JWT_RLS = "jwt_rls"
VARIANTS = (NO_AUTH, JWT_RLS)
_READY = b"postgraphile worker ready"


class PostGraphileServer(Server):
    """A Server whose readiness and workers are node:cluster's, not uvicorn's."""

    def _all_workers_up(self) -> bool:
        return self.log_path.read_bytes().count(_READY) >= self.workers

    def worker_pids(self) -> list[int]:
        # The primary forks the workers and forwards connections to them; it runs no PostGraphile itself.
        primary, *workers = self.pids()
        return workers or [primary]


def server(
    variant: str,
    url: str,
    port: int,
    log: Path,
    *,
    install_dir: Path,
    jwks: Path | None = None,
    workers: int = 2,
    pool_size: int = 10,
    count_statements: bool = False,
) -> Server:
    """PostGraphile serving the benchmark database `url` (postgresql://, the superuser) in `variant` on `port`.

    jwt_rls needs `jwks`, the JWK Set whose key signs the tokens (bench.tokens.TokenIssuer.write_jwks).
    `count_statements` adds the x-dpor-sql-statements header (for checks, not for load)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown PostGraphile variant {variant!r} (one of {', '.join(VARIANTS)})")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (PostGraphile needs Node 20)")
    env = {
        "NODE_ENV": "production",
        "DPOR_BENCH_PG_DATABASE_URL": url if variant == NO_AUTH else authenticator_url(url),
        "DPOR_BENCH_PG_POOL_SIZE": str(pool_size),
        "DPOR_BENCH_PG_COUNT_STATEMENTS": "1" if count_statements else "0",
    }
    if variant == JWT_RLS:
        if jwks is None:
            raise ValueError("the jwt_rls variant verifies tokens against a JWKS file: pass jwks")
        env |= {
            "DPOR_BENCH_PG_JWKS_FILE": str(jwks),
            "DPOR_BENCH_PG_ISSUER": ISSUER,
            "DPOR_BENCH_PG_AUDIENCE": AUDIENCE,
        }
    command = [
        node, str(SERVER_JS), "--install", str(install_dir), "--variant", variant,
        "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    return PostGraphileServer(f"postgraphile-{variant}", command, env, port, log)


@contextmanager
def running(
    url: str,
    work: Path,
    *,
    install_dir: Path,
    jwks: Path,
    variants: tuple[str, ...] = VARIANTS,
    workers: int = 2,
    pool_size: int = 10,
) -> Iterator[dict[str, Server]]:
    """Every variant started on a free port (logs in `work`), {variant: Server}; all stopped on leaving."""
    with ExitStack() as stack:
        started: dict[str, Server] = {}
        for variant in variants:
            measured = server(
                variant, url, free_port(), work / f"postgraphile-{variant}.log",
                install_dir=install_dir, jwks=jwks, workers=workers, pool_size=pool_size,
            )  # fmt: skip
            measured.start()
            stack.callback(measured.stop)
            started[variant] = measured
        yield started
