"""The gateway behind PgBouncer in transaction mode (issue 16), with DPOR_DATABASE_PGBOUNCER=true.

Debian's pgbouncer (1.18, installed by tests/pgbouncer/install-pgbouncer.sh; the test skips with the script's
reason where it could not) keeps no prepared statements in transaction mode, and gives every transaction, or
statement outside one, whichever server connection is free. With two server connections for many clients, a
statement prepared on one and run on another, or a name prepared twice on one, fails at once; so the smoke paths
run here concurrently: the demo load (one large write transaction), interpreted reads, a mutation and a read of it,
and the compiled path (on a session, then on the driver pool, then through the fast lane). PgBouncer runs as the
`postgres` OS user when the tests run as root (it refuses root, like PostgreSQL; tests/clusters.py).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from auth.principal import Role
from db import migrations
from gateway import wiring
from gateway.app import create_app
from gateway.seed.demo import DEMO_OWNER_TENANT_EXTERNAL_ID, DEMO_PARTNER_MPN_ID, load_demo
from gateway.settings import load_settings
from tests import clusters, databases
from tests.api import _VAR_DIR, Api, principal

PGBOUNCER = next((path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(path).exists()), None)
MISSING = "pgbouncer is not installed (tests/pgbouncer/install-pgbouncer.sh says why)"

__test__ = "postgresql" in databases.backends()
pytestmark = [pytest.mark.postgres_only, pytest.mark.skipif(PGBOUNCER is None, reason=MISSING)]

OWNER = principal(Role.OWNER, tenant=DEMO_OWNER_TENANT_EXTERNAL_ID)
PARTNER = principal(Role.PARTNER, partner=DEMO_PARTNER_MPN_ID)
NODE = """query Node($id: ID!) {
  node(id: $id) { id ... on Subscription { displayName status digitalPartnerOfRecord { partner { name } } } }
}"""
COMPILED = "query Page { attributedSubscriptions(first: 5) { totalCount edges { node { id displayName } } } }"
TENANT = "{ viewer { tenant { displayName subscriptions(first: 3) { totalCount edges { node { id } } } } } }"
CREATE = """mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { endpoint { id url } }
}"""
LIST = "{ webhookEndpoints { id url } }"


@pytest.fixture(scope="module")
def bouncer_url() -> Iterator[str]:
    """A migrated database on the machine's server, reached through a PgBouncer of our own (transaction mode, two
    server connections) on a free port."""
    assert PGBOUNCER is not None
    server_url = databases.create_postgres_database()
    directory = clusters.owned_directory(Path(tempfile.mkdtemp(prefix="dpor-pgbouncer-")))
    process: subprocess.Popen[bytes] | None = None
    try:
        migrations.upgrade(server_url)
        server = make_url(server_url)
        port = clusters.free_port()
        config = directory / "pgbouncer.ini"
        config.write_text(
            f"""[databases]
dpor = host={server.host} port={server.port or 5432} user={server.username} dbname={server.database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
"""
        )
        config.chmod(0o644)
        process = subprocess.Popen(clusters.server_command(PGBOUNCER, str(config)))
        clusters.wait_for_port(port)
        yield f"postgresql+asyncpg://{server.username}@127.0.0.1:{port}/dpor"
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
        databases.drop_postgres_database(server_url)


@pytest.fixture
async def api(bouncer_url: str) -> AsyncIterator[Api]:
    settings = load_settings(database_url=bouncer_url, database_pgbouncer=True, db_pool_size=8, var_dir=_VAR_DIR)
    database = wiring.database(settings)
    try:
        await load_demo(database)
        transport = httpx.ASGITransport(app=create_app(settings, database))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield Api(client, database, settings)
    finally:
        await database.dispose()


async def test_the_smoke_paths_run_through_pgbouncer_in_transaction_mode(api: Api) -> None:
    page = (await api.data(COMPILED, as_=PARTNER))["attributedSubscriptions"]
    assert page["totalCount"] > 0
    first = page["edges"][0]["node"]

    def hook(n: int) -> dict[str, Any]:
        return {"i": {"url": f"https://hooks.example.com/pgbouncer/{n}", "eventTypes": ["association.dpor_set"]}}

    # Many at once over two server connections: every kind of statement meets every other on them.
    rounds = [
        *(api.data(COMPILED, as_=PARTNER) for _ in range(6)),
        *(api.data(NODE, {"id": first["id"]}, as_=PARTNER) for _ in range(4)),
        *(api.data(TENANT, as_=OWNER) for _ in range(4)),
        *(api.data(CREATE, hook(n), as_=PARTNER) for n in range(4)),
    ]
    results = await asyncio.gather(*rounds)
    assert all(result["attributedSubscriptions"] == page for result in results[:6])
    assert all(result["node"]["id"] == first["id"] for result in results[6:10])
    assert all(result["viewer"]["tenant"]["subscriptions"]["totalCount"] > 0 for result in results[10:14])
    made = {result["createWebhookEndpoint"]["endpoint"]["url"] for result in results[14:]}
    listed = {endpoint["url"] for endpoint in (await api.data(LIST, as_=PARTNER))["webhookEndpoints"]}
    assert made == {f"https://hooks.example.com/pgbouncer/{n}" for n in range(4)} <= listed
