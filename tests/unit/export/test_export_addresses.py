"""Address plans: documentation ranges by default, one distinct 5-tuple per trace, user mappings."""

from __future__ import annotations

import ipaddress

import pytest

from netdiffus.errors import ConfigError
from netdiffus.export.addresses import AddressPlan


def test_defaults_are_documentation_ranges():
    v4 = AddressPlan.default()
    v6 = AddressPlan.default(ip_version=6)
    docs4 = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24")]
    docs6 = ipaddress.ip_network("2001:db8::/32")
    for i in range(600):
        assert any(v4.client(i)[0] in n for n in docs4)
        assert v6.client(i)[0] in docs6
    for j in range(300):
        assert any(v4.server(f"c{j}", j) in n for n in docs4)
        assert v6.server(f"c{j}", j) in docs6
    assert str(v4.client(0)[0]) == "192.0.2.1" and str(v4.client(253)[0]) == "192.0.2.254"
    assert str(v4.server("a", 0)) == "198.51.100.1"


def test_client_endpoints_are_distinct():
    plan = AddressPlan.default()
    seen = {plan.client(i) for i in range(5000)}
    assert len(seen) == 5000
    assert all(49152 <= port <= 65535 for _, port in seen)
    assert plan.capacity() == 254 * 16384


@pytest.mark.parametrize(
    "specs, client0, server_a",
    [
        (None, "192.0.2.1", "198.51.100.1"),
        (["client=10.0.0.0/8"], "10.0.0.1", "198.51.100.1"),
        (["client=10.0.0.0/8,server=172.16.0.0/12"], "10.0.0.1", "172.16.0.1"),
        (["a=203.0.113.9"], "192.0.2.1", "203.0.113.9"),
        (["server=2001:db8:1::/64"], "2001:db8:c::1", "2001:db8:1::1"),
        (["client=10.0.0.7/32"], "10.0.0.7", "198.51.100.1"),
    ],
)
def test_parse(specs, client0, server_a):
    plan = AddressPlan.parse(specs)
    assert str(plan.client(0)[0]) == client0
    assert str(plan.server("a", 0)) == server_a


@pytest.mark.parametrize(
    "specs, ip_version, message",
    [
        (["client"], None, "addr-map items must look like client=CIDR, server=CIDR or LABEL=ADDRESS (got 'client')"),
        (["client=nonsense"], None, "addr-map client must be a network such as 192.0.2.0/24 (got 'nonsense')"),
        (["server=1.2.3.0/33"], None, "addr-map server must be a network such as 192.0.2.0/24 (got '1.2.3.0/33')"),
        (["web=1.2.3"], None, "addr-map web must be an IP address (got '1.2.3')"),
        (["client=10.0.0.0/8,server=2001:db8::/64"], None,
         "addresses must all be IPv4 or all IPv6 (got client 10.0.0.0/8, server 2001:db8::/64)"),
        (["client=10.0.0.0/8"], 6, "addr-map addresses are IPv4 but IPv6 was asked for"),
    ],
)
def test_parse_errors(specs, ip_version, message):
    with pytest.raises(ConfigError) as exc:
        AddressPlan.parse(specs, ip_version=ip_version)
    assert str(exc.value) == message
