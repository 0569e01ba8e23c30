"""sgemu.Emulation with a routing strategy, TBF rate shaping and the options that select them
(live parts need root; no netem needed: this host's kernel has TBF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sgemu
from emulator.namespaces import our_namespaces

ROOT = Path(__file__).resolve().parents[1]
root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")
EXAMPLE = f"python: {ROOT / 'docs/examples/strategy_example.py'}:prefer_beidou"


def _ours(tag: str) -> list[str]:
    return [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")]


# -- checked before anything is built --------------------------------------------------------------
@pytest.mark.parametrize("kw, message", [
    ({"routing": "rip"}, "^routing: 'rip'; accepted: static, ospf, isis, shortest-delay"),
    ({"routing": {"strategy": "hold-down", "threshold_ratio": 0.5}}, "^routing.threshold_ratio"),
    ({"routing": {"strategy": "ecmp", "colour": 1}}, "^routing.colour: unknown parameter"),
    ({"routing": "python: no_such_module:f"}, "^routing: cannot import .no_such_module."),
    ({"shaping": "htb"}, "^shaping: 'htb'; accepted: auto, netem, tbf, none"),
    ({"queue_limit_pkts": 0}, "^emulation.queue_limit_pkts: 0; accepted"),
    ({"cluster": "a b"}, "^cluster: 'a b'; accepted: the Ray head's address HOST:PORT"),
    ({"cluster": "ray://h:10001"}, "^cluster: 'ray://h:10001'; accepted"),
    ({"cluster": "h:6379", "routing": "min-hop"}, "^routing: 'min-hop' across a cluster"),
    ({"cluster": "h:6379", "routing": {"strategy": "shortest-delay", "controller_delay_ms": 100}},
     "^routing: 'shortest-delay\\+100ms' across a cluster"),
])
def test_bad_routing_shaping_and_cluster_options_name_their_field(kw, message):
    scen = sgemu.Scenario.load(duration_s=10)
    before = our_namespaces()
    with pytest.raises(sgemu.ScenarioError, match=message):
        sgemu.Emulation(scen, **kw)
    assert our_namespaces() == before


def test_the_scenario_routing_key_takes_a_strategy_with_parameters():
    scen = sgemu.Scenario.load(duration_s=10, emulation={"routing": {"strategy": "hold-down", "threshold_ratio": 1.5,
                                                                     "controller_delay_ms": 200}})
    emu = sgemu.Emulation(scen)
    assert emu.routing == "static" and emu.routing_label == "hold-down(threshold_ratio=1.5)+200ms"
    with pytest.raises(sgemu.ScenarioError, match=r"^emulation.routing.threshold_ratio"):
        sgemu.Emulation(sgemu.Scenario.load(duration_s=10, emulation={"routing": {"strategy": "hold-down",
                                                                                  "threshold_ratio": -1}}))


def test_a_strategy_prediction_differs_from_the_delay_shortest_one_where_the_strategy_says_so():
    from docs.examples.strategy_example import prefer_beidou  # noqa: F401 - importable as the docs say

    scen = sgemu.Scenario.load(duration_s=120)
    plain = scen.route("Sanya", "Nairobi").to_frame()
    strat = scen.route("Sanya", "Nairobi", strategy={"strategy": EXAMPLE, "leo_penalty_ms": 60}).to_frame()
    assert len(plain) == len(strat) == 121
    assert (strat.rtt_ms >= plain.rtt_ms - 1e-9).all()  # never better than the optimum
    assert (strat.path != plain.path).any()


@pytest.mark.parametrize("text, expected", [
    ("ospf", "ospf"), ("static", "static"), ("min-hop", "min-hop"),
    ("hold-down:threshold_ratio=1.5:controller_delay_ms=200",
     {"strategy": "hold-down", "threshold_ratio": 1.5, "controller_delay_ms": 200}),
    ("python: mod:fn", "python: mod:fn"),
])
def test_the_routing_option_reads_names_and_parameters(text, expected):
    from sgemu.runconfig import routing_option

    assert routing_option(text) == expected


def test_sgemu_run_names_a_bad_routing_option_and_builds_nothing():
    r = subprocess.run([sys.executable, "-m", "sgemu", "run", "--duration", "10", "--routing", "hold-down:ratio=2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("sgemu: error: --routing.ratio: unknown parameter"), r.stderr


# -- live -----------------------------------------------------------------------------------------------
def prefer_beidou_60(graph, prev):
    """A plain callable strategy for ``Emulation(routing=callable)``."""
    from docs.examples.strategy_example import prefer_beidou

    return prefer_beidou(graph, prev, leo_penalty_ms=60)


@root
def test_a_callable_strategy_drives_the_kernel_routes_and_the_prediction(tmp_path):
    scen = sgemu.Scenario.load(duration_s=120)
    pairs = [("Sanya", "Nairobi"), ("Kashi", "Karachi")]
    differs = 0
    with sgemu.Emulation(scen, shaping="none", routing=prefer_beidou_60, out=tmp_path) as emu:
        tag = emu.network.run_tag
        assert emu.routing_label == "prefer_beidou_60"
        for t_s in (0, 60, 119):
            if t_s:
                emu.advance(t_s)
            for a, b in pairs:
                want = emu.predicted_path(a, b)
                assert emu.traceroute(a, b) == want, (t_s, a, b)
                differs += want != scen.route(a, b).to_frame().path[emu.k].split()
                assert emu.next_hops(a)[b] == [want[1]]
    assert differs >= 1, "the strategy chose the delay-shortest paths: the test would prove nothing"
    assert _ours(tag) == []


SMALL = {"name": "tbf-check", "start": "2024-07-16T00:00:00Z", "duration_s": 60, "step_s": 10,
         "constellations": [{"name": "leo", "preset": "iridium"}], "stations": ["Beijing", "Kashi"],
         "links": [{"rule": "plus-grid", "group": "leo"},
                   {"rule": "ground", "group": "leo", "policy": "nearest", "min_elevation_deg": 10}],
         "link_budget": {"ground": {"profile": "leo-ku-user", "share": 0.01}}}


def _tbf_ends(emu, station: str) -> dict:
    """The station's ground link now, per end ("station", "satellite"): (kernel TBF rate Mbit/s, the
    series' capacity of that end's direction, TBF queue bytes)."""
    from emulator.netem import tbf_read_all

    s, net = emu.series, emu.network
    i = s.node_names.index(station)
    ids = s.active(emu.k)[0].tolist()
    (pos, link), = [(n, l) for n, l in enumerate(ids) if i in (s.link_a[l], s.link_b[l])]
    caps = s.capacity_by_end_at(emu.k)
    out = {}
    for end, node in enumerate((int(s.link_a[link]), int(s.link_b[link]))):
        tbf = tbf_read_all(net.nodes[node].ipr)[net.created[link][end]]
        out["station" if node == i else "satellite"] = (tbf.rate_mbit, float(caps[end][pos]), tbf.limit_bytes)
    return out


def _udp_received_mbps(emu, src: str, dst: str, send_mbit: float, seconds: int = 4) -> float:
    net = emu.network
    server = net.popen(dst, ["iperf3", "-s", "-1", "-J"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    emu.cmd(src, ["iperf3", "-c", net.address(dst), "-u", "-b", f"{send_mbit}M", "-t", str(seconds),
                  "--connect-timeout", "3000"], timeout_s=seconds + 20)
    out = json.loads(server.communicate(timeout=20)[0])
    return float(np.median([iv["sum"]["bits_per_second"] / 1e6 for iv in out["intervals"][1:]]))


@root
def test_tbf_shaping_carries_each_ground_links_budgeted_capacity_and_the_queue_limit(tmp_path):
    scen = sgemu.Scenario.from_dict(SMALL)
    with sgemu.Emulation(scen, shaping="tbf", queue_limit_pkts=50, out=tmp_path) as emu:
        tag = emu.network.run_tag
        beijing, kashi = _tbf_ends(emu, "Beijing"), _tbf_ends(emu, "Kashi")
        for end in (*beijing.values(), *kashi.values()):  # every end at its own direction's capacity
            assert end[0] == pytest.approx(end[1], rel=1e-3) and end[2] == 50 * 1514, end
        up, down = beijing["station"][1], beijing["satellite"][1]
        assert abs(up - down) > 0.1 * min(up, down), (up, down)  # uplink and downlink budgeted apart
        # UDP at twice the path's narrowest capacity (Beijing's uplink or Kashi's downlink; the ISLs
        # are unpaced) arrives at that capacity, within 10 %
        narrowest = min(up, kashi["satellite"][1])
        assert _udp_received_mbps(emu, "Beijing", "Kashi", 2 * narrowest) == pytest.approx(narrowest, rel=0.1)
        emu.advance(60)
        later = _tbf_ends(emu, "Beijing")
        assert later["satellite"][1] != pytest.approx(down, rel=1e-3), "the capacity never changed"
        for end in later.values():
            assert end[0] == pytest.approx(end[1], rel=1e-3), end
    assert _ours(tag) == []


def test_the_rtt_along_a_named_path_is_the_routes_own_rtt():
    """LinkSeries.path_rtt_ms (used for the stretch of traced paths) against route_pair's RTT."""
    scen = sgemu.Scenario.load(duration_s=60)
    s, route = scen.series, scen.route("Beijing", "Nairobi").path
    for k in (0, 30, 60):
        names = route.path_names(k)
        assert s.path_rtt_ms(k, names) == pytest.approx(route.rtt_ms[k], rel=1e-9)
    names = route.path_names(0)
    assert np.isnan(s.path_rtt_ms(0, [names[0], None, names[-1]]))
    assert np.isnan(s.path_rtt_ms(0, [names[0], names[-1]]))  # no direct link between the stations


