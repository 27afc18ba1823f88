"""Where a webhook may be sent: server-side request forgery checks on endpoint URLs (issue 15).

A webhook URL is chosen by a caller and fetched by the gateway, from inside its network: unchecked, it is a way to
reach the loopback interface, the private network, or a cloud metadata service (169.254.169.254, fd00:ec2::254).
Two checks, because a name can resolve differently from one moment to the next (DNS rebinding):

- when an endpoint is created or its URL changed (`checked_url`): https only, no credentials in the URL, an IP
  literal must be a public address, and names that only ever mean the local machine or network (`localhost`,
  `*.localhost`, `*.local`, `*.internal`, single labels) are refused. Names are not resolved then: a failing
  resolver would refuse a good URL, and a good answer now proves nothing later.
- at every connection (`resolve_public`): the name is resolved, every address it resolves to must be public, and
  the connection goes to that checked address (resolvers/webhooks/transport.py), never to a second lookup.

"Public" is `ipaddress`'s `is_global` and not multicast: it excludes loopback, private (RFC 1918, fc00::/7),
link-local (169.254/16, fe80::/10, where the metadata services live), shared (100.64/10), reserved and unspecified
addresses; an IPv4-mapped IPv6 address is judged as its IPv4 address. DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts
both checks (and allows http://), for development and for tests whose receiver listens on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from resolvers.errors import BadUserInput

MAX_URL_LENGTH = 2_048
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class AddressRefused(Exception):
    """A webhook's host resolved to an address the gateway does not send to (or to none)."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def checked_url(url: str, *, allow_private: bool, field: str = "url") -> str:
    """The URL, if a webhook may be sent there; BAD_USER_INPUT naming `field` (with a `reason`) otherwise."""

    def refuse(reason: str, message: str) -> BadUserInput:
        return BadUserInput(f"{field}: {message}", field=field, reason=reason)

    if len(url) > MAX_URL_LENGTH:
        raise refuse("TOO_LONG", f"at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("MALFORMED", "not a URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise refuse("SCHEME", f"must be an {' or '.join(schemes)} URL")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise refuse("MALFORMED", "has no host")
    if parts.username is not None or parts.password is not None:
        raise refuse("CREDENTIALS", "must not carry credentials (the signature authenticates the gateway)")
    if parts.fragment:
        raise refuse("MALFORMED", "must not have a fragment")
    if port == 0:
        raise refuse("MALFORMED", "port 0")
    if allow_private:
        return url
    literal = _literal(host)
    if literal is not None:
        if not is_public(literal):
            raise refuse(
                "PRIVATE_ADDRESS",
                "is not a public address (loopback, private, link-local and metadata addresses are refused)",
            )
        return url
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
        raise refuse("PRIVATE_ADDRESS", "names a local host or network")
    return url


async def resolve_public(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`: resolved now, every answer checked (one private answer refuses the
    host: a rebinding resolver may alternate). AddressRefused when it resolves to nothing usable."""
    literal = _literal(host.strip("[]"))
    if literal is not None:
        if not allow_private and not is_public(literal):
            raise AddressRefused(f"{host} is not a public address")
        return str(literal)
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise AddressRefused(f"{host} does not resolve: {error}") from None
    addresses = [ipaddress.ip_address(answer[4][0]) for answer in answers]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    if not allow_private:
        refused = [str(address) for address in addresses if not is_public(address)]
        if refused:
            raise AddressRefused(f"{host} resolves to a non-public address ({', '.join(refused)})")
    return str(addresses[0])
