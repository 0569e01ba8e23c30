"""netem delay seen by ping between two namespaces, and changed in place.

Namespaces A and B are joined by a veth pair; each end carries a root netem
qdisc.  netem delays egress only, so with ``d`` ms on each end the ping
round trip is ``2 d`` plus a few microseconds of real work.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from emulator.netem import NetemShaper

pytestmark = pytest.mark.kernel

ADDR_A, ADDR_B, PREFIX_LEN = "10.231.0.1", "10.231.0.2", 30
LOSS_PCT = 0.001  # non-zero so the change test can see it kept; ~never drops a ping
RATE_MBIT = 100.0
_RTT = re.compile(r"= [\d.]+/([\d.]+)/[\d.]+")  # "rtt min/avg/max/mdev = 40.1/40.2/40.4/0.1 ms"


def ping_avg_ms(netns_name: str, address: str, count: int = 5) -> float:
    """Average RTT of ``ping -c count -i 0.2`` run inside a namespace."""
    subprocess.run(["ip", "netns", "exec", netns_name, "ping", "-c", "1", "-W", "5", address],
                   check=True, capture_output=True, timeout=30)  # resolve ARP first
    done = subprocess.run(
        ["ip", "netns", "exec", netns_name, "ping", "-q", "-c", str(count), "-i", "0.2",
         "-W", "5", address],
        check=True, capture_output=True, text=True, timeout=60)
    match = _RTT.search(done.stdout)
    assert match, done.stdout
    return float(match.group(1))


def within(measured_ms: float, expected_ms: float) -> bool:
    return abs(measured_ms - expected_ms) <= 1.0 + 0.05 * expected_ms


@pytest.fixture
def linked_pair(netns_factory):
    """Two namespaces joined by a veth pair, addressed and up: (name, ipr, ifindex) x 2."""
    name_a, ipr_a = netns_factory("a")
    name_b, ipr_b = netns_factory("b")
    ipr_a.link("add", ifname="sga", kind="veth", peer="sgb")
    (peer,) = ipr_a.link_lookup(ifname="sgb")
    ipr_a.link("set", index=peer, net_ns_fd=name_b)
    ends = []
    for name, ipr, ifname, address in ((name_a, ipr_a, "sga", ADDR_A),
                                       (name_b, ipr_b, "sgb", ADDR_B)):
        (index,) = ipr.link_lookup(ifname=ifname)
        ipr.addr("add", index=index, address=address, prefixlen=PREFIX_LEN)
        ipr.link("set", index=index, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        ends.append((name, ipr, index))
    return ends


def test_delay_shows_in_ping_and_changes_in_place(linked_pair):
    (name_a, ipr_a, index_a), (_, ipr_b, index_b) = linked_pair
    shapers = [(NetemShaper(ipr_a), index_a), (NetemShaper(ipr_b), index_b)]
    for shaper, index in shapers:
        shaper.add(index, delay_ms=20.0, loss_pct=LOSS_PCT, rate_mbit=RATE_MBIT)

    rtt_ms = ping_avg_ms(name_a, ADDR_B)
    assert within(rtt_ms, 40.0), f"RTT {rtt_ms} ms with 20 ms each way"

    for shaper, index in shapers:
        shaper.set_delay(index, 50.0)
    rtt_ms = ping_avg_ms(name_a, ADDR_B)
    assert within(rtt_ms, 100.0), f"RTT {rtt_ms} ms with 50 ms each way"

    for shaper, index in shapers:
        now = shaper.read(index)  # from the kernel, not the shaper's note
        assert now.delay_ms == pytest.approx(50.0, abs=1e-3)
        assert now.loss_pct == pytest.approx(LOSS_PCT, rel=1e-3)
        assert now.rate_mbit == pytest.approx(RATE_MBIT)
