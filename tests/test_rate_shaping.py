"""A link's per-step capacity paces real packets on this host's kernel (TBF; needs root, not netem).

Two ground nodes joined by one link whose capacity changes from one step to
the next: iperf3 UDP, sent at twice the capacity, is received at the
capacity (within 10 %) before and after the change, and TCP follows too.
The TBF messages are packed by hand; the first test reads them back with
pyroute2's own decoder (no kernel needed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import time

import numpy as np
import pytest

from emulator.netem import TbfParams, tbf_body
from emulator.namespaces import our_namespaces
from orbits.timebase import TimeAxis
from topologies.series import LinkSeries

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")


def test_tbf_message_decodes_to_the_rate_bucket_and_queue_asked_for():
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    body = tbf_body(9, TbfParams(rate_mbit=20.0, limit_bytes=151400))
    raw = bytearray(16 + len(body))
    raw[:4] = (16 + len(body)).to_bytes(4, "little")
    raw[16:] = body
    msg = tcmsg(bytes(raw))
    msg.decode()
    assert msg["index"] == 9 and msg.get_attr("TCA_KIND") == "tbf"
    parms = msg.get_attr("TCA_OPTIONS").get_attr("TCA_TBF_PARMS")
    assert parms["rate"] == 20e6 / 8 and parms["limit"] == 151400
    # bucket: 10 ms at 2.5 MB/s is 25 kB, below the 32 KiB floor; buffer is its time at the rate
    from pyroute2.netlink.rtnl.tcmsg import common
    assert parms["buffer"] == round(32768 / 2.5e6 * 1e6 * common.tick_in_usec)


class _StepCapacity(LinkSeries):
    """A link series with a per-step capacity table (time, link), as the link budget produces."""

    cap_table: np.ndarray = None

    def capacity_at(self, k: int) -> np.ndarray:
        return self.cap_table[k, self.active(k)[0]]


def two_node_series(capacity_mbps: list[float]) -> _StepCapacity:
    """Ground nodes A and B, one ground link up at every step with the given capacity per step."""
    n = len(capacity_mbps)
    s = _StepCapacity(
        axis=TimeAxis(dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc), 1.0, n),
        node_names=["A", "B"], node_layer=["GROUND", "GROUND"], node_shell=["g", "g"],
        link_a=np.array([0], np.int32), link_b=np.array([1], np.int32), link_kind=np.array([2], np.int8),
        ms_per_km=np.ones(1), capacity_mbps=np.full(1, np.nan), loss_pct=np.full(1, np.nan),
        indptr=np.arange(n + 1, dtype=np.int64), link_id=np.zeros(n, np.int32),
        distance_km=np.ones(n, np.float32))
    s.cap_table = np.array(capacity_mbps, dtype=float)[:, None]
    return s


@pytest.fixture
def tbf_net():
    from emulator.network import EmulatedNetwork

    tag = "t" + secrets.token_hex(3)
    made = []

    def make(series):
        made.append(EmulatedNetwork(series, shaping="tbf", run_tag=tag, queue_limit_pkts=100))
        return made[-1]

    yield make
    for n in made:
        n.stop()
    assert [x for x in our_namespaces() if x.startswith(f"sgemu-{tag}-")] == []


def iperf3_received_mbps(net, src, dst, argv_extra, seconds, during=None) -> list[float]:
    """Receiver-side Mbit/s per 1 s interval of one iperf3 run; ``during(t_s)`` is called each 0.1 s."""
    server = net.host(dst).popen(["iperf3", "-s", "-1", "-J", "-B", net.address(dst)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    client = net.host(src).popen(["iperf3", "-c", net.address(dst), "-B", net.address(src), "-t", str(seconds),
                                  "-J", "--connect-timeout", "3000", *argv_extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while client.poll() is None and during is not None:
        during(time.monotonic() - t0)
        time.sleep(0.1)
    client.wait(timeout=seconds + 20)
    out, _ = server.communicate(timeout=20)
    data = json.loads(out)
    return [iv["sum"]["bits_per_second"] / 1e6 for iv in data["intervals"]]


def _apply_at(net, t_change_s: float, k: int):
    def during(t_s):
        if t_s >= t_change_s and net.step < k:
            net.apply_step(k)
    return during


@root
def test_udp_is_received_at_the_link_capacity_before_and_after_it_changes(tbf_net):
    net = tbf_net(two_node_series([20.0, 8.0]))
    st = net.start(0)
    assert st.rates_set == 1  # one link, both ends in one change
    mbps = iperf3_received_mbps(net, "A", "B", ["-u", "-b", "40M"], 6, _apply_at(net, 3.3, 1))
    assert len(mbps) >= 6, mbps
    # intervals 1-2 before the change, 4-5 after (interval 3 holds it); within 10 %
    assert np.mean(mbps[1:3]) == pytest.approx(20.0, rel=0.1), mbps
    assert np.mean(mbps[4:6]) == pytest.approx(8.0, rel=0.1), mbps


@root
def test_tcp_follows_the_link_capacity_as_it_rises(tbf_net):
    net = tbf_net(two_node_series([5.0, 15.0]))
    net.start(0)
    # cubic, not the kernel's default: this machine's kernel defaults to bbr, whose bandwidth probing
    # (a 1.25 gain one round in eight) took up to 2 s to find the new rate here -- a property of bbr,
    # measured by the congestion-control test below, not of the shaping
    mbps = iperf3_received_mbps(net, "A", "B", ["-C", "cubic"], 7, _apply_at(net, 3.3, 1))
    assert len(mbps) >= 7, mbps
    # goodput: TBF counts Ethernet + IP + TCP headers, about 4 % of a full segment; within 10 %
    # (intervals 1-2 before the change, 5-6 after it; interval 3 holds it, 4 the ramp)
    assert np.mean(mbps[1:3]) == pytest.approx(5.0 * 0.96, rel=0.1), mbps
    assert np.mean(mbps[5:7]) == pytest.approx(15.0 * 0.96, rel=0.1), mbps


@root
def test_only_changed_rates_are_sent_and_an_unpaced_link_loses_its_qdisc(tbf_net):
    from emulator.netem import tbf_read_all

    net = tbf_net(two_node_series([10.0, 10.0, 30.0, np.nan]))
    net.start(0)
    a_end = net.created[0][0]
    assert tbf_read_all(net.nodes[0].ipr)[a_end].rate_mbit == pytest.approx(10.0)
    assert net.apply_step(1).rates_set == 0
    assert net.apply_step(2).rates_set == 1
    assert tbf_read_all(net.nodes[1].ipr)[net.created[0][1]].rate_mbit == pytest.approx(30.0)
    assert net.apply_step(3).rates_set == 1
    assert a_end not in tbf_read_all(net.nodes[0].ipr)


@pytest.mark.parametrize("item, field", [
    ({"congestion": "vegas"}, "experiments[0].congestion: 'vegas'; accepted: cubic, bbr, reno"),
    ({"congestion": "bbr", "protocol": "udp"}, "experiments[0].congestion: only for protocol tcp"),
])
def test_a_congestion_control_is_checked_before_anything_runs(item, field):
    from experiments.spec import ExperimentError, check_experiments, parse_experiments

    exps = parse_experiments([{"type": "iperf3", "src": "A", "dst": "B", **item}])
    with pytest.raises(ExperimentError) as err:
        check_experiments(exps, ["A", "B"], {"a", "b"}, 10.0)
    assert str(err.value) == field


@root
@pytest.mark.parametrize("congestion", ["cubic", "bbr"])
def test_iperf3_runs_with_the_chosen_congestion_control_and_records_rtt_and_retransmits(tbf_net, tmp_path,
                                                                                          congestion):
    from experiments import tools
    from experiments.results import iperf3_intervals
    from experiments.spec import Iperf3, available_congestion

    if congestion not in available_congestion():
        pytest.skip(f"{congestion} is not available in this kernel")
    net = tbf_net(two_node_series([10.0]))
    net.start(0)
    run = tools.start(Iperf3("A", "B", congestion=congestion), net, tmp_path, run_end_s=5.0, speed=1.0, index=0)
    tools.stop_all([run], wait_s=20.0)
    data = json.loads(run.out.read_text())
    assert data["end"]["sender_tcp_congestion"] == congestion
    ivs = iperf3_intervals(run.out)
    assert len(ivs) >= 3
    assert all(iv["rtt_ms"] is not None and iv["rtt_ms"] > 0 and iv["retransmits"] is not None for iv in ivs)
    # what arrived (the receiver's count): the sender's intervals also count bytes still queued
    # behind the TBF, which bbr's probing overfills by up to 10 % here
    received_mbps = data["end"]["sum_received"]["bits_per_second"] / 1e6
    assert received_mbps == pytest.approx(10.0 * 0.96, rel=0.1), received_mbps
    assert np.mean([iv["mbps"] for iv in ivs[1:]]) == pytest.approx(10.0 * 0.96, rel=0.2)
