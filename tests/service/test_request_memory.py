"""A request leaves nothing behind: a long run of reads does not grow the heap.

A per-request object kept alive by something that outlives the request (a cache on a class, a module-level dict)
makes every later request pay for it in memory and in cyclic GC passes; the benchmark saw a worker grow from 474 to
851 MB that way. These tests count what survives the requests once they are done."""

from __future__ import annotations

import gc
from collections import Counter

from auth.principal import Role
from db.engine import Database
from gateway.settings import load_settings
from resolvers.loaders import Loaders
from resolvers.usage.loaders import UsageLoaders
from tests.api import Api, principal
from tests.graphql.test_statement_count import ATTRIBUTED, _world

ATTRIBUTED_WITH_USAGE = """
query {
  attributedSubscriptions(first: 20) {
    edges { node { displayName tenant { displayName }
      usage(from: "2026-01-01", to: "2026-01-31", groupBy: []) { currency amount attribution { amount } } } }
  }
}
"""


def _alive(*types: type) -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects() if isinstance(o, types))


async def test_no_request_scoped_loaders_survive_their_request(api: Api, database: Database) -> None:
    mpn_id = await _world(database, tenants=10, subscriptions_per_tenant=2)
    partner = principal(Role.PARTNER, partner=mpn_id)
    for _ in range(30):
        await api.data(ATTRIBUTED, {"first": 20}, as_=partner)
        await api.data(ATTRIBUTED_WITH_USAGE, as_=partner)

    assert _alive(Loaders, UsageLoaders) == Counter()


async def test_a_long_run_of_reads_does_not_grow_the_object_count(api: Api, database: Database) -> None:
    mpn_id = await _world(database, tenants=10, subscriptions_per_tenant=2)
    partner = principal(Role.PARTNER, partner=mpn_id)

    async def run(requests: int) -> None:
        for _ in range(requests):
            await api.data(ATTRIBUTED, {"first": 20}, as_=partner)

    await run(20)  # warm every cache that is bounded by shape (statements, parsed documents, known ids)
    gc.collect()
    before = len(gc.get_objects())
    await run(200)
    gc.collect()
    grown = len(gc.get_objects()) - before
    # Each leaked request kept about 500 tracked objects; 200 requests that leak nothing stay within noise.
    assert grown < 2_000, f"{grown} more GC-tracked objects after 200 requests"


async def test_a_served_worker_freezes_its_startup_heap(database: Database) -> None:
    """What `serve` runs moves the start-up heap out of the collector's reach; tests' apps do not."""
    from gateway.app import create_app
    from tests.api import _VAR_DIR

    settings = load_settings(database_url=database.engine.url.render_as_string(hide_password=False), var_dir=_VAR_DIR)
    try:
        plain = create_app(settings, database)
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
        served = create_app(settings, database, freeze_heap_at_startup=True)
        async with served.router.lifespan_context(served):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
