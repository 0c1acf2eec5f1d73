"""Addresses and ports of exported traces: one consistent 5-tuple per trace.

By default every address comes from the documentation ranges, which are never routed:
clients (the traced devices) from ``192.0.2.0/24``, servers from ``198.51.100.0/24``; with
IPv6, clients from ``2001:db8:c::/64`` and servers from ``2001:db8:5::/64`` (both in
``2001:db8::/32``). Each class gets one server address (classes are services or devices), each
trace its own client address and port, so every trace has a distinct 5-tuple. Users map them
with ``client=CIDR``, ``server=CIDR`` or ``LABEL=ADDRESS`` (pin the server of one class).

Examples
--------
>>> plan = AddressPlan.parse(["client=10.0.0.0/30", "YouTube/V360=203.0.113.7"])
>>> [str(plan.client(i)[0]) for i in range(3)], [plan.client(i)[1] for i in range(3)]
(['10.0.0.1', '10.0.0.2', '10.0.0.1'], [49152, 49152, 49153])
>>> str(plan.server("YouTube/V360", 0)), str(plan.server("other", 0))
('203.0.113.7', '198.51.100.1')
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from netdiffus.errors import ConfigError

__all__ = ["AddressPlan", "IPAddress", "EPHEMERAL_PORTS", "SERVER_PORT"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Client ports are taken from the IANA dynamic range 49152-65535.
EPHEMERAL_PORTS = (49152, 65535)
#: Server port of every exported trace (TCP and UDP).
SERVER_PORT = 443

_DEFAULTS = {
    4: ("192.0.2.0/24", "198.51.100.0/24"),
    6: ("2001:db8:c::/64", "2001:db8:5::/64"),
}


def _net(text: str, *, what: str) -> IPNetwork:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"{what} must be a network such as 192.0.2.0/24 (got {text!r})") from None
    if _n_hosts(net) < 1:
        raise ConfigError(f"{what} must hold at least one host address (got {text!r})")
    return net


def _n_hosts(net: IPNetwork) -> int:
    # the network and broadcast addresses are skipped for IPv4 prefixes shorter than /31
    if net.version == 4 and net.prefixlen < 31:
        return net.num_addresses - 2
    return net.num_addresses - 1 if net.version == 6 else net.num_addresses


def _host(net: IPNetwork, i: int) -> IPAddress:
    n = _n_hosts(net)
    first = 1 if (net.version == 6 or net.prefixlen < 31) else 0
    return net.network_address + first + (i % n)


@dataclass
class AddressPlan:
    """Where traces come from and go to.

    Parameters
    ----------
    client_net, server_net : ipaddress network
        Client (traced device) and server addresses; both of one IP version.
    servers : dict
        Fixed server address per class label.
    """

    client_net: IPNetwork = field(default_factory=lambda: ipaddress.ip_network(_DEFAULTS[4][0]))
    server_net: IPNetwork = field(default_factory=lambda: ipaddress.ip_network(_DEFAULTS[4][1]))
    servers: dict[str, IPAddress] = field(default_factory=dict)

    def __post_init__(self) -> None:
        versions = {self.client_net.version, self.server_net.version} | {a.version for a in self.servers.values()}
        if len(versions) != 1:
            raise ConfigError(
                f"addresses must all be IPv4 or all IPv6 (got client {self.client_net}, server {self.server_net}"
                + (f", classes {', '.join(f'{k}={v}' for k, v in self.servers.items())})" if self.servers else ")")
            )

    @property
    def version(self) -> Literal[4, 6]:
        return 4 if self.client_net.version == 4 else 6

    @classmethod
    def default(cls, *, ip_version: Literal[4, 6] = 4) -> AddressPlan:
        if ip_version not in _DEFAULTS:
            raise ConfigError(f"ip_version must be 4 or 6 (got {ip_version!r})")
        c, s = _DEFAULTS[ip_version]
        return cls(ipaddress.ip_network(c), ipaddress.ip_network(s))

    @classmethod
    def parse(cls, specs: Sequence[str] | None, *, ip_version: Literal[4, 6] | None = None) -> AddressPlan:
        """Build a plan from ``client=CIDR``, ``server=CIDR`` and ``LABEL=ADDRESS`` items.

        Items may also be given comma-separated in one string. Unmapped roles keep the
        documentation ranges of the mapped ones' IP version (``ip_version`` when nothing is mapped).
        """
        items: list[str] = []
        for spec in specs or []:
            items += [s.strip() for s in spec.split(",") if s.strip()]
        client = server = None
        servers: dict[str, IPAddress] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise ConfigError(
                    f"addr-map items must look like client=CIDR, server=CIDR or LABEL=ADDRESS (got {item!r})"
                )
            if key == "client":
                client = _net(value, what="addr-map client")
            elif key == "server":
                server = _net(value, what="addr-map server")
            else:
                try:
                    servers[key] = ipaddress.ip_address(value)
                except ValueError:
                    raise ConfigError(f"addr-map {key} must be an IP address (got {value!r})") from None
        known = [n.version for n in (client, server) if n is not None] + [a.version for a in servers.values()]
        version = known[0] if known else (ip_version or 4)
        if ip_version is not None and known and any(v != ip_version for v in known):
            raise ConfigError(f"addr-map addresses are IPv{known[0]} but IPv{ip_version} was asked for")
        if version not in _DEFAULTS:  # pragma: no cover - ipaddress only knows 4 and 6
            raise ConfigError(f"ip_version must be 4 or 6 (got {version!r})")
        c_default, s_default = _DEFAULTS[version]
        return cls(
            client_net=client if client is not None else ipaddress.ip_network(c_default),
            server_net=server if server is not None else ipaddress.ip_network(s_default),
            servers=servers,
        )

    def capacity(self) -> int:
        """How many traces get distinct (client address, client port) pairs."""
        return min(_n_hosts(self.client_net), 1 << 40) * (EPHEMERAL_PORTS[1] - EPHEMERAL_PORTS[0] + 1)

    def client(self, trace_index: int) -> tuple[IPAddress, int]:
        """Client address and port of trace ``trace_index`` (distinct for every index below capacity)."""
        n = min(_n_hosts(self.client_net), 1 << 40)
        return _host(self.client_net, trace_index % n), EPHEMERAL_PORTS[0] + trace_index // n

    def host(self, index: int) -> IPAddress:
        """Host ``index`` of the server range (cycling through it): a shared server of learned headers."""
        return _host(self.server_net, index)

    def server(self, label: str, label_index: int) -> IPAddress:
        """Server address of class ``label`` (``label_index`` is its position among the classes)."""
        if label in self.servers:
            return self.servers[label]
        return _host(self.server_net, label_index)
