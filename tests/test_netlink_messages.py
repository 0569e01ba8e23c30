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
