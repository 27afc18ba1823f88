"""Sending one signed webhook request (issue 15): Standard Webhooks headers, httpx, and the limits around it.

- The signature: `standardwebhooks.Webhook(secret).sign(webhook-id, timestamp, body)` (the reference
  implementation), sent as `webhook-signature`, with `webhook-id` (the event's id: the same on every retry, so a
  receiver dedupes on it) and `webhook-timestamp` (this attempt's time, whole seconds).
- DNS rebinding: the host is resolved here, every address checked (resolvers/webhooks/addresses.py), and the
  connection made to that very address; the URL's host name still goes in `Host` and, for https, in the TLS SNI
  and the certificate check (httpcore's `sni_hostname`), so a name whose answer changes between the check and the
  connection cannot move the request to a private address.
- No redirects (a 3xx is a failed attempt: following one would be a request to an unchecked URL), connect and
  read timeouts and an overall deadline, and at most `max_response_bytes` of the answer read (the body is not
  used; reading is stopped, not buffered, beyond the cap). No proxy from the environment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from resolvers.webhooks.addresses import AddressRefused, resolve_public

USER_AGENT = "dpor-gateway-webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: the status code when answered, the latency, and why it failed if it did."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Sender:
    """One httpx client for a worker's lifetime (connections kept alive per checked address)."""

    def __init__(self, *, timeout_seconds: float, max_response_bytes: int, allow_private: bool) -> None:
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        self.allow_private = allow_private
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, body: str, headers: dict[str, str]) -> Attempt:
        started = time.perf_counter()

        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._send(url, body, headers, took)
        except TimeoutError:
            return Attempt(None, took(), f"no complete answer within {self.timeout_seconds} s")
        except AddressRefused as refused:
            return Attempt(None, took(), str(refused))
        except httpx.HTTPError as error:
            return Attempt(None, took(), f"{type(error).__name__}: {error}"[:500])

    async def _send(self, url: str, body: str, headers: dict[str, str], took: Callable[[], int]) -> Attempt:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await resolve_public(host, port, allow_private=self.allow_private)
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = f"{host}:{parts.port}" if parts.port else host
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        request = self._client.build_request(
            "POST", target, content=body.encode(), headers={**headers, "host": host_header}, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= self.max_response_bytes:
                    break  # enough: the answer's body is not used, and a huge one must not tie the worker up
        finally:
            await response.aclose()
        latency = took()
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code, latency, None)
        reason = "a redirect (not followed)" if 300 <= response.status_code < 400 else "not a 2xx answer"
        return Attempt(response.status_code, latency, f"HTTP {response.status_code}: {reason}")
