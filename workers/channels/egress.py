"""Where the webhook channel may connect: public addresses, and whatever the allowlist adds.

A recipient's webhook URL comes from the platform's events, so a careless or hostile one could point
Bellhop at the cloud metadata service or an internal admin port (SSRF). The check runs twice: on the
name's DNS answers before sending, for a clear reason, and on the socket's actual peer when it
connects, so a name that resolves to a public address first and a private one later (DNS rebinding)
is refused too.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

SCHEMES = ("http", "https")


class EgressRefused(Exception):
    """A URL or address the webhook channel must not reach."""


class Allowlist:
    """Networks (CIDR or single addresses) and host names an operator lets the webhook channel reach."""

    def __init__(self, entries: list[str]):
        self.networks, self.hosts = [], set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def allows(self, host: str, address: str) -> bool:
        ip = plain(ipaddress.ip_address(address))
        return host.lower().rstrip(".") in self.hosts or any(ip in network for network in self.networks)


def plain(ip):
    """An IPv4 address written as IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is."""
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip


def check_address(host: str, address: str, allowlist: Allowlist) -> None:
    """Refuse an address that is not public (loopback, private, link-local, reserved...) unless allowed."""
    ip = plain(ipaddress.ip_address(address))
    if ip.is_global or allowlist.allows(host, address):
        return
    raise EgressRefused(f"{host} is {ip}, not a public address; BELLHOP_WEBHOOK_ALLOWLIST can allow it")


def check_url(url: str, allowlist: Allowlist) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to any address that is not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise EgressRefused(f"only http and https URLs are allowed, not {url[:100]!r}")
    try:
        answers = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise EgressRefused(f"cannot resolve {parts.hostname}: {error}") from None
    for *_, sockaddr in answers:
        check_address(parts.hostname, sockaddr[0], allowlist)


def guarded_pool_classes(allowlist: Allowlist) -> dict[str, type]:
    """urllib3 pool classes whose connections check the peer they actually reached."""

    def checked(connection, sock):
        try:
            check_address(connection.host, sock.getpeername()[0], allowlist)
        except EgressRefused:
            sock.close()
            raise
        return sock

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self):
            return checked(self, super()._new_conn())

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self):
            return checked(self, super()._new_conn())

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
