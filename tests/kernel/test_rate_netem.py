"""A ground link's computed capacity, applied per step with netem, is what iperf3 gets (within 10 %).

Two ground nodes joined by one link carrying 10 ms one way; its capacity
changes mid-run (the per-step ``capacity_at`` a link budget produces) and
the emulator changes netem's rate in place, keeping the delay.  UDP sent
above the capacity is received at the capacity; TCP's goodput follows it
(minus its Ethernet/IP/TCP headers, about 4 %).  Rates are kept at 1-2
Mbit/s because the VM lane emulates its CPU in software: on a loaded
machine it could not send 12 Mbit/s of UDP.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

import numpy as np
import pytest

from emulator.namespaces import our_namespaces
from orbits.timebase import TimeAxis
from topologies.series import LinkSeries

pytestmark = pytest.mark.kernel


class _StepCapacity(LinkSeries):
    """A link series with a per-step capacity table (time, link)."""

    cap_table: np.ndarray = None

    def capacity_at(self, k: int) -> np.ndarray:
        return self.cap_table[k, self.active(k)[0]]


def two_node_series(capacity_mbps, delay_ms: float = 10.0) -> _StepCapacity:
    n = len(capacity_mbps)
    s = _StepCapacity(
        axis=TimeAxis(dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc), 1.0, n),
        node_names=["A", "B"], node_layer=["GROUND", "GROUND"], node_shell=["g", "g"],
        link_a=np.array([0], np.int32), link_b=np.array([1], np.int32), link_kind=np.array([2], np.int8),
        ms_per_km=np.ones(1), capacity_mbps=np.full(1, np.nan), loss_pct=np.full(1, np.nan),
        indptr=np.arange(n + 1, dtype=np.int64), link_id=np.zeros(n, np.int32),
        distance_km=np.full(n, delay_ms, np.float32))
    s.cap_table = np.array(capacity_mbps, dtype=float)[:, None]
    return s


@pytest.fixture
def netem_net():
    from emulator.network import EmulatedNetwork

    before = set(our_namespaces())
    made = []

    def make(series):
        made.append(EmulatedNetwork(series, shaping=True, queue_limit_pkts=200))
        return made[-1]

    yield make
    for n in made:
        n.stop()
    assert set(our_namespaces()) == before


def received_mbps(net, argv_extra, seconds: int, change_at_s: float) -> list[float]:
    """Receiver-side Mbit/s per 1 s interval; step 1 is applied ``change_at_s`` after the client starts."""
    server = net.host("B").popen(["iperf3", "-s", "-1", "-J", "-B", net.address("B")],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    client = net.host("A").popen(["iperf3", "-c", net.address("B"), "-B", net.address("A"), "-t", str(seconds),
                                  "-J", "--connect-timeout", "10000", *argv_extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while client.poll() is None:
        if time.monotonic() - t0 >= change_at_s and net.step < 1:
            net.apply_step(1)
        time.sleep(0.05)
    out, _ = server.communicate(timeout=60)
    return [iv["sum"]["bits_per_second"] / 1e6 for iv in json.loads(out)["intervals"]]


def test_udp_follows_a_capacity_drop_within_10_percent(netem_net):
    net = netem_net(two_node_series([2.0, 1.0]))
    net.start(0)
    kept = net.nodes[0].shaper.read(net.created[0][0])
    assert kept.rate_mbit == pytest.approx(2.0) and kept.delay_ms == pytest.approx(10.0, abs=1e-3)
    mbps = received_mbps(net, ["-u", "-b", "3M"], 8, 3.5)
    print(f"UDP received Mbit/s per second, capacity 2 then 1: {np.round(mbps, 2).tolist()}")
    # intervals 1-2 before the change, 5-7 after: the VM is slow to start the client, so the server's
    # intervals begin up to a second after the change timer does (interval 4 once held the change)
    assert np.mean(mbps[1:3]) == pytest.approx(2.0, rel=0.1), mbps
    assert np.mean(mbps[5:8]) == pytest.approx(1.0, rel=0.1), mbps
    kept = net.nodes[1].shaper.read(net.created[0][1])
    assert kept.rate_mbit == pytest.approx(1.0) and kept.delay_ms == pytest.approx(10.0, abs=1e-3)


def test_tcp_follows_a_capacity_rise_within_10_percent(netem_net):
    net = netem_net(two_node_series([1.0, 2.0]))
    net.start(0)
    mbps = received_mbps(net, [], 8, 4.0)
    print(f"TCP received Mbit/s per second, capacity 1 then 2: {np.round(mbps, 2).tolist()}")
    # intervals 1-2 before the change, 5-7 after: the VM is slow to start the client, so the server's
    # intervals begin up to a second after the change timer does
    assert np.mean(mbps[1:3]) == pytest.approx(1.0 * 0.96, rel=0.1), mbps
    assert np.mean(mbps[5:8]) == pytest.approx(2.0 * 0.96, rel=0.1), mbps
