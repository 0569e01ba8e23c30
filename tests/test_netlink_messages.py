"""The bulk netlink writer packs exactly the bytes pyroute2's encoder would.

:mod:`emulator.nlbatch` and :func:`emulator.netem.qdisc_body` pack route,
neighbour and netem messages with :mod:`struct` for speed; here each is
compared byte for byte with pyroute2's own encoding of the same request.
No kernel needed.
"""

from __future__ import annotations

import socket

import pytest
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from emulator import addressing as addr
from emulator.netem import NetemParams, _FLAGS_CHANGE, _qdisc_message, qdisc_body
from emulator.nlbatch import NetlinkBatch


def _body(msg) -> bytes:
    msg.encode()
    return bytes(msg.data[16:])


@pytest.mark.parametrize("params", [NetemParams(12.345), NetemParams(3.2, loss_pct=0.5, rate_mbit=100.0),
                                    NetemParams(250.0, loss_pct=2.0, limit_pkts=5000)])
def test_netem_change_body_matches_pyroute2(params):
    assert qdisc_body(7, params) == _body(_qdisc_message(7, params, _FLAGS_CHANGE))


class _Capture(NetlinkBatch):
    def __init__(self):  # no socket: only the packing is under test
        self._seq, self._pending = 0, []


def test_route_replace_body_matches_pyroute2():
    b = _Capture()
    b.route_replace(addr.loopback_u32(41), addr.link_u32(7, 1), 12)
    msg = rtmsg()
    msg["family"], msg["dst_len"], msg["table"], msg["proto"], msg["scope"], msg["type"] = (
        socket.AF_INET, 32, 254, 4, 0, 1)
    msg["attrs"] = [("RTA_DST", addr.loopback_ip(41)), ("RTA_GATEWAY", addr.link_ip(7, 1)), ("RTA_OIF", 12)]
    assert b._pending[0][16:] == _body(msg)


def test_permanent_neighbour_body_matches_pyroute2():
    b = _Capture()
    b.neighbour_permanent(5, addr.link_u32(3, 0), addr.link_mac(3, 0))
    msg = ndmsg()
    msg["family"], msg["ifindex"], msg["state"] = socket.AF_INET, 5, 0x80
    msg["attrs"] = [("NDA_DST", addr.link_ip(3, 0)), ("NDA_LLADDR", addr.mac_text(addr.link_mac(3, 0)))]
    assert b._pending[0][16:] == _body(msg)


def test_addresses_map_back_to_their_nodes():
    import numpy as np

    a, b = np.array([0, 4, 9]), np.array([4, 9, 2])
    assert addr.node_of_address(addr.loopback_ip(9), a, b) == 9
    assert addr.node_of_address(addr.link_ip(1, 0), a, b) == 4
    assert addr.node_of_address(addr.link_ip(2, 1), a, b) == 2
    assert all(len(addr.ifname(l)) <= 15 for l in (0, 10**6, addr.MAX_LINKS - 1))


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root to create a network namespace")
def test_route_dump_reads_the_same_routes_as_pyroute2_including_multipath():
    import secrets

    from pyroute2 import NetNS, netns

    name = f"sgemu-t{secrets.token_hex(3)}-dump"
    netns.create(name)
    try:
        with NetNS(name) as ipr:
            for ifname, ip in (("d0", "10.0.0.0"), ("d1", "10.0.0.2")):
                ipr.link("add", ifname=ifname, kind="veth", peer=f"p{ifname}")  # no dummy module here
                i = ipr.link_lookup(ifname=ifname)[0]
                ipr.link("set", index=i, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname=f"p{ifname}")[0], state="up")
                ipr.addr("add", index=i, address=ip, prefixlen=31)
            d0, d1 = ipr.link_lookup(ifname="d0")[0], ipr.link_lookup(ifname="d1")[0]
            ipr.route("add", dst=addr.loopback_ip(5), dst_len=32, gateway=addr.link_ip(0, 1), oif=d0)
            ipr.route("add", dst=addr.loopback_ip(6), dst_len=32, gateway=addr.link_ip(1, 1), oif=d1, proto=188)
            ipr.route("add", dst=addr.loopback_ip(7), dst_len=32,
                      multipath=[{"gateway": addr.link_ip(0, 1), "oif": d0}, {"gateway": addr.link_ip(1, 1), "oif": d1}])
            ipr.route("add", dst="10.200.0.0", dst_len=16, gateway=addr.link_ip(0, 1), oif=d0)  # not a /32
            ipr.route("add", dst=addr.loopback_ip(8), dst_len=32, gateway=addr.link_ip(0, 1), oif=d0, table=100)
            expected = {}
            for r in ipr.get_routes(family=socket.AF_INET, table=254):
                if r["dst_len"] != 32 or r.get_attr("RTA_TABLE") != 254:
                    continue
                mp = r.get_attr("RTA_MULTIPATH")
                gws = [nh.get_attr("RTA_GATEWAY") for nh in mp] if mp else [r.get_attr("RTA_GATEWAY")]
                if gws and gws[0]:
                    expected[r.get_attr("RTA_DST")] = [addr.LINK_BASE + int(g.split(".")[-1]) for g in gws]
        batch = NetlinkBatch(name)
        try:
            got = batch.host_routes()
        finally:
            batch.close()
        assert {socket.inet_ntoa(d.to_bytes(4, "big")): list(g) for d, g in got.items()} == expected
        assert set(expected) == {addr.loopback_ip(5), addr.loopback_ip(6), addr.loopback_ip(7)}
        assert len(expected[addr.loopback_ip(7)]) == 2
    finally:
        netns.remove(name)
