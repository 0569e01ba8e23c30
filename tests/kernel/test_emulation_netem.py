"""The emulated network with netem: delays, delay changes, handovers, a whole run.

Small hand-made link series keep the VM lane fast: a 3-node chain
(station - satellite - station) whose delays change mid-run, and a
handover from one satellite to another with a ping stream running across
it; a weather fade on one of two stations' links.  The last test runs ``sgemu run`` on the default scenario for 60 s at
1x and holds it to the issue's bar: at least 95 % of ping samples within
max(1 ms, 5 %) of the predicted RTT.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from emulator.namespaces import our_namespaces
from orbits.timebase import TimeAxis
from topologies.series import LinkSeries

pytestmark = pytest.mark.kernel

_RTT = re.compile(r"time=([\d.]+) ms")


def series_from_delays(names, layers, pairs, delay_ms, loss_pct=None, rate_mbit=None):
    """A LinkSeries from a (time, link) table of one-way delays (NaN = link down)."""
    delay_ms = np.asarray(delay_ms, dtype=float)
    T, L = delay_ms.shape
    up = np.isfinite(delay_ms)
    steps, links = np.nonzero(up)
    return LinkSeries(
        axis=TimeAxis(dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc), 1.0, T),
        node_names=list(names), node_layer=list(layers), node_shell=["x"] * len(names),
        link_a=np.array([a for a, b in pairs], dtype=np.int32),
        link_b=np.array([b for a, b in pairs], dtype=np.int32),
        link_kind=np.full(L, 2, dtype=np.int8),
        ms_per_km=np.ones(L),
        capacity_mbps=np.full(L, np.nan if rate_mbit is None else rate_mbit),
        loss_pct=np.full(L, np.nan if loss_pct is None else loss_pct),
        indptr=np.concatenate([[0], np.cumsum(up.sum(axis=1))]).astype(np.int64),
        link_id=links.astype(np.int32),
        distance_km=delay_ms[steps, links].astype(np.float32),
    )


def pings(net, src, dst, count=6, interval=0.2):
    """RTTs (ms) of a ping burst from src to dst, after one warm-up ping that is not counted."""
    net.host(src).cmd("ping", "-n", "-c", 1, "-W", "3", "-I", net.address(src), net.address(dst))
    out = net.host(src).cmd("ping", "-n", "-c", count, "-i", interval, "-W", "3",
                            "-I", net.address(src), net.address(dst))
    return [float(x) for x in _RTT.findall(out)]


def within(measured, expected):
    """The chain tests' bound from the issue: 1 ms + 5 %."""
    return abs(measured - expected) <= 1.0 + 0.05 * expected


def follows(rtt_ms, expected_ms, share=0.75):
    """RTT samples (shape (n,)) that show a configured path RTT: none earlier than it allows (netem never
    releases a packet early), the median within the issue's bound, and most samples within it.  The
    software-emulated test VM stalls now and then for a few ms, which only ever makes a sample later."""
    rtt_ms = np.asarray(rtt_ms, dtype=float)
    never_early = bool(np.all(rtt_ms >= expected_ms - 1.0 - 0.05 * expected_ms))
    return never_early and within(float(np.median(rtt_ms)), expected_ms) and \
        float(np.mean([within(r, expected_ms) for r in rtt_ms])) >= share


@pytest.fixture
def network():
    from emulator.network import EmulatedNetwork

    before = set(our_namespaces())
    made = []

    def make(series, **kw):
        made.append(EmulatedNetwork(series, **kw))
        return made[-1]

    yield make
    for n in made:
        n.stop()
    assert set(our_namespaces()) == before


def test_chain_rtt_is_twice_the_path_delay_and_follows_a_change(network):
    # A -- S -- B.  Step 0 has zero delay: what the kernel (or the test VM, where
    # software emulation costs ~0.5 ms per netem hop) adds by itself.  Step 1
    # sets 10 + 15 ms one way; at step 3 the A-S link lengthens to 30 ms.
    delays = [[0.0, 0.0], [10.0, 15.0], [10.0, 15.0], [30.0, 15.0]]
    s = series_from_delays(["A", "S", "B"], ["GROUND", "LEO", "GROUND"], [(0, 1), (1, 2)], delays,
                           loss_pct=0.001, rate_mbit=100.0)
    net = network(s)
    net.start(0)
    base = float(np.median(pings(net, "A", "B")))
    assert base < 10.0, f"{base} ms with no delay configured: something adds latency"
    net.apply_step(1)
    rtt = pings(net, "A", "B")
    assert len(rtt) == 6 and follows(np.array(rtt) - base, 50.0), (base, rtt)
    net.apply_step(3)
    rtt = pings(net, "A", "B", count=4)
    assert follows(np.array(rtt) - base, 90.0), (base, rtt)  # the first ping after the change shows it
    node = net.nodes[0]
    kept = node.shaper.read(net.created[0][0])  # the kernel's own view after a batched change
    assert kept.delay_ms == pytest.approx(30.0, abs=1e-3)
    assert kept.loss_pct == pytest.approx(0.001, rel=1e-3) and kept.rate_mbit == pytest.approx(100.0)


