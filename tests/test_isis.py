"""IS-IS with FRR on the live network (host kernel, no netem), beside OSPF: same costs, same checks.

The first tests are pure text.  The rest need root and Debian's ``frr``
package (isisd) and skip otherwise, saying why.  They run IS-IS on the
4-node ring of test_frr.py (two stations joined through two satellites)
through a cut, a repair and cost changes, and on the 86-node default
scenario, whose kernel routes must be the predicted delay-shortest paths.
Measurements are printed: run with ``-s``.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from emulator import addressing as addr
from emulator.frr import (NO_TRANSIT_COST, RTPROT_ISIS, IsisPlan, OspfPlan, check_configs, frr_missing,
                          isis_config, isis_system_id, timer_profile)
from test_frr import _hops, _leftovers, _ring_series, _scenario_series, _wait_until, _walk

needs_isis = pytest.mark.skipif(frr_missing("isis") is not None, reason=f"FRR cannot run here: {frr_missing('isis')}")


def _blocks(text: str) -> dict[str, str]:
    return {b.strip().split("\n")[0]: b for b in re.split(r"\n!\n", text)}


# -- configuration text (no root needed) ---------------------------------------------


def test_a_node_config_runs_point_to_point_level_2_isis_with_the_costs_as_metrics_and_timers_from_the_profile():
    text = isis_config("S1", "10.128.0.2", [("sl0", 50), ("sl1", 7)], **timer_profile("large", 1))
    blocks = _blocks(text)
    for ifname, metric in (("sl0", 50), ("sl1", 7)):
        b = blocks[f"interface {ifname}"]
        for line in ("ip router isis sgemu", "isis network point-to-point", f"isis metric {metric}",
                     "isis hello-interval 2", "isis hello-multiplier 5",  # hold time 10 s = the profile's dead_s
                     "isis csnp-interval 10"):
            assert f" {line}\n" in b, (ifname, line)
    assert " isis passive\n" in blocks["interface lo"]
    router = blocks["router isis sgemu"].splitlines()
    assert " net 49.0001.0101.2800.0002.00" in router and " is-type level-2-only" in router
    # the generation interval is in force before is-type schedules the first LSP
    assert router.index(" lsp-gen-interval 1") < router.index(" is-type level-2-only")
    assert " spf-delay-ietf init-delay 200 short-delay 1000 long-delay 10000 holddown 10000 time-to-learn 10000" \
        in router


def test_system_ids_are_the_loopback_digits_and_differ_for_every_node():
    assert isis_system_id("10.128.0.7") == "0101.2800.0007"
    ids = {isis_system_id(addr.loopback_ip(i)) for i in range(2000)}
    assert len(ids) == 2000


def test_impossible_isis_timers_and_areas_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="dead interval 2 s must exceed the hello interval 2 s"):
        isis_config("A", "10.128.0.1", [], hello_s=2, dead_s=2)
    with pytest.raises(ValueError, match="at most 100 hellos"):
        isis_config("A", "10.128.0.1", [], hello_s=1, dead_s=101)
    with pytest.raises(ValueError, match="metric 0 is outside"):
        isis_config("A", "10.128.0.1", [("sl0", 0)])
    s = _ring_series([[5.0, 5.0, 20.0, 20.0]])
    with pytest.raises(ValueError, match="only 'single'"):
        IsisPlan(s, layer_areas="per-layer")
    with pytest.raises(ValueError, match="lsa_intervall_ms unknown; accepted: hello_s"):
        IsisPlan(s, lsa_intervall_ms=100)
    with pytest.raises(ValueError, match="0..60000 ms"):
        IsisPlan(s, spf_ms=(0, 50, 70000))


def test_isis_gets_the_same_costs_as_ospf_and_the_stations_no_transit_extra():
    nan = np.nan
    s = _ring_series([[5.0, 5.0, 20.0, 20.0], [nan, 5.04, 20.0, 20.0]])
    isis, ospf = IsisPlan(s), OspfPlan(s)
    for k in (0, 1):
        assert isis.link_costs(k) == ospf.link_costs(k)
    a, s1 = isis.configs(0)[0], isis.configs(0)[1]
    assert f"isis metric {50 + NO_TRANSIT_COST}\n" in a and "isis metric 50\n" in s1
    assert "interface sl0\n" in a and "interface sl1\n" not in a   # only the links the node has
    assert "isis metric 50\n" in IsisPlan(s, ground_transit=True).configs(0)[0]


@needs_isis
def test_frr_accepts_the_isis_config_of_every_node_of_a_100_node_scenario(tmp_path):
    series = _scenario_series(extra_stations=14)
    paths = []
    for label, profile in (("fast", "fast"), ("large", "large")):
        plan = IsisPlan(series, **timer_profile(profile, series.n_nodes))
        for name, text in zip(series.node_names, plan.configs(0)):
            p = tmp_path / label / f"{name}.conf"
            p.parent.mkdir(exist_ok=True)
            p.write_text(text)
            paths.append(p)
    check_configs(paths)
    circuits = sum(p.read_text().count("isis network point-to-point") for p in paths[:series.n_nodes])
    assert circuits == 2 * np.unique(series.link_id).size  # every link that is ever up, at both ends


# -- live IS-IS ---------------------------------------------------------------------------


@pytest.fixture
def isis(tmp_path):
    """``make(series, links="unnumbered"|"numbered", **plan) -> (EmulatedNetwork, FrrNetwork)`` running
    IS-IS from step 0; everything is gone afterwards."""
    if frr_missing("isis"):
        pytest.skip(f"FRR cannot run here: {frr_missing('isis')}")
    from emulator.frr import FrrNetwork
    from emulator.network import EmulatedNetwork

    made = []

    def make(series, links="unnumbered", **plan):
        net = EmulatedNetwork(series, shaping=False, routing="none", loopback_on_links=links == "unnumbered")
        made.append((net, None))
        net.start(0)
        frr = FrrNetwork(net, tmp_path / "frr", protocol="isis", **plan)
        made[-1] = (net, frr)
        frr.start()
        return net, frr

    yield make
    for net, frr in made:
        if frr is not None:
            frr.stop()
        net.stop()
        assert _leftovers(net.run_tag) == []
        assert not any("isisd" in f for f in _isisd_processes(net.run_tag))


def _isisd_processes(run_tag: str) -> list[str]:
    import os

    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"sgemu-{run_tag}-" in cmd and "isisd" in cmd:
            out.append(cmd)
    return out


def _next_hops(net, frr, src: str, dst: str) -> list[int]:
    s = net.series
    return [addr.node_of_address(gw, s.link_a, s.link_b)
            for gw, _ in frr.node(src).routes().get(f"{net.address(dst)}/32", [])]


@needs_isis
@pytest.mark.parametrize("links", ["unnumbered", "numbered"])
def test_isis_on_a_ring_takes_the_shorter_delay_and_follows_cuts_repairs_and_cost_changes(isis, links):
    nan = np.nan
    # links: 0 A-S1, 1 S1-B, 2 B-S2, 3 A-S2 (one-way ms); A and B are stations, S1 and S2 satellites
    s = _ring_series([[5.0, 5.0, 20.0, 20.0],    # 0: via S1 is shorter
                      [nan, 5.0, 20.0, 20.0],    # 1: A-S1 cut
                      [5.0, 5.0, 20.0, 20.0],    # 2: repaired
                      [5.0, 40.0, 20.0, 20.0]])  # 3: S1-B lengthens beyond B-S2
    net, frr = isis(s, links=links, hello_s=1, dead_s=4)

    def via(name):
        return lambda: _next_hops(net, frr, "A", "B") == [s.index(name)]

    def loopback_routes():
        return sum(len([d for d in n.routes() if d.endswith("/32") and d.startswith("10.128.")]) for n in frr.nodes)

    t_conv = _wait_until(lambda: loopback_routes() == 4 * 3 and via("S1")(), 30)
    # one probe per hop: on a busy machine a reply may come late, so a path is read until it is whole
    _wait_until(lambda: _hops(net, "A", "B") == ["S1", "B"], 10, poll_s=0.1)
    route = net.host("A").cmd("ip", "route", "show", net.address("B"))
    assert re.search(rf"{net.address('B')} nhid \d+ via \S+ dev sl0 proto isis", route), route
    assert {n.rtprot for n in frr.nodes} == {RTPROT_ISIS} and set(frr.nodes[0].procs) == {"zebra", "isisd"}
    assert frr.node("S1").full_neighbors() == 2
    # isisd advertises the link /31s too, but zebra puts only the loopbacks' routes into the kernel
    assert "10.0.0.2/31" in frr.node("A").vtysh("show isis route")
    assert not [d for n in frr.nodes for d in n.routes() if not d.endswith("/32")]
    assert "Metric: 50" in frr.node("S1").vtysh("show isis interface detail")

    # A's own route turns at once; the way back (B -> A, for traceroute's replies) follows when the
    # neighbours' LSPs arrive, at most lsp-gen-interval (1 s) later
    net.apply_step(1)
    t_cut = _wait_until(via("S2"), frr.plan.dead_s)
    _wait_until(lambda: _hops(net, "A", "B") == ["S2", "B"], 5, poll_s=0.1)

    net.apply_step(2)
    t_repair = _wait_until(via("S1"), 10)
    _wait_until(lambda: _hops(net, "A", "B") == ["S1", "B"], 5, poll_s=0.1)

    net.apply_step(3)
    assert frr.update_costs(3) == 1  # only S1-B moved
    t_costs = _wait_until(via("S2"), 5)
    _wait_until(lambda: _hops(net, "A", "B") == ["S2", "B"], 5, poll_s=0.1)

    frr.node("S2").set_cost(addr.ifname(2), 1000)  # S2 -> B now dearer than S1 -> B (400)
    t_set = _wait_until(via("S1"), 5)
    _wait_until(lambda: _hops(net, "A", "B") == ["S1", "B"], 5, poll_s=0.1)
    assert frr.dead_interval_expiries() == 0  # every change was a link set down or a metric, not lost hellos
    print(f"\nIS-IS 4-node ring, {links} links: all 12 loopback routes {t_conv:.2f} s after FRR was up "
          f"(FRR start {frr.timings_s['total']:.2f} s); reroute after cut {t_cut:.2f} s, after repair "
          f"{t_repair:.2f} s, after update_costs {t_costs:.2f} s, after set_cost {t_set:.2f} s")


@needs_isis
def test_an_interface_isis_has_no_address_for_is_found_and_readdressing_repairs_it(isis):
    """What repair_new_links looks for: a circuit whose addresses zebra never passed on advertises none in
    its hellos, so the neighbour installs no route over it.  Taking the addresses off stands in for zebra
    dropping them; readdressing brings the route back."""
    s = _ring_series([[5.0, 5.0, 20.0, 20.0]])
    net, frr = isis(s, hello_s=1, dead_s=4)
    _wait_until(lambda: _next_hops(net, frr, "A", "B") == [s.index("S1")], 30)
    s1 = frr.node("S1")
    assert s1.ospf_off(["sl0", "sl1"]) == []
    link = 1  # S1-B
    _drop_addresses(net, s.index("S1"), link)
    _wait_until(lambda: s1.ospf_off(["sl1"]) == ["sl1"], 10)
    _wait_until(lambda: _next_hops(net, frr, "A", "B") == [s.index("S2")], 15)  # B has no address to route to
    net.readdress(link, s.index("S1"))
    _wait_until(lambda: s1.ospf_off(["sl1"]) == [], 10)
    _wait_until(lambda: _next_hops(net, frr, "A", "B") == [s.index("S1")], 15)


def _drop_addresses(net, node: int, link: int) -> None:
    """Take every address off ``node``'s end of ``link`` (over the emulator's own netlink socket)."""
    nd = net.nodes[node]
    index = nd.ipr.link_lookup(ifname=addr.ifname(link))[0]
    for a in nd.ipr.get_addr(family=2, index=index):
        nd.ipr.addr("del", index=index, address=a.get_attr("IFA_ADDRESS"), prefixlen=a["prefixlen"])


@needs_isis
def test_isis_on_the_default_scenario_finds_the_predicted_delays_within_cost_rounding(isis):
    """Every IS-IS path is as short as the predicted one, up to the 0.05 ms each link's cost rounds away,
    and the route watch (the same as for OSPF) sees every route right."""
    from experiments.routewatch import OspfTarget, RouteWatch
    from topologies.routing import next_hops

    series = _scenario_series(duration_s=30)
    net, frr = isis(series, hello_s=1, dead_s=4)
    predicted_ms, predicted = next_hops(series, 0, ground_transit=False)
    ids, d = series.active(0)
    delay = np.full((series.n_nodes,) * 2, np.inf)
    delay[series.link_a[ids], series.link_b[ids]] = delay[series.link_b[ids], series.link_a[ids]] = d
    _, predicted_hops = _walk(predicted, delay)
    reachable = predicted >= 0
    state = {}

    def as_short():
        nh = frr.next_hops()
        isis_ms, isis_hops = _walk(nh, delay)
        slack = 0.05 * (isis_hops + predicted_hops) + 1e-6
        state["routed"] = float(np.isfinite(isis_ms[reachable]).mean())
        state["as_short"] = float((isis_ms[reachable] <= predicted_ms[reachable] + slack[reachable]).mean())
        state["same_next_hop"] = float((nh[reachable] == predicted[reachable]).mean())
        return state["as_short"] == 1.0

    try:
        t_conv = _wait_until(as_short, 60, poll_s=0.25)
    finally:
        print(f"\nIS-IS, {series.n_nodes} nodes, {int(reachable.sum())} routed pairs: {state}")
    watch = RouteWatch(net, OspfTarget(frr), 1.0, give_up_s=60)
    try:
        watch.notify(0, time.time())
        _wait_until(lambda: watch.records and watch.records[0]["converged_s"] is not None, 60, poll_s=0.25)
    finally:
        watch.close()
    print(f"IS-IS, {series.n_nodes} nodes: FRR up in {frr.timings_s['total']:.2f} s, routes as short as "
          f"predicted {t_conv:.1f} s after that")
