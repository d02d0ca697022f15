"""Where a callback may be POSTed, and the POST itself, pinned to the address that was checked.

A callback URL is chosen by a reseller, so it is untrusted: without care it could make the
operator's servers POST to their own database, to a cloud metadata service
(169.254.169.254) or to anything else on the private network (SSRF). So, at send time:

1. the host name is resolved once; every address it resolves to must be public (no
   loopback, private, link-local, shared, multicast, reserved or unspecified address, IPv4
   or IPv6, including IPv4 addresses hidden inside IPv6 ones);
2. the connection goes to the checked address itself (the name is never resolved again, so
   a DNS answer that changes between the check and the connection cannot slip through),
   with the name in the Host header and in TLS (SNI and certificate check);
3. only port 443 (https) is allowed, and port 80 (http) only when the operator sets
   `UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP`.

`UPLINE_CALLBACKS_ALLOW_LOCAL` (development only, off by default and refused in production)
lets a receiver on this machine (127.0.0.1, ::1, localhost) be reached on any port over
http, for local testing.

A refusal raises `RefusedDestination` with a sentence saying why; the sender records it and
gives up on that delivery rather than retrying it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
HTTPS_PORT, HTTP_PORT = 443, 80

# IPv6 prefixes that carry an IPv4 address a router may forward to (NAT64).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Exception):
    """The callback address is not one the operator's servers may connect to."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # the name as written in the URL (Host header, SNI)
    port: int
    target: str  # path and query
    address: str  # the checked IP the connection goes to


def allow_local() -> bool:
    return bool(getattr(settings, "UPLINE_CALLBACKS_ALLOW_LOCAL", False))


def allow_plain_http() -> bool:
    return bool(getattr(settings, "UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why an address may not be connected to, or None when it is a public unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner)
            return f"{problem} (inside the IPv6 address {address})" if problem else None
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata services live there)"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_reserved or not address.is_global:
        return f"{address} is a reserved address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def url_problem(url: str) -> str | None:
    """What is wrong with a callback URL before any name is resolved (scheme, port, a
    literal private address), or None. Used when the URL is set and again at send time."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return "The callback address has an invalid port."
    if parts.scheme not in ("http", "https") or not host:
        return "Use an https:// address for the callback."
    if parts.username or parts.password:
        return "The callback address must not contain a user name or password."
    if allow_local() and host in LOCAL_HOSTS:
        return None
    if parts.scheme == "http" and not allow_plain_http():
        return "Use an https:// address for the callback (plain http:// is not allowed here)."
    expected = HTTPS_PORT if parts.scheme == "https" else HTTP_PORT
    if port not in (None, expected):
        return f"Callbacks over {parts.scheme} may only use port {expected}."
    if host == "localhost" or host.endswith(".localhost"):
        return "The callback address must not be this machine."
    literal = _literal_address(host)
    if literal is not None:
        problem = address_problem(literal)
        if problem:
            return f"The callback address is not public: {problem}."
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (tests replace this with a fake resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


def destination_for(url: str) -> Destination:
    """Check the URL, resolve its host once and return where to connect; raises
    RefusedDestination when any address is not public, OSError when the name is unknown."""
    problem = url_problem(url)
    if problem:
        raise RefusedDestination(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (HTTPS_PORT if parts.scheme == "https" else HTTP_PORT)
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} did not resolve to any address")
    local = allow_local() and host.lower() in LOCAL_HOSTS
    if not local:
        # Every answer is checked, not just the first: a name that resolves to a public and
        # a private address could be connected to the private one by another client.
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise RefusedDestination(f"{host} resolves to {problem}.")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(parts.scheme, host, port, target, str(addresses[0]))


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def open_socket(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the checked address (tests replace this to see where it goes)."""
    return socket.create_connection((address, port), timeout=timeout)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._destination = destination

    def connect(self) -> None:
        self.sock = open_socket(self._destination.address, self._destination.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout, context=tls_context())
        self._destination = destination

    def connect(self) -> None:
        raw = open_socket(self._destination.address, self._destination.port, self.timeout)
        # The certificate is checked against the name, not the address we connected to.
        self.sock = self._context.wrap_socket(raw, server_hostname=self._destination.host)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST `body` to the checked, pinned address of `url` and return the HTTP status.
    No proxy and no redirects: the signed body goes where it was configured, or nowhere."""
    destination = destination_for(url)
    connection_class = (
        _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    )
    connection = connection_class(destination, timeout)
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        # Only the status matters; an endless answer is not read into memory.
        response.read(64 * 1024)
        return response.status
    finally:
        connection.close()
