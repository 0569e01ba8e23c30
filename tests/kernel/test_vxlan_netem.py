"""A cross-host VXLAN link with netem, its underlay delay compensated (no Ray needed).

Two "host" namespaces are joined by a veth underlay that itself delays
packets (netem, ``UNDERLAY_MS`` each way: a slow network between
machines).  In each host namespace a VXLAN device to the other host is
created and moved into a "node" namespace (:func:`emulator.cluster.vxlan.add_vxlan`),
as the cluster's host agents do.  The underlay's one-way delay is measured
by ping between the hosts and subtracted from the link's configured delay;
ping between the nodes must then show the configured delay within
max(1 ms, 5 %), and the VXLAN MTU (underlay - 50) must carry exactly its
size with DF set.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from emulator import addressing as addr
from emulator.cluster import vxlan
from emulator.netem import NetemShaper

pytestmark = pytest.mark.kernel

UNDERLAY_MS = 6.0
LINK_MS = 40.0
HOST_IP = ("10.233.0.1", "10.233.0.2")
_AVG = re.compile(r"= [\d.]+/([\d.]+)/[\d.]+")


def ping_avg_ms(ns: str, address: str, count: int) -> float:
    """Mean RTT of ``ping -c count -i 0.2`` from a namespace (one ping first, unmeasured)."""
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "5", address],
                   check=True, capture_output=True, timeout=30)
    out = subprocess.run(["ip", "netns", "exec", ns, "ping", "-q", "-c", str(count), "-i", "0.2", "-W", "5",
                          address], check=True, capture_output=True, text=True, timeout=60).stdout
    m = _AVG.search(out)
    assert m, out
    return float(m.group(1))


def _underlay(netns_factory):
    """Two host namespaces on a veth pair with netem UNDERLAY_MS on both ends."""
    (ha, ipr_a), (hb, ipr_b) = netns_factory("ha"), netns_factory("hb")
    ipr_a.link("add", ifname="ul0", kind="veth", peer={"ifname": "ul0", "net_ns_fd": hb})
    for ipr, ip in ((ipr_a, HOST_IP[0]), (ipr_b, HOST_IP[1])):
        (i,) = ipr.link_lookup(ifname="ul0")
        ipr.addr("add", index=i, address=ip, prefixlen=30)
        ipr.link("set", index=i, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        NetemShaper(ipr).add(i, delay_ms=UNDERLAY_MS)
    return (ha, ipr_a), (hb, ipr_b)


def test_a_vxlan_link_shows_its_configured_delay_after_underlay_compensation(netns_factory):
    (ha, ipr_ha), (hb, ipr_hb) = _underlay(netns_factory)
    one_way_ms = ping_avg_ms(ha, HOST_IP[1], count=10) / 2
    assert one_way_ms >= UNDERLAY_MS - 0.5, one_way_ms   # at least as slow as made (VM timers add more)
    link = 7
    nodes = []
    for end, (host_ipr, label) in enumerate(((ipr_ha, "na"), (ipr_hb, "nb"))):
        ns, ipr = netns_factory(label)
        index = vxlan.add_vxlan(host_ipr, ns, addr.ifname(link), vxlan.vni_for("test", link),
                                HOST_IP[end], HOST_IP[1 - end], vxlan.DEFAULT_PORT,
                                addr.mac_text(addr.link_mac(link, end)), 1500 - vxlan.VXLAN_OVERHEAD)
        ipr.addr("add", index=index, address=addr.link_ip(link, end), prefixlen=31)
        ipr.neigh("add", dst=addr.link_ip(link, 1 - end), lladdr=addr.mac_text(addr.link_mac(link, 1 - end)),
                  ifindex=index, state=0x80)
        ipr.link("set", index=index, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        NetemShaper(ipr).add(index, delay_ms=max(0.0, LINK_MS - one_way_ms))
        nodes.append((ns, ipr, index))
    (na, ipr_na, ia) = nodes[0]
    assert ipr_na.get_links(ia)[0].get_attr("IFLA_MTU") == 1450
    rtt_ms = ping_avg_ms(na, addr.link_ip(link, 1), count=10)
    assert abs(rtt_ms / 2 - LINK_MS) <= max(1.0, 0.05 * LINK_MS), \
        f"one way {rtt_ms / 2:.3f} ms for {LINK_MS} ms configured (underlay {one_way_ms:.3f} ms compensated)"
    # 1,450-byte packets pass with DF set, one byte more does not
    for size, ok in ((1450 - 28, True), (1451 - 28, False)):
        r = subprocess.run(["ip", "netns", "exec", na, "ping", "-c", "1", "-W", "3", "-M", "do", "-s", str(size),
                            addr.link_ip(link, 1)], capture_output=True, text=True, timeout=30)
        assert (r.returncode == 0) is ok, (size, r.stdout, r.stderr)
