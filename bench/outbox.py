"""`python -m bench.outbox [--changes 300] [--rounds 6]`: what the outbox costs a DPOR mutation, and how long an
event takes to reach a webhook receiver (issue 15), on PostgreSQL.

1. A database of its own, `dpor_bench_outbox`, created and dropped by the run, migrated; one tenant, 2 partners,
   one subscription.
2. Cost: `setDigitalPartnerOfRecord` alternating between the two partners, through the whole gateway in this
   process (Starlette app over httpx's ASGI transport: no sockets), in interleaved rounds with the outbox on and
   off (off: resolvers.change_events.derive answers None, so no event row is written). CPU seconds of this process
   per request (the client's share is the same in both), and PostgreSQL's statements per request.
3. Latency, through `dpor-gateway serve --workers 2` (a real subprocess on loopback, the deployment's shape): a
   Starlette receiver on loopback with a partner endpoint and a tenant endpoint on it (delivered by the workers'
   own delivery workers, idle poll `--interval`), `--subscribers` graphql-transport-ws websocket clients of
   `associationChanges` (spread over both workers by the kernel), and `--changes` DPOR changes 20 ms apart, each
   over a new HTTP connection (so by either worker). Per event, from its commit's audit instant (`timestamp`,
   `occurredAt`) to this process's clock when the signed request or the websocket message arrived; p50 / p99 over
   every delivery and every message. Run twice: with the change notifications (PostgreSQL LISTEN/NOTIFY,
   db/change_notifications.py) and without (DPOR_CHANGE_NOTIFICATIONS=false: the polls alone).
Results go to `bench/results/<date>-outbox-wakeup-poll<S>.{json,md}`.
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
from websockets.asyncio.client import ClientConnection, connect

from auth.dev_keys import mint_dev_token
from auth.principal import Role
from bench import dataset
from bench.server import Server, free_port, python_module
from db.engine import Database
from db.enums import Offer
from db.partner import Partner
from db.subscription import Subscription
from db.tenant import Tenant
from gateway.app import create_app
from gateway.settings import Settings, load_settings
from gateway.wiring import auth_config
from resolvers import change_events
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
    parser.add_argument("--subscribers", type=int, default=4, help="websocket subscribers for the latency run")
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
            change_events.derive = derive
            endpoints_made = False
            latency: dict[str, Any] = {}
            for notifications in (True, False):
                served = _served(settings, url, args.interval, notifications=notifications)
                served.start()
                try:
                    async with httpx.AsyncClient(
                        base_url=served.base_url, limits=httpx.Limits(max_keepalive_connections=0)
                    ) as over_http:
                        client_of_change = client
                        client = over_http  # each change on a new connection: by either worker
                        try:
                            latency["notify" if notifications else "poll"] = await _latency(
                                args, settings, served, headers, change, made=endpoints_made
                            )
                        finally:
                            client = client_of_change
                        endpoints_made = True
                finally:
                    served.stop()
    finally:
        await database.dispose()
        await dataset.drop_and_create(args.admin_url, DATABASE)
    on, off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "cpu_ms_per_request": {"outbox_on": on, "outbox_off": off, "added_share": (on - off) / off},
        "cpu_rounds_ms": cpu,
        "latency_ms": {"interval_seconds": args.interval, **latency},
    }


def _served(settings: Settings, url: str, interval: float, *, notifications: bool) -> Server:
    """`dpor-gateway serve --workers 2` on the bench database: the dev key of `settings`, private webhook URLs
    allowed, no rate limit."""
    port = free_port()
    env = {
        "DPOR_DATABASE_URL": url,
        "DPOR_VAR_DIR": str(settings.var_dir),
        "DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "DPOR_WEBHOOK_DELIVERY_INTERVAL_SECONDS": str(interval),
        "DPOR_RATE_LIMIT_ENABLED": "false",
        "DPOR_RATE_LIMIT_PER_PROCESS": "true",
        "DPOR_CHANGE_NOTIFICATIONS": "true" if notifications else "false",
    }
    command = python_module("gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    log = Path(f"/tmp/dpor-bench-outbox-{port}.log")
    return Server("gateway", command, env, port, log)


async def _subscriber(base_url: str, token: str, arrivals: list[tuple[float, dict[str, Any]]]) -> ClientConnection:
    ws = await connect(base_url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    query = "subscription { associationChanges { sequence occurredAt } }"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))

    async def read() -> None:
        async for message in ws:
            arrivals.append((time.time(), json.loads(message)))

    task = asyncio.get_running_loop().create_task(read())
    ws.reader = task  # type: ignore[attr-defined]  # kept referenced for as long as the socket
    return ws


def _summary(latencies: list[float]) -> dict[str, Any]:
    if not latencies:
        return {"count": 0}
    return {
        "count": len(latencies),
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "max": max(latencies),
    }


async def _latency(
    args: argparse.Namespace,
    settings: Settings,
    served: Server,
    owner: dict[str, str],
    change: Any,
    *,
    made: bool,
) -> dict[str, Any]:
    deliveries: list[tuple[float, dict[str, Any]]] = []
    messages: list[tuple[float, dict[str, Any]]] = []
    async with _receiver(deliveries) as port, httpx.AsyncClient(base_url=served.base_url) as client:
        callers = {"/p0": _token(settings, Role.PARTNER, partner="9000"), "/tenant": owner} if not made else {}
        for path, token in callers.items():
            endpoint = {"i": {"url": f"http://127.0.0.1:{port}{path}", "eventTypes": TYPES}}
            answer = await client.post("/graphql", json={"query": CREATE, "variables": endpoint}, headers=token)
            assert answer.json()["data"]["createWebhookEndpoint"]["secret"], answer.text
        if made:
            # The endpoints of the first run point at its receiver's port: repoint them at this one.
            await _repoint(settings, port)
        sockets = [
            await _subscriber(served.base_url, owner["authorization"], messages) for _ in range(args.subscribers)
        ]
        await asyncio.sleep(1.5)  # every subscriber joined its worker's feed
        try:
            answered: list[float] = []
            for index in range(args.changes):
                started = time.monotonic()
                await change(index)
                answered.append((time.monotonic() - started) * 1000)
                await asyncio.sleep(0.02)
            expected_deliveries = args.changes * 2  # every change names P0 (set or replaced), and the tenant's
            expected_messages = args.changes * args.subscribers
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (  # noqa: ASYNC110
                len(deliveries) < expected_deliveries or len(messages) < expected_messages
            ):
                await asyncio.sleep(0.05)
        finally:
            for ws in sockets:
                await ws.close()
    webhook = [(arrived - datetime.fromisoformat(body["timestamp"]).timestamp()) * 1000 for arrived, body in deliveries]
    pushed = [
        (arrived - datetime.fromisoformat(message["payload"]["data"]["associationChanges"]["occurredAt"]).timestamp())
        * 1000
        for arrived, message in messages
        if message.get("type") == "next"
    ]
    # The mutation's own response time: an event's latency counts from inside its transaction, so it includes
    # the commit and whatever of the response came before the push.
    return {"webhook": _summary(webhook), "subscription": _summary(pushed), "mutation": _summary(answered)}


async def _repoint(settings: Settings, port: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(
            "UPDATE webhook_endpoints SET url = regexp_replace(url, ':[0-9]+/', ':' || $1::text || '/')", str(port)
        )
    finally:
        await connection.close()


def main() -> None:
    args = _arguments()
    report = asyncio.run(_run(args))
    cost, latency = report["cpu_ms_per_request"], report["latency_ms"]
    lines = [
        f"# Outbox, webhooks and subscriptions, {report['date']} (PostgreSQL)\n",
        f"- setDigitalPartnerOfRecord CPU per request (in-process gateway): {cost['outbox_on']:.2f} ms with the"
        f" outbox, {cost['outbox_off']:.2f} ms without: {cost['added_share'] * 100:+.1f}% (medians of"
        f" {len(report['cpu_rounds_ms']['on'])} interleaved rounds)",
    ]
    for mode, label in (("notify", "LISTEN/NOTIFY wake-up"), ("poll", "polls only")):
        for door in ("webhook", "subscription"):
            figures = latency[mode][door]
            lines.append(
                f"- event to {door}, `serve --workers 2`, {label} (webhook idle poll {latency['interval_seconds']} s,"
                f" subscription poll 0.2 s): p50 {figures['p50']:.0f} ms, p99 {figures['p99']:.0f} ms,"
                f" max {figures['max']:.0f} ms over {figures['count']}"
                f" {'deliveries' if door == 'webhook' else 'websocket messages'}"
            )
        mutation = latency[mode]["mutation"]
        lines.append(
            f"- ({label}: the DPOR mutation's own HTTP response time p50 {mutation['p50']:.0f} ms,"
            f" p99 {mutation['p99']:.0f} ms)"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        suffix = f"-wakeup-poll{latency['interval_seconds']:g}"
        (RESULTS / f"{report['date']}-outbox{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{report['date']}-outbox{suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
