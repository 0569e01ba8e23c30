"""BGP at the space-ground border (emulator.bgp): ground ASes over eBGP, the space segment as transit AS.

The first tests are pure: who is in which AS, which links carry eBGP,
which satellites reflect routes, what each node's bgpd is told (checked by
FRR's own parser when vtysh is here), and the scenario checks.  The live
tests need root and Debian's ``frr`` (bgpd) and skip otherwise, saying
why: they run ``docs/examples/bgp-failover.yaml`` on the host kernel
(no netem needed: paths and losses, not delays) through the fibre cut.
Measurements are printed: run with ``-s``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from emulator import addressing as addr
from emulator.bgp import RTPROT_BGP, BgpPeer, BgpPlan, bgp_config
from emulator.frr import check_configs, frr_missing
from sgemu.schema import ScenarioError
from topologies.rules import KINDS

REPO = Path(__file__).resolve().parent.parent
FAILOVER = REPO / "docs" / "examples" / "bgp-failover.yaml"
ASES = {65001: ["Beijing", "Harbin"], 65002: ["Kashi"], 65003: ["Sanya"]}

needs_bgp = pytest.mark.skipif(frr_missing("ospf", bgp=True) is not None,
                               reason=f"FRR cannot run BGP here: {frr_missing('ospf', bgp=True)}")


@pytest.fixture(scope="module")
def failover():
    import sgemu

    return sgemu.Scenario.load(FAILOVER)


# -- the plan (pure) -------------------------------------------------------------------------------


def test_ases_hold_the_named_stations_satellites_the_space_as_and_unnamed_stations_one_each(failover):
    s = failover.series
    plan = BgpPlan(s, {65001: ["Beijing", "Harbin"]}, space_asn=64512)
    asn = dict(zip(s.node_names, plan.node_asn.tolist()))
    assert asn["Beijing"] == asn["Harbin"] == 65001
    assert all(asn[n] == 64512 for n, layer in zip(s.node_names, s.node_layer) if layer != "GROUND")
    others = [asn["Kashi"], asn["Sanya"]]
    assert len(set(others)) == 2 and min(others) > 65001 and 64512 not in others


def test_the_igp_runs_inside_an_as_and_every_other_link_carries_ebgp(failover):
    s = failover.series
    plan = BgpPlan(s, ASES)
    station_as = {name: asn for asn, names in ASES.items() for name in names}
    for link in range(s.n_links):
        a, b = s.node_names[int(s.link_a[link])], s.node_names[int(s.link_b[link])]
        kind = KINDS[s.link_kind[link]]
        inside = kind in ("isl", "inter-layer") or (kind == "fiber" and station_as[a] == station_as[b])
        assert plan.igp_link[link] == inside, (a, b, kind)
    fibres = {frozenset((s.node_names[int(s.link_a[l])], s.node_names[int(s.link_b[l])])): plan.igp_link[l]
              for l in range(s.n_links) if KINDS[s.link_kind[l]] == "fiber"}
    assert fibres == {frozenset({"Beijing", "Harbin"}): True, frozenset({"Beijing", "Kashi"}): False}


def test_every_inter_as_link_is_one_ebgp_session_to_the_far_ends_address_and_as(failover):
    s = failover.series
    plan = BgpPlan(s, ASES)
    for name in ("Kashi", "bds3-M01", "Beijing"):
        i = s.index(name)
        want = set()
        for link in range(s.n_links):
            ends = (int(s.link_a[link]), int(s.link_b[link]))
            if i in ends and not plan.igp_link[link]:
                far_end = 1 - ends.index(i)
                want.add((addr.link_ip(link, far_end), int(plan.node_asn[ends[far_end]])))
        got = {(p.address, p.asn) for p in plan.peers(i) if not p.internal}
        assert got == want, name
    kashi = plan.peers(s.index("Kashi"))
    assert not [p for p in kashi if p.internal]  # alone in its AS
    beijing_ibgp = [p for p in plan.peers(s.index("Beijing")) if p.internal]
    assert beijing_ibgp == [BgpPeer(addr.loopback_ip(s.index("Harbin")), 65001, internal=True)]


def test_route_reflectors_are_the_best_connected_satellites_and_every_other_satellite_their_client(failover):
    s = failover.series
    plan = BgpPlan(s, ASES, route_reflectors=2)
    link_steps = np.zeros(s.n_nodes)
    for k in range(s.axis.n_steps):  # counted step by step, independently of the plan's bincount
        ids, _ = s.active(k)
        for link in ids.tolist():
            if KINDS[s.link_kind[link]] in ("isl", "inter-layer"):
                link_steps[int(s.link_a[link])] += 1
                link_steps[int(s.link_b[link])] += 1
    sats = [i for i, layer in enumerate(s.node_layer) if layer != "GROUND"]
    best = sorted(sats, key=lambda i: -link_steps[i])[:2]
    assert sorted(plan.route_reflectors) == sorted(best)
    rr = set(plan.route_reflectors)
    for i in sats:
        ibgp = [p for p in plan.peers(i) if p.internal]
        if i in rr:  # every other satellite a client, the other reflector an ordinary peer
            assert len(ibgp) == len(sats) - 1
            assert {p.address for p in ibgp if not p.rr_client} == {addr.loopback_ip(j) for j in rr - {i}}
        else:
            assert {p.address for p in ibgp} == {addr.loopback_ip(j) for j in rr}
            assert not any(p.rr_client for p in ibgp)
    named = BgpPlan(s, ASES, route_reflectors=["bds3-G1"])
    assert named.route_reflectors == [s.index("bds3-G1")]


def test_the_pairs_bgp_can_carry_exclude_an_as_joined_only_through_another(failover):
    """An AS path never enters an AS twice: Beijing and Sanya in one AS with no fibre between them reach
    each other only through space, which BGP refuses; every other pair is carried (a wait for routes
    must not hang on the first)."""
    s = failover.series
    g = np.asarray(s.ground_indices)
    names = [s.node_names[i] for i in g]
    assert BgpPlan(s, ASES).deliverable(0, g).sum() == g.size * (g.size - 1)   # all but the diagonal
    split = BgpPlan(s, {65001: ["Beijing", "Sanya"]}).deliverable(0, g)
    b, y = names.index("Beijing"), names.index("Sanya")
    assert not split[b, y] and not split[y, b]
    split[b, y] = split[y, b] = True
    assert split.sum() == g.size * (g.size - 1)
    # three satellites: one IGP island of the space AS at step 0, so each pair of them counts
    rows = np.concatenate([g, np.flatnonzero(np.asarray(s.node_layer) != "GROUND")[:3]])
    got = BgpPlan(s, ASES).deliverable(0, rows)
    assert got[g.size:, g.size:].sum() == 3 * 2   # the satellites' crosslinks join them at step 0


def test_a_node_config_has_its_sessions_timers_and_originates_its_loopback(failover):
    s = failover.series
    plan = BgpPlan(s, ASES)
    beijing = plan.config(s.index("Beijing"))
    assert "router bgp 65001\n" in beijing and f" bgp router-id {addr.loopback_ip(s.index('Beijing'))}" in beijing
    assert f"  network {addr.loopback_ip(s.index('Beijing'))}/32" in beijing
    assert " timers bgp 1 3" in beijing and " no bgp ebgp-requires-policy" in beijing
    assert " neighbor ebgp timers connect 1" in beijing and "  neighbor ibgp next-hop-self" in beijing
    sat = plan.config(s.index("bds3-M01"))
    assert "router bgp 65000\n" in sat
    sats = [i for i in range(s.n_nodes) if s.node_layer[i] != "GROUND"]
    networks = {sat_i: [ln.split()[1] for ln in plan.config(sat_i).splitlines() if ln.startswith("  network")]
                for sat_i in sats}
    # borders announce prefixes covering exactly the satellites' loopbacks; the others announce nothing
    covered = {str(a) for n in plan.space_prefixes() for a in ipaddress.ip_network(n)}
    assert covered == {addr.loopback_ip(i) for i in sats}
    borders = {i for i in sats if any(not p.internal for p in plan.peers(i))}
    assert borders and borders != set(sats)
    assert {i for i, nets in networks.items() if nets == plan.space_prefixes()} == borders
    assert all(networks[i] == [] for i in set(sats) - borders)
    assert f"set src {addr.loopback_ip(5)}" in plan.zebra_config(5)
    with pytest.raises(ValueError, match="hold at least 3 s"):
        bgp_config("x", "10.128.0.1", 65000, [], keepalive_s=1, hold_s=2)


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="vtysh (Debian's frr) is not installed")
def test_frrs_own_parser_accepts_every_nodes_bgpd_and_zebra_config(failover, tmp_path):
    s = failover.series
    plan = BgpPlan(s, ASES)
    paths = []
    for i in range(s.n_nodes):
        for name, text in (("bgpd", plan.config(i)), ("zebra", plan.zebra_config(i))):
            p = tmp_path / f"{i}-{name}.conf"
            p.write_text(text)
            paths.append(p)
    check_configs(paths)
    bad = tmp_path / "bad.conf"
    bad.write_text(plan.config(0).replace("timers bgp 1 3", "timers bgp 1 99999"))
    with pytest.raises(Exception, match="99999"):
        check_configs([bad])


# -- the scenario checks ---------------------------------------------------------------------------


def _options(bgp, routing="ospf", ground_transit=True):
    from sgemu.runconfig import emulation_options

    return emulation_options({"routing": routing, "bgp": bgp}, ground_transit=ground_transit)


@pytest.mark.parametrize("bgp, routing, transit, field, words", [
    ({"ases": {65001: ["Beijing"]}}, "static", True, "emulation.bgp", "accepted with bgp: routing ospf or isis"),
    ({"ases": {65001: ["Beijing"]}}, "ospf", False, "ground_transit", "accepted: true"),
    ({"peers": 3}, "ospf", True, "emulation.bgp.peers", "unknown key"),
    ({"ases": {65000: ["Beijing"]}}, "ospf", True, "emulation.bgp.ases.65000", "is the space AS"),
    ({"ases": {65001: ["Kashi"], 65002: ["Kashi"]}}, "ospf", True, "emulation.bgp.ases.65002", "already in AS 65001"),
    ({"ases": {0: ["Kashi"]}}, "ospf", True, "emulation.bgp.ases.0", "AS number 1 to"),
    ({"ases": {65001: "Kashi"}}, "isis", True, "emulation.bgp.ases.65001", "a list of station names"),
    ({"hold_s": 1}, "ospf", True, "emulation.bgp.hold_s", "3 to 65535"),
    ({"route_reflectors": -1}, "ospf", True, "emulation.bgp.route_reflectors", "0 to 100"),
])
def test_bad_bgp_sections_name_the_field_and_what_is_accepted(bgp, routing, transit, field, words):
    with pytest.raises(ScenarioError) as err:
        _options(bgp, routing, transit)
    assert err.value.field == field and words in str(err.value), str(err.value)


def test_names_are_checked_against_the_scenario_before_anything_is_built(failover):
    import sgemu

    with pytest.raises(ScenarioError, match="'Pekin' is not a station; accepted: Beijing"):
        sgemu.Emulation(failover, bgp={"ases": {65001: ["Pekin"]}})
    with pytest.raises(ScenarioError, match="'Beijing' is not a satellite"):
        sgemu.Emulation(failover, bgp={"ases": {65001: ["Beijing"]}, "route_reflectors": ["Beijing"]})
    assert sgemu.Emulation(failover, cluster="10.0.0.1:6379").routing_label == "bgp+ospf"  # tests/test_cluster_host
    emu = sgemu.Emulation(failover)
    assert emu.routing_label == "bgp+ospf" and emu.network is None
    assert sgemu.Emulation(failover, bgp=False).routing_label == "ospf"  # the same scenario without BGP
    assert sgemu.Emulation(failover, bgp=False, routing="min-hop").routing_label == "min-hop"
    with pytest.raises(ScenarioError, match="accepted with bgp: routing ospf or isis"):
        sgemu.Emulation(failover, routing="min-hop")


def test_the_cli_refuses_a_bad_bgp_section_in_one_line_exit_2(tmp_path):
    raw = yaml.safe_load(FAILOVER.read_text())
    raw["emulation"]["bgp"]["ases"][65002] = ["Harbin"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    p = subprocess.run([sys.executable, "-m", "sgemu", "run", str(path), "--shaping", "none"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines() == [
        "sgemu: error: emulation.bgp.ases.65002: 'Harbin' is already in AS 65001; a station is in one AS"]
    assert not list(tmp_path.glob("runs*"))


# -- live (root, FRR bgpd) ---------------------------------------------------------------------------


def _bgp_best(emu, node: str, dst: str) -> list[str]:
    """AS path of node's best BGP route to dst's loopback, as bgpd says (``show bgp ... json``)."""
    ip = addr.loopback_ip(emu.series.index(dst))
    out = json.loads(emu.frr.node(node).vtysh(f"show bgp ipv4 unicast {ip}/32 json", daemon="bgpd"))
    best = [p for p in out.get("paths", []) if p.get("bestpath", {}).get("overall")]
    return best[0]["aspath"]["string"].split() if best else []


def _kernel_route(emu, node: str, dst: str) -> str:
    return emu.cmd(node, ["ip", "-4", "route", "show", "proto", str(RTPROT_BGP),
                          f"{addr.loopback_ip(emu.series.index(dst))}/32"]).strip()


def _wait(pred, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.25)
    return bool(pred())


def _lost(result, src: str, dst: str) -> tuple[int, list[int]]:
    """(requests sent, sequence numbers never answered) of one ping pair of a run."""
    frame = result.to_frame()
    got = frame[(frame["src"] == src) & (frame["dst"] == dst)]
    sent = result.summary["pairs"][f"{src}->{dst}"]["sent"]
    return sent, sorted(set(range(1, sent + 1)) - set(got["seq"].tolist()))


@needs_bgp
def test_ground_as_fails_over_from_the_fibre_to_the_space_as_and_back(failover, tmp_path):
    """Harbin (AS 65001) to Kashi (AS 65002): over the fibre Beijing - Kashi while it is up (AS path of one),
    through the satellites while it is cut, 60 s to 90 s (AS path "65000 65002"), over the fibre again
    after; a ping every 0.1 s loses under 2 s at the cut and nothing once BGP has moved or when the fibre
    returns.  Sanya (AS 65003, no fibre) reaches Kashi only through space."""
    import sgemu
    from emulator.namespaces import our_namespaces
    from experiments.tools import ping_once, traceroute

    sats = {n for n, layer in zip(failover.series.node_names, failover.series.node_layer) if layer != "GROUND"}
    ping = lambda emu: [sgemu.Ping("Harbin", "Kashi", interval_s=0.1, start_s=emu.t_s)]  # noqa: E731
    with sgemu.Emulation(failover, shaping="none", start_s=55, out=tmp_path / "run") as emu:
        tag = emu.network.run_tag
        sessions = emu._info["bgp"]["sessions_at_start"]
        print("\nsessions at start:", sessions, "convergence:", emu._info["ospf"]["initial_convergence_s"])
        assert sessions["ebgp_established"] == sessions["ebgp_links_up"] > 0
        assert sessions["ibgp_established"] == sessions["ibgp"] > 0
        assert _wait(lambda: _bgp_best(emu, "Harbin", "Kashi") == ["65002"]), _bgp_best(emu, "Harbin", "Kashi")
        assert _kernel_route(emu, "Harbin", "Kashi"), "no BGP route in Harbin's kernel"
        assert traceroute(emu.network, "Harbin", "Kashi") == ["Harbin", "Beijing", "Kashi"]
        sanya = traceroute(emu.network, "Sanya", "Kashi")
        assert sanya[-1] == "Kashi" and len(sanya) > 2 and set(sanya[1:-1]) <= sats, sanya
        assert _bgp_best(emu, "Sanya", "Kashi") == ["65000", "65002"]

        cut = emu.run(duration_s=10, experiments=ping(emu))  # 55 s to 65 s: the fibre is cut at 60 s
        assert _wait(lambda: _bgp_best(emu, "Harbin", "Kashi") == ["65000", "65002"])
        path = traceroute(emu.network, "Harbin", "Kashi")
        assert path[-1] == "Kashi" and set(path[1:-1]) & sats and ("Beijing", "Kashi") not in zip(path, path[1:]), path
        assert _bgp_best(emu, "Kashi", "Harbin") == ["65000", "65001"]
        rtts, sent = ping_once(emu.network, "Sanya", "Kashi", count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts

        back = emu.run(duration_s=30, experiments=ping(emu))  # to 95 s: the fibre returns at 90 s
        assert _wait(lambda: _bgp_best(emu, "Harbin", "Kashi") == ["65002"])
        assert traceroute(emu.network, "Harbin", "Kashi") == ["Harbin", "Beijing", "Kashi"]
    sent, lost = _lost(cut, "Harbin", "Kashi")
    print(f"cut: {sent} pings from 55 s, lost {lost}; fibre back: lost {_lost(back, 'Harbin', 'Kashi')[1]}")
    assert sent > 80 and len(lost) < 20 and not [q for q in lost if 55 + 0.1 * (q - 1) > 63], lost
    sent, lost = _lost(back, "Harbin", "Kashi")
    assert sent > 250 and lost == [], lost
    assert cut.summary["routing"] == "bgp+ospf" and cut.summary["bgp"]["space_as"] == 65000
    # the route watch: at the cut some station pairs lose their way, and BGP gives every one back
    at_cut = next(r for r in cut.summary["changes"] if r["step"] == 60)
    print("route watch at the cut:", {k: at_cut[k] for k in ("wrong_at_first", "routes_changed", "routes_right_s")})
    assert at_cut["cause"].startswith("link Beijing--Kashi down") and at_cut["routes_right_s"] < 3, at_cut
    assert [r["step"] for r in cut.summary["changes"]][0] == 55 and max(r["step"] for r in back.summary["changes"]) <= 95
    end = back.summary["bgp"]["sessions_at_end"]
    assert end["ebgp_established"] == end["ebgp_links_up"] and end["ibgp_established"] == end["ibgp"], end
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")] == []
    assert not subprocess.run(["pgrep", "-f", f"bgpd -N sgemu-{tag}-"], capture_output=True).stdout


@pytest.mark.skipif(frr_missing("isis", bgp=True) is not None,
                    reason=f"FRR cannot run BGP with IS-IS here: {frr_missing('isis', bgp=True)}")
def test_with_isis_inside_the_ases_satellites_resolve_ground_routes_through_isis(failover, tmp_path):
    """``routing: isis``: the space AS's IGP is IS-IS.  A satellite two hops before Kashi forwards to Kashi
    by a BGP route (kernel protocol 186) to the satellite after it; bgpd's next hop for it is the
    loopback of a satellite over Kashi (next-hop-self), which IS-IS routes (protocol 187); and stations
    of different ASes reach each other."""
    import sgemu
    from experiments.tools import ping_once, traceroute

    s = failover.series
    with sgemu.Emulation(failover, shaping="none", routing="isis", out=tmp_path / "run") as emu:
        assert emu.routing_label == "bgp+isis" and emu.frr.protocol == "isis"
        path = traceroute(emu.network, "Sanya", "Kashi")
        assert path[-1] == "Kashi" and len(path) >= 4, path
        inner = path[-3]  # a satellite two hops before Kashi: not a border of Kashi's
        route = _kernel_route(emu, inner, "Kashi")
        hop = re.search(r"via (\S+) dev sl(\d+)", route)
        assert hop, route
        link = int(hop.group(2))
        far = int(s.link_b[link]) if s.node_names[int(s.link_a[link])] == inner else int(s.link_a[link])
        assert s.node_names[far] == path[-2], (route, path)
        border = json.loads(emu.frr.node(inner).vtysh(f"show bgp ipv4 unicast {addr.loopback_ip(s.index('Kashi'))}"
                                                      "/32 json", daemon="bgpd"))
        best = [p for p in border["paths"] if p.get("bestpath", {}).get("overall")][0]
        nexthop = best["nexthops"][0]["ip"]
        kashi = s.index("Kashi")
        borders = {addr.loopback_ip(int(s.link_a[l]) + int(s.link_b[l]) - kashi) for l in range(s.n_links)
                   if kashi in (int(s.link_a[l]), int(s.link_b[l]))}
        assert nexthop in borders, nexthop  # next-hop-self at a satellite over Kashi, not the station's link
        assert emu.cmd(inner, ["ip", "-4", "route", "show", "proto", "187", f"{nexthop}/32"]).strip()
        rtts, sent = ping_once(emu.network, "Harbin", "Sanya", count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts
        # a satellite two hops from Kashi is reached from Harbin's AS: a station pings it and traces to it
        # satellites are reached through the space AS's covering prefixes, learnt by eBGP at Beijing
        sat_ip = addr.loopback_ip(s.index(inner))
        best = lambda: json.loads(emu.frr.node("Harbin").vtysh(f"show bgp ipv4 unicast {sat_ip} json",  # noqa: E731
                                                               daemon="bgpd"))
        assert _wait(lambda: any(p.get("bestpath") and p["aspath"]["string"] == "65000"
                                 for p in best().get("paths", []))), best()
        assert best()["prefix"] in emu.frr.bgp.space_prefixes()
        assert emu.cmd("Harbin", ["ip", "-4", "route", "show", "proto", str(RTPROT_BGP), "match", sat_ip]).strip()
        rtts, sent = ping_once(emu.network, "Harbin", inner, count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts
        assert traceroute(emu.network, "Harbin", inner)[-1] == inner
