"""One webhook attempt's limits (resolvers/webhooks/transport.py), against a real receiver on loopback: no
redirects, a response-size cap, a deadline, the address checked at connection, and a signature the reference
library verifies."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from standardwebhooks import Webhook

from resolvers.webhooks.endpoints import new_secret
from resolvers.webhooks.transport import Sender, signed_headers
from tests.webhook_receiver import receiving

BODY = '{"data":{"x":1},"timestamp":"2026-12-03T10:00:00+00:00","type":"association.dpor_set"}'


def _sender(*, allow_private: bool = True, timeout: float = 2.0, cap: int = 1_024) -> Sender:
    return Sender(timeout_seconds=timeout, max_response_bytes=cap, allow_private=allow_private)


async def test_a_signed_request_arrives_and_verifies() -> None:
    secret = new_secret()
    sender = _sender()
    async with receiving() as receiver:
        attempt = await sender.send(receiver.url("/in"), BODY, signed_headers(secret, "evt_1", datetime.now(UTC), BODY))
    await sender.aclose()
    assert attempt.delivered and attempt.status_code == 200
    (request,) = receiver.received
    assert Webhook(secret).verify(request.body, request.headers) == {
        "data": {"x": 1},
        "timestamp": "2026-12-03T10:00:00+00:00",
        "type": "association.dpor_set",
    }
    assert request.headers["webhook-id"] == "evt_1" and request.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed() -> None:
    sender = _sender()
    async with receiving() as receiver:
        receiver.status, receiver.answer_headers = 307, {"location": receiver.url("/elsewhere")}
        attempt = await sender.send(receiver.url("/in"), BODY, {})
    await sender.aclose()
    assert not attempt.delivered and attempt.status_code == 307 and "redirect" in (attempt.error or "")
    assert [request.path for request in receiver.received] == ["/in"]


async def test_a_huge_answer_is_read_no_further_than_the_cap() -> None:
    sender = _sender(cap=1_024)
    async with receiving() as receiver:
        receiver.answer_body = b"x" * 20_000_000
        started = time.perf_counter()
        attempt = await sender.send(receiver.url("/in"), BODY, {})
        took = time.perf_counter() - started
    await sender.aclose()
    assert attempt.delivered and took < 2.0


async def test_an_answer_later_than_the_deadline_fails_the_attempt() -> None:
    sender = _sender(timeout=0.3)
    async with receiving() as receiver:
        receiver.gate.clear()
        attempt = await sender.send(receiver.url("/in"), BODY, {})
    await sender.aclose()
    assert not attempt.delivered and attempt.status_code is None and "0.3 s" in (attempt.error or "")


async def test_a_name_resolving_to_loopback_is_refused_at_connection() -> None:
    # `localhost` would be refused when the endpoint is created; a public-looking name can still resolve to
    # loopback later (rebinding): the connection-time check is what stops it, before any byte is sent.
    sender = _sender(allow_private=False)
    async with receiving() as receiver:
        attempt = await sender.send(f"http://localhost:{receiver.port}/in", BODY, {})
    await sender.aclose()
    assert not attempt.delivered and "non-public" in (attempt.error or "")
    assert receiver.received == []