@pytest.mark.parametrize("ospf, message", [
    ({"areas": "per-layer"}, "^emulation.ospf.areas: 'per-layer' with routing isis"),
    ({"hello_s": 700, "dead_s": 2000}, "^emulation.ospf.hello_s: IS-IS hello interval 700 s"),
    ({"hello_s": 1, "dead_s": 101}, "^emulation.ospf.dead_s: IS-IS holds an adjacency at most 100 hellos"),
])
def test_isis_refuses_what_ospf_would_take(ospf, message):
    scen = sgemu.Scenario.load(duration_s=10, emulation={"ospf": ospf})
    sgemu.Emulation(scen, routing="ospf")  # fine for OSPF
    with pytest.raises(sgemu.ScenarioError, match=message):
        sgemu.Emulation(scen, routing="isis")


@root
def test_isis_in_every_node_carries_pings_over_the_delay_shortest_paths(tmp_path):
    from emulator.frr import frr_missing

    if frr_missing("isis"):
        pytest.skip(f"FRR cannot run IS-IS here: {frr_missing('isis')}")
    scen = sgemu.Scenario.load(duration_s=30)
    with sgemu.Emulation(scen, shaping="none", routing="isis", out=tmp_path) as emu:
        tag = emu.network.run_tag
        assert emu.routing_label == "isis" and emu.frr.protocol == "isis"
        assert (tmp_path / "frr" / "Beijing" / "isisd.log").exists()
        assert np.isfinite(emu._info["ospf"]["initial_convergence_s"]), "IS-IS never gave every station its routes"
        r = emu.ping("Beijing", "Kashi", count=3)
        assert r.loss_pct == 0, r
        # IS-IS metrics are delays rounded to 0.1 ms per link: a tie within that may take another path
        taken, want = emu.traceroute("Beijing", "Kashi"), emu.predicted_path("Beijing", "Kashi")
        assert taken[0] == "Beijing" and taken[-1] == "Kashi", taken
        slack_ms = 0.1 * (len(taken) - 1)
        assert emu.series.path_rtt_ms(emu.k, taken) <= emu.predicted_rtt_ms("Beijing", "Kashi") + slack_ms, (taken, want)
    assert _ours(tag) == []