def test_handover_keeps_pings_flowing_through_the_new_satellite(network):
    # Step 0: A reaches B over S1 with no delay (what the platform adds by itself).  Then over S1 for
    # steps 1-5 (RTT 2 x 40 ms) and over S2 from step 6 on (2 x 50 ms), one step every 0.5 s.
    nan = np.nan
    over_s1 = [20.0, 20.0, nan, nan]
    over_s2 = [nan, nan, 25.0, 25.0]
    delays = [[0.0, 0.0, nan, nan]] + [over_s1] * 5 + [over_s2] * 5
    s = series_from_delays(["A", "S1", "S2", "B"], ["GROUND", "LEO", "LEO", "GROUND"],
                           [(0, 1), (1, 3), (0, 2), (2, 3)], delays)
    net = network(s)
    net.start(0)
    base = float(np.median(pings(net, "A", "B")))
    assert base < 10.0, f"{base} ms with no delay configured: something adds latency"
    interval, step_wall = 0.05, 0.5
    host = net.host("A")
    net.apply_step(1)
    proc = host.popen(["ping", "-n", "-D", "-i", str(interval), "-c", str(int(10 * step_wall / interval)),
                       "-W", "1", net.address("B")], stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    for k in range(2, 11):
        time.sleep(max(0.0, t0 + (k - 1) * step_wall - time.time()))
        net.apply_step(k)
    out, _ = proc.communicate(timeout=30)
    samples = [(float(ts) - float(r) / 1000 - t0, float(r))  # (send time after step 0, RTT ms)
               for ts, r in re.findall(r"^\[([\d.]+)\].*time=([\d.]+) ms", out, re.M)]
    sent = int(re.search(r"(\d+) packets transmitted", out).group(1))
    lost = sent - len(samples)
    assert lost <= step_wall / interval, f"lost {lost} of {sent}: more than one step's worth"
    before = [r for t, r in samples if t < 5 * step_wall - 0.1]
    after = [r for t, r in samples if t > 6 * step_wall]
    assert len(after) >= 0.9 * (4 * step_wall / interval), f"pings stopped flowing: {len(after)} after the handover"
    # the VM's own scheduling hiccups can delay a sample or two; the path shows in the bulk of them
    assert follows(np.array(before) - base, 80.0, share=0.85), (base, before)
    assert follows(np.array(after) - base, 100.0, share=0.85), (base, after)  # now through S2


def test_calibration_cancels_the_platforms_own_netem_lateness(network):
    # the run's default (emulation.calibrate: auto): measure how late netem releases packets here, then
    # configure every delay that much shorter.  The same 2-hop chain (4 netem traversals per ping) is built
    # without and with the offset: the RTT must drop by 4 x offset, and stay within the chain bar.
    from emulator.calibrate import netem_overshoot_ms

    offset = netem_overshoot_ms()
    assert 0.0 <= offset < 3.0, offset
    s = series_from_delays(["A", "S", "B"], ["GROUND", "LEO", "GROUND"], [(0, 1), (1, 2)], [[10.0, 15.0]])
    rtt = {}
    for label, off in (("raw", 0.0), ("calibrated", offset)):
        net = network(s, delay_offset_ms=off)
        net.start(0)
        assert net.nodes[0].shaper.read(net.created[0][0]).delay_ms == pytest.approx(max(0.0, 10.0 - off), abs=1e-3)
        rtt[label] = float(np.median(pings(net, "A", "B", count=30, interval=0.05)))
        net.stop()
    print(f"\nnetem lateness here {offset:.3f} ms per traversal; 50 ms chain measured {rtt['raw']:.2f} ms raw, "
          f"{rtt['calibrated']:.2f} ms calibrated")
    # 4 x offset in theory; each median also carries the VM's forwarding cost, which differed by up to
    # 1 ms between two builds of the same chain (raw 52.9 ms, calibrated 50.0 ms, offset 0.47 ms, seen in CI)
    drop = rtt["raw"] - rtt["calibrated"]
    assert 2 * offset - 0.25 <= drop <= 4 * offset + 1.25, (drop, offset, rtt)
    assert abs(rtt["calibrated"] - 50.0) <= abs(rtt["raw"] - 50.0) + 0.25, rtt
    assert within(rtt["calibrated"], 50.0), rtt


def _loss_pct(net, src, dst, count=200, interval=0.02):
    out = net.host(src).cmd("ping", "-n", "-q", "-c", count, "-i", interval, "-W", "1",
                            "-I", net.address(src), net.address(dst))
    return float(re.search(r"([\d.]+)% packet loss", out).group(1))


def test_weather_fade_raises_loss_on_that_ground_link_only(network):
    # stations A and B both see satellite S; a 30 % fade hits A's link during steps 1-2 only
    from topologies.events import apply_events, parse_events

    s = series_from_delays(["A", "B", "S"], ["GROUND", "GROUND", "LEO"], [(0, 2), (1, 2)], [[1.0, 1.0]] * 4)
    s = apply_events(s, parse_events(s, [{"type": "weather-fade", "stations": ["A"], "loss_pct": 30,
                                          "at_s": 1, "until_s": 3}]))
    net = network(s)
    net.start(0)
    assert _loss_pct(net, "A", "S", count=50) == 0.0
    st = net.apply_step(1)
    assert st.losses_set == 1
    faded, clear = _loss_pct(net, "A", "S"), _loss_pct(net, "B", "S")
    # 30 % each way: a ping survives with probability 0.7 ** 2, so ~51 % are lost (200 pings: sd 3.5 %)
    assert 35.0 <= faded <= 67.0, faded
    assert clear == 0.0
    a_end = net.created[0][0]
    assert net.nodes[0].shaper.read(a_end).loss_pct == pytest.approx(30.0, rel=1e-3)
    assert net.nodes[0].shaper.read(a_end).delay_ms == pytest.approx(1.0, abs=1e-3)  # delay kept
    net.apply_step(2)
    assert net.apply_step(3).losses_set == 1  # the window is over
    assert _loss_pct(net, "A", "S", count=50) == 0.0


def test_ospf_over_netem_links_takes_the_shorter_delay_and_reroutes_around_a_cut(network, tmp_path):
    # A ring of stations A, B and satellites S1, S2 (links: 0 A-S1, 1 S1-B, 2 B-S2, 3 A-S2).  With delay
    # costs OSPF must pick S1 (RTT 2 x 10 ms); after A-S1 is cut, S2 (2 x 40 ms) within the dead interval.
    from emulator.frr import FrrNetwork, frr_missing
    from experiments.routewatch import OspfTarget, RouteWatch

    if frr_missing():
        pytest.skip(f"FRR cannot run here: {frr_missing()}")
    nan = np.nan
    s = series_from_delays(["A", "S1", "B", "S2"], ["GROUND", "LEO", "GROUND", "LEO"], [(0, 1), (1, 2), (2, 3), (0, 3)],
                           [[5.0, 5.0, 20.0, 20.0], [nan, 5.0, 20.0, 20.0]])
    net = network(s, routing="none")
    net.start(0)
    frr = FrrNetwork(net, tmp_path / "frr", hello_s=1, dead_s=4)
    try:
        frr.start(0)
        watch = RouteWatch(net, OspfTarget(frr), 1.0, give_up_s=60)
        watch.notify(0, time.time())
        deadline = time.time() + 90
        while time.time() < deadline and not (watch.records and watch.records[0]["converged_s"] is not None):
            time.sleep(0.2)
        assert watch.records[0]["converged_s"] is not None, "OSPF never installed the shortest routes"
        rtt = pings(net, "A", "B", count=5)
        assert len(rtt) == 5 and np.median(rtt) == pytest.approx(20.0, abs=1.0 + 0.05 * 20 + 1.0), rtt
        due = time.time()
        net.apply_step(1)
        watch.notify(1, due)
        while time.time() < due + 60 and not (len(watch.records) > 1 and watch.records[1]["converged_s"] is not None):
            time.sleep(0.2)
        rec = watch.records[1]
        assert rec["converged_s"] is not None and rec["converged_s"] <= 4 + 2, rec  # within the dead interval (+ slack)
        rtt = pings(net, "A", "B", count=5)
        assert len(rtt) == 5 and np.median(rtt) == pytest.approx(80.0, abs=1.0 + 0.05 * 80 + 1.0), rtt
        watch.close()
        print(f"\nOSPF over netem: routes right {watch.records[0]['converged_s']:.1f} s after start, "
              f"{rec['converged_s']:.2f} s after the cut ({rec['routes_changed']} routes changed)")
    finally:
        frr.stop()


@pytest.mark.long
def test_default_scenario_measured_rtt_matches_prediction(tmp_path_factory):
    import os

    out = tmp_path_factory.mktemp("run", numbered=True)
    before = set(our_namespaces())
    env = dict(os.environ, MPLCONFIGDIR=str(out / "mpl"))
    r = subprocess.run([sys.executable, "-m", "sgemu", "run", "--duration", "60", "--ping", "Beijing:Kashi",
                        "--out", str(out / "run"), "-q"], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert set(our_namespaces()) == before
    summary = json.loads((out / "run" / "summary.json").read_text())
    pair = summary["pairs"]["Beijing->Kashi"]
    print(json.dumps(summary["clock"]), json.dumps(pair))
    import csv

    rows = list(csv.DictReader(open(out / "run" / "results.csv")))
    off = [r for r in rows if r["rtt_ms_predicted"] and abs(float(r["rtt_ms_measured"]) - float(r["rtt_ms_predicted"]))
           > max(1.0, 0.05 * float(r["rtt_ms_predicted"]))]
    print("samples off the prediction:", [(r["t_s"], r["rtt_ms_measured"], r["rtt_ms_predicted"]) for r in off])
    assert pair["received"] >= 0.9 * pair["sent"]
    assert pair["agree_pct"] >= 95.0, pair
