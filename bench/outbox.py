"""`python -m bench.outbox [--changes 300] [--rounds 6]`: what the outbox costs a DPOR mutation, and how long an
event takes to reach a webhook receiver (issue 15), on PostgreSQL.

1. A database of its own, `dpor_bench_outbox`, created and dropped by the run, migrated; one tenant, 2 partners,
   one subscription.
2. Cost: `setDigitalPartnerOfRecord` alternating between the two partners, through the whole gateway in this
   process (Starlette app over httpx's ASGI transport: no sockets), in interleaved rounds with the outbox on and
   off (off: resolvers.change_events.derive answers None, so no event row is written). CPU seconds of this process
   per request (the client's share is the same in both), and PostgreSQL's statements per request.
3. Latency: a Starlette receiver on loopback, a partner endpoint and a tenant endpoint on it, the delivery worker
   (gateway.deliverer.deliver_every) running in this process at `--interval`, and `--changes` DPOR changes 20 ms
   apart: per event, from its `timestamp` (the commit's audit instant) to the receiver's clock when the signed
   request arrived. p50 / p99 over both endpoints' deliveries.
Results go to `bench/results/<date>-outbox.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from bench import dataset
from db.engine import Database
from db.enums import Offer
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from gateway.app import create_app
from gateway.deliverer import deliver_every
from gateway.settings import Settings, load_settings
from gateway.wiring import auth_config
from resolvers import change_events
from resolvers.webhooks.delivery import DeliveryConfig
from schema import global_id

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "dpor_bench_outbox"
SET = "mutation($i: SetDigitalPartnerOfRecordInput!) { setDigitalPartnerOfRecord(input: $i) { changed } }"
CREATE = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }"
TYPES = ["association.dpor_set", "association.dpor_replaced", "association.dpor_removed"]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=300, help="DPOR changes for the latency run")
    parser.add_argument("--requests", type=int, default=200, help="requests per cost round")
    parser.add_argument("--rounds", type=int, default=6, help="cost rounds per mode, interleaved")
    parser.add_argument("--interval", type=float, default=1.0, help="the delivery worker's idle poll (s)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


def _token(settings: Settings, role: Role, **claims: Any) -> dict[str, str]:
    token = mint_dev_token(auth_config(settings), roles=[role], subject="bench", client_id="bench", **claims)
    return {"authorization": f"Bearer {token}"}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@asynccontextmanager
async def _receiver(arrivals: list[tuple[float, dict[str, Any]]]) -> AsyncIterator[int]:
    async def handle(request: Request) -> Response:
        arrivals.append((time.time(), json.loads(await request.body())))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        with suppress(asyncio.CancelledError):
            await task


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    await dataset.drop_and_create(args.admin_url, DATABASE)
    url = f"{dataset.server_url(args.admin_url)}/{DATABASE}".replace("postgresql://", "postgresql+asyncpg://", 1)
    dataset.run_gateway(["migrate"], url)
    database = Database.from_url(url, pool_size=10)
    try:
        tenant = Tenant(
            id=uuid.uuid4(), external_id=uuid.uuid4(), display_name="T", primary_domain="t.example", country_code="FR"
        )
        partners = [Partner(id=uuid.uuid4(), mpn_id=str(9000 + n), name=f"P{n}", country_code="FR") for n in (0, 1)]
        async with database.write() as session:
            session.add_all([tenant, *partners])
            await session.flush()
            subscription = Subscription(
                id=uuid.uuid4(), tenant_id=tenant.id, external_id="bench-sub", offer=Offer.AZURE, display_name="S"
            )
            session.add(subscription)
        settings = load_settings(
            database_url=url, webhook_allow_private_addresses=True, rate_limit_enabled=False, log_level="WARNING"
        )
        app = create_app(settings, database)
        headers = _token(settings, Role.OWNER, tenant=tenant.external_id)
        version = 1
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:

            async def change(index: int) -> None:
                nonlocal version
                variables = {
                    "i": {
                        "subscriptionId": global_id.encode("Subscription", subscription.id),
                        "partnerId": global_id.encode("Partner", partners[index % 2].id),
                        "expectedVersion": version,
                    }
                }
                response = await client.post("/graphql", json={"query": SET, "variables": variables}, headers=headers)
                assert response.json()["data"]["setDigitalPartnerOfRecord"]["changed"], response.text
                version += 1

            for index in range(50):  # warm-up
                await change(index)
            derive = change_events.derive
            cpu: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(args.rounds):
                for mode in ("on", "off"):
                    change_events.derive = derive if mode == "on" else (lambda row: None)
                    started = time.process_time()
                    for index in range(args.requests):
                        await change(index)
                    cpu[mode].append((time.process_time() - started) / args.requests * 1000)
            change_events.derive = derive
            arrivals: list[tuple[float, dict[str, Any]]] = []
            async with _receiver(arrivals) as port:
                callers = {"/p0": _token(settings, Role.PARTNER, partner="9000"), "/tenant": headers}
                for path, token in callers.items():
                    endpoint = {"i": {"url": f"http://127.0.0.1:{port}{path}", "eventTypes": TYPES}}
                    made = await client.post("/graphql", json={"query": CREATE, "variables": endpoint}, headers=token)
                    assert made.json()["data"]["createWebhookEndpoint"]["secret"], made.text
                config = DeliveryConfig(allow_private=True)
                worker = asyncio.create_task(deliver_every(database, config, args.interval))
                try:
                    for index in range(args.changes):
                        await change(index)
                        await asyncio.sleep(0.02)
                    expected = args.changes * 2  # every change names P0 (set or replaced), and the tenant is told
                    deadline = time.monotonic() + 60
                    while len(arrivals) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                finally:
                    worker.cancel()
                    with suppress(asyncio.CancelledError):
                        await worker
        latencies = [
            (arrived - datetime.fromisoformat(body["timestamp"]).timestamp()) * 1000 for arrived, body in arrivals
        ]
    finally:
        await database.dispose()
        await dataset.drop_and_create(args.admin_url, DATABASE)
    on, off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "cpu_ms_per_request": {"outbox_on": on, "outbox_off": off, "added_share": (on - off) / off},
        "cpu_rounds_ms": cpu,
        "latency_ms": {
            "interval_seconds": args.interval,
            "deliveries": len(latencies),
            "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99),
            "max": max(latencies),
        },
    }


def main() -> None:
    args = _arguments()
    report = asyncio.run(_run(args))
    cost, latency = report["cpu_ms_per_request"], report["latency_ms"]
    text = (
        f"# Outbox and webhooks, {report['date']} (PostgreSQL, in-process gateway)\n\n"
        f"- setDigitalPartnerOfRecord CPU per request: {cost['outbox_on']:.2f} ms with the outbox,"
        f" {cost['outbox_off']:.2f} ms without: +{cost['added_share'] * 100:.1f}% (medians of"
        f" {len(report['cpu_rounds_ms']['on'])} interleaved rounds)\n"
        f"- event to webhook (worker idle poll {latency['interval_seconds']} s): p50 {latency['p50']:.0f} ms,"
        f" p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms over {latency['deliveries']} deliveries\n"
    )
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        suffix = f"-poll{latency['interval_seconds']:g}"
        (RESULTS / f"{report['date']}-outbox{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{report['date']}-outbox{suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