def test_the_stretch_of_traced_paths_counts_whole_traces_only():
    scen = sgemu.Scenario.load(duration_s=60)
    emu = sgemu.Emulation(scen, shaping="none")
    emu.k = 60
    best = scen.route("Sanya", "Nairobi").path
    longer = scen.route("Sanya", "Nairobi", strategy="min-hop").path
    k = int(np.flatnonzero(longer.rtt_ms > best.rtt_ms * 1.01)[0])  # a step where min-hop is longer
    records = [{"step": k, "pair": "Sanya->Nairobi", "measured": " ".join(longer.path_names(k))},
               {"step": 0, "pair": "Sanya->Nairobi", "measured": " ".join(best.path_names(0)[:3])}]  # cut short
    got = emu._stretch({("Sanya", "Nairobi"): best}, 0, records)["Sanya->Nairobi"]
    assert got["predicted"] == pytest.approx(1.0)
    assert got["taken"] == pytest.approx(longer.rtt_ms[k] / best.rtt_ms[k])


def test_each_end_of_a_budgeted_ground_link_has_its_own_capacity_and_rain_lowers_both():
    clear = sgemu.Scenario.from_dict(SMALL).series
    rain = sgemu.Scenario.from_dict({**SMALL, "events": [{"type": "weather-fade", "stations": ["Beijing"],
                                                          "rain_mm_h": 50, "at_s": 20, "until_s": 40}]}).series
    i = clear.node_names.index("Beijing")
    for k in (0, 3):
        ids = clear.active(k)[0].tolist()
        pos = next(n for n, l in enumerate(ids) if i in (clear.link_a[l], clear.link_b[l]))
        link = ids[pos]
        station_end = 0 if clear.link_a[link] == i else 1
        ends = [e[pos] for e in clear.capacity_by_end_at(k)]
        # the series' single value is the narrower direction; the ends differ (uplink vs downlink)
        assert clear.capacity_at(k)[pos] == pytest.approx(min(ends)) and ends[0] != pytest.approx(ends[1])
        wet = [e[pos] for e in rain.capacity_by_end_at(k)]
        if k == 0:
            assert wet == pytest.approx(ends)                   # before the rain
        else:
            assert wet[station_end] < ends[station_end] and wet[1 - station_end] < ends[1 - station_end]
