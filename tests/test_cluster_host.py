"""One emulation over a two-host Ray cluster on this machine (root; no shaping on this kernel).

The cluster (:mod:`emulator.cluster.local`: two host namespaces on a bridge,
a Ray head, a Ray worker per host) and the network are built once for the
module; the tests walk forward in scenario time on that one network, then
the last one kills a host's agent.  Packets really cross between the hosts
over VXLAN: ping and traceroute between stations on different hosts must
follow the predicted path.  At the end nothing of the run or the cluster
may be left on the machine.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from emulator import addressing as addr
from emulator.namespaces import our_namespaces

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, Ray workers in them)")


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'sgemu[cluster]')")
    from emulator.cluster import local

    c = local.up(2)
    try:
        yield c
    finally:
        local.down(c)
        assert local.leftovers(c.tag) == []


@pytest.fixture(scope="module")
def scene_series():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=600, step_s=10)
    scene, rules = scen.bind()
    return scene, build_series(scene, rules, scen.axis)


@pytest.fixture(scope="module")
def cnet(cluster, scene_series):
    from emulator.cluster.driver import ClusterNetwork
    from emulator.cluster.placement import node_planes, place

    scene, series = scene_series
    # the computed placement, but stations alternate between the hosts (so pairs of stations
    # on different hosts exist whatever the link weights prefer)
    host = place(series, 2, node_planes(scene)).host.copy()
    host[series.ground_indices] = np.arange(series.ground_indices.size) % 2
    net = ClusterNetwork(series, cluster.address, node_planes(scene), host_of=host)
    net.start(0)
    yield net
    net.stop()
    assert _run_namespaces(net) == []


def test_links_computed_by_ray_tasks_on_the_hosts_equal_the_local_build(cluster):
    """The precompute on the cluster: time ranges as Ray tasks on the two host workers, merged."""
    import ray

    from emulator.cluster.precompute import build_series_on_cluster
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=1200, step_s=5)
    scene, rules = scen.bind()
    local = build_series(scene, rules, scen.axis, scen.grazing_km, scen.link_parameters(),
                         budget=scen.link_budget_for(scene))
    series, fig = build_series_on_cluster(scen, cluster.address, n_ranges=4)
    assert not ray.is_initialized()  # connected for the call only
    assert fig["ranges"] == 4 and fig["cpus"] == 2
    for f in ("link_a", "link_b", "link_kind", "ms_per_km", "indptr", "link_id", "distance_km"):
        assert np.array_equal(getattr(series, f), getattr(local, f)), f
    for f in ("capacity_mbps", "loss_pct"):
        assert np.array_equal(getattr(series, f), getattr(local, f), equal_nan=True), f


def test_an_emulation_runs_on_the_cluster_from_the_public_api(cluster, tmp_path):
    """``sgemu.Emulation(..., cluster=ADDRESS)``: the run's pings and path checks between stations, the
    per-host lateness in the summary, nothing left on either host after."""
    import sgemu

    scen = sgemu.Scenario.load(duration_s=60, step_s=10)
    with sgemu.Emulation(scen, shaping="none", cluster=cluster.address, out=tmp_path / "run") as emu:
        tag = emu.network.run_tag
        stations = [n for n in scen.nodes if n in {s.name for s in scen.stations}]
        a = stations[0]
        b = next((n for n in stations if emu.network.host_of(n) != emu.network.host_of(a)), None)
        assert b is not None, "every station on one host: nothing crosses the boundary"
        assert emu.traceroute(a, b) == emu.predicted_path(a, b)
        with pytest.raises(sgemu.CapabilityError, match="^next_hops"):
            emu.next_hops(a)
        result = emu.run(duration_s=30, speed=5, experiments=[sgemu.Ping(a, b, interval_s=0.2),
                                                              sgemu.Iperf3(b, a, start_s=2, duration_s=4)])
    s = result.summary
    pair = s["pairs"][f"{a}->{b}"]
    assert pair["loss_pct"] < 10 and pair["path_checks"] >= 1 and pair["path_agree_pct"] == 100.0, pair
    assert s["throughput"][f"{b}->{a}"]["mbps_mean"] > 1.0, s["throughput"]  # TCP across the hosts' VXLAN
    per_host = s["cluster"]["hosts"]
    assert len(per_host) == 2 and sum(h["nodes"] for h in per_host) == len(scen.nodes)
    assert all(h["steps"] >= 3 for h in per_host), per_host  # the 30 s at 10 s steps, on every host
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []


def test_sgemu_run_on_the_cluster_prints_the_hosts_lateness(cluster, tmp_path):
    import json
    import subprocess
    import sys

    tag = "tcl" + os.urandom(2).hex()
    r = subprocess.run([sys.executable, "-m", "sgemu", "run", "--cluster", cluster.address, "--no-netem",
                        "--duration", "20", "--step", "10", "--speed", "5", "--ping", "Sanya:Nairobi",
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "SGEMU_RUN_TAG": tag})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 hosts" in r.stdout and "cross-host links" in r.stdout and "late ms" in r.stdout, r.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cluster"]["address"] == cluster.address and len(summary["cluster"]["hosts"]) == 2
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []


def test_ctrl_c_during_a_cluster_run_tears_every_host_down_and_keeps_the_measurements(cluster, tmp_path):
    import json
    import subprocess
    import sys

    tag = "tci" + os.urandom(2).hex()
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "sgemu", "run", "--cluster", cluster.address, "--no-netem",
                          "--duration", "120", "--step", "10", "--ping", "Sanya:Nairobi", "--out", str(out), "-q"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "SGEMU_RUN_TAG": tag})
    try:
        deadline = time.time() + 300
        while not (out / "raw").exists() and p.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(5)  # into the real-time loop
        assert p.poll() is None, p.communicate()[1][-2000:]
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and summary["pairs"]["Sanya->Nairobi"]["received"] > 0
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []  # both hosts



def test_sgemu_clean_removes_what_a_killed_cluster_driver_left_on_the_hosts(cluster, tmp_path):
    """SIGKILL the driver mid-run: Ray ends its agents without a teardown; ``sgemu clean`` (no --force:
    the owners are dead) then removes every namespace of the run on both hosts."""
    import subprocess
    import sys

    import glob

    tag = "tck" + os.urandom(2).hex()
    out = tmp_path / "run"
    agent_dirs_before = set(glob.glob("/tmp/sgemu-agent-*"))
    p = subprocess.Popen([sys.executable, "-m", "sgemu", "run", "--cluster", cluster.address, "--no-netem",
                          "--duration", "120", "--step", "10", "--out", str(out), "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "SGEMU_RUN_TAG": tag})
    try:
        deadline = time.time() + 300
        while not (out / "raw").exists() and p.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert p.poll() is None, "the run ended before it could be killed"
        p.kill()
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    ours = lambda: [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")]  # noqa: E731
    # the agents' output directories (ping and command output): theirs, made during this run
    agent_dirs = lambda: sorted(set(glob.glob("/tmp/sgemu-agent-*")) - agent_dirs_before)  # noqa: E731
    assert ours(), "nothing was left to clean: the test would prove nothing"
    assert agent_dirs(), "the run's agents made no output directory: the test would prove nothing"
    deadline = time.time() + 60  # Ray notices the dead driver and ends its agents
    while time.time() < deadline:
        r = subprocess.run([sys.executable, "-m", "sgemu", "clean"], capture_output=True, text=True, timeout=300)
        if not ours() and not agent_dirs():
            break
        time.sleep(2)
    assert r.returncode == 0, r.stderr
    assert ours() == [], r.stdout
    assert agent_dirs() == [], r.stdout


def _frr_left(tag: str) -> list[str]:
    """FRR daemons and run directories of run ``tag`` (its hosts' namespaces are sgemu-<tag>h<j>-*)."""
    marker = f"sgemu-{tag}h".encode()
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if marker in cmd and b"/usr/lib/frr/" in cmd:
                out.append(f"pid {e}: {cmd.split(chr(0).encode())[0].decode()}")
    import glob

    return out + glob.glob(f"/var/run/frr/sgemu-{tag}h*")


def test_ospf_across_hosts_routes_stations_on_different_hosts_and_follows_the_costs(cluster, tmp_path):
    """``routing="ospf"`` over the cluster: FRR in every node, run by its host's agent; adjacencies form
    over the VXLAN cross-host links, so every station gets an OSPF route (kernel protocol 188) to every
    other, all on shortest paths under the configured costs, and a ping between stations on different
    hosts crosses the boundary.  Steps move the costs on both hosts alike and OSPF converges again.
    Afterwards no namespace, FRR daemon, FRR directory or agent of the run is left."""
    pytest.importorskip("ray")
    from emulator.frr import frr_missing

    if frr_missing():
        pytest.skip(frr_missing())
    import sgemu
    from experiments.tools import ping_once, traceroute

    from sgemu.scenario import load_scenario, parse_scenario

    # 60 s: the placement puts Beijing on host 0, the other stations on host 1; every cost change counts
    spec = load_scenario().with_overrides(duration_s=60, step_s=10)
    raw = spec.raw
    raw["emulation"] = {**(raw.get("emulation") or {}), "ospf": {"min_cost_change": 1}}
    scen = sgemu.Scenario(parse_scenario(raw, spec._base_dir))
    with sgemu.Emulation(scen, shaping="none", routing="ospf", cluster=cluster.address, out=tmp_path / "run") as emu:
        net, frr, tag = emu.network, emu.frr, emu.network.run_tag
        agents = [h["pid"] for h in net.hosts]
        assert np.isfinite(emu._info["ospf"]["initial_convergence_s"])
        assert np.isfinite(frr.wait_converged(shortest=True, timeout_s=60)), "station routes not shortest"
        ground = [scen.series.node_names[i] for i in scen.series.ground_indices]
        pairs = [(a, b) for a in ground for b in ground if net.host_of(a) < net.host_of(b)]
        assert pairs, "no stations on different hosts"
        src, dst = pairs[0]
        routes = emu.cmd(src, ["ip", "-4", "route", "show", "proto", "188", f"{net.address(dst)}/32"])
        assert routes.strip(), f"{src} has no OSPF route to {dst}"
        path = traceroute(net, src, dst)
        assert path[0] == src and path[-1] == dst and _crossings(net, path) > 0, path
        rtts, sent = ping_once(net, src, dst, count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts
        costs0 = dict(frr.cost)
        emu.advance(30)  # 3 steps: each step's costs sent to every host's daemons
        changed = [l for l in frr.cost if frr.cost[l] != costs0.get(l) and net.host_of(
            scen.series.node_names[scen.series.link_a[l]]) != net.host_of(scen.series.node_names[scen.series.link_b[l]])]
        assert changed and frr.errors == [], "no cross-host link changed its cost"
        for link in changed[:2]:  # both ends, on two hosts, were told the same new cost
            for end in (int(scen.series.link_a[link]), int(scen.series.link_b[link])):
                assert f"Cost: {frr.plan.interface_cost(end, frr.cost[link])}" in _ospf_interface(emu, end, link)
        assert np.isfinite(frr.wait_converged(shortest=True, timeout_s=60))
        # the rest in real time: costs from a thread beside the clock, a ping across the hosts
        result = emu.run(duration_s=30, speed=5, experiments=[sgemu.Ping(src, dst, interval_s=0.2, start_s=emu.t_s)])
        assert frr.dead_interval_expiries() == 0
    s = result.summary
    assert s["routing"] == "ospf" and s["ospf"]["errors"] == [], s["ospf"]
    assert s["pairs"][f"{src}->{dst}"]["loss_pct"] < 10, s["pairs"]
    assert all(h["steps"] >= 3 for h in s["cluster"]["hosts"]), s["cluster"]
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []
    assert _frr_left(tag) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_is_agent(p) for p in agents):
        time.sleep(0.2)
    assert [p for p in agents if _is_agent(p)] == []


def test_isis_across_hosts_routes_stations_on_different_hosts(cluster, tmp_path):
    """``routing="isis"`` over the cluster: isisd's adjacencies form over the VXLAN links too (IS-IS
    speaks over a packet socket, not IP multicast); every station's routes (kernel protocol 187) are
    shortest under the configured metrics and a ping between stations on different hosts goes through."""
    pytest.importorskip("ray")
    from emulator.frr import frr_missing

    if frr_missing("isis"):
        pytest.skip(frr_missing("isis"))
    import sgemu
    from experiments.tools import ping_once, traceroute

    scen = sgemu.Scenario.load(duration_s=60, step_s=10)  # Beijing on host 0, the other stations on host 1
    with sgemu.Emulation(scen, shaping="none", routing="isis", cluster=cluster.address, out=tmp_path / "run") as emu:
        net, frr, tag = emu.network, emu.frr, emu.network.run_tag
        assert frr.protocol == "isis" and np.isfinite(frr.wait_converged(shortest=True, timeout_s=90))
        ground = [scen.series.node_names[i] for i in scen.series.ground_indices]
        src, dst = next((a, b) for a in ground for b in ground if net.host_of(a) < net.host_of(b))
        assert emu.cmd(src, ["ip", "-4", "route", "show", "proto", "187", f"{net.address(dst)}/32"]).strip()
        path = traceroute(net, src, dst)
        assert path[-1] == dst and _crossings(net, path) > 0, path
        rtts, sent = ping_once(net, src, dst, count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []
    assert _frr_left(tag) == []

def test_bgp_across_hosts_fails_over_from_the_fibre_to_the_space_as(cluster, tmp_path):
    """``emulation.bgp`` over the cluster (docs/examples/bgp-failover.yaml): every host's agent runs bgpd
    beside the IGP in its nodes, eBGP and iBGP sessions form across the VXLAN links, Harbin reaches
    Kashi over the fibre and, once the fibre is cut at 60 s, through the satellites."""
    pytest.importorskip("ray")
    from emulator.frr import frr_missing

    if frr_missing("ospf", bgp=True):
        pytest.skip(frr_missing("ospf", bgp=True))
    import sgemu
    from experiments.tools import ping_once, traceroute

    scen = sgemu.Scenario.load(REPO / "docs" / "examples" / "bgp-failover.yaml")
    sats = {n for n, layer in zip(scen.series.node_names, scen.series.node_layer) if layer != "GROUND"}
    with sgemu.Emulation(scen, shaping="none", start_s=55, cluster=cluster.address, out=tmp_path / "run") as emu:
        net, tag = emu.network, emu.network.run_tag
        assert emu.routing_label == "bgp+ospf" and emu.frr.daemons == ("zebra", "ospfd", "bgpd")
        assert len({net.host_of(n) for n in scen.series.node_names}) == 2
        start = emu._info["bgp"]["sessions_at_start"]
        assert start["ebgp_established"] == start["ebgp_links_up"] > 0, start
        assert start["ibgp_established"] == start["ibgp"] > 0, start
        assert np.isfinite(emu._info["ospf"]["initial_convergence_s"]), "stations never reached each other"
        assert traceroute(net, "Harbin", "Kashi") == ["Harbin", "Beijing", "Kashi"]
        sanya = traceroute(net, "Sanya", "Kashi")
        assert sanya[-1] == "Kashi" and set(sanya[1:-1]) <= sats and _crossings(net, sanya) > 0, sanya
        emu.advance(62)  # the fibre Beijing - Kashi is cut from 60 s
        deadline, path = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            path = traceroute(net, "Harbin", "Kashi")
            if path[-1:] == ["Kashi"] and set(path[1:-1]) & sats:
                break
            time.sleep(0.5)
        assert path[-1:] == ["Kashi"] and set(path[1:-1]) & sats, path
        rtts, sent = ping_once(net, "Harbin", "Kashi", count=3, interval_s=0.2)
        assert sent == 3 and all(r is not None for r in rtts), rtts
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}h")] == []
    assert _frr_left(tag) == []


def _ospf_interface(emu, node: int, link: int) -> str:
    """``show ip ospf interface sl<link>`` from node's ospfd (on its host)."""
    net = emu.network
    name = net.series.node_names[node]
    ns = f"sgemu-{net.run_tag}h{net.host_of(name)}-{name}"
    return emu.cmd(name, ["vtysh", "--vty_socket", f"/var/run/frr/{ns}", "-d", "ospfd",
                          "-c", f"show ip ospf interface {addr.ifname(link)}"])


def _is_agent(pid: int) -> bool:
    from emulator.cleanup import _runs_agent

    return _runs_agent(pid)

def _run_namespaces(net) -> list[str]:
    return [n for n in our_namespaces() if n.startswith(f"sgemu-{net.run_tag}h")]


def _advance(net, k: int) -> None:
    for j in range(net.step + 1, k + 1):
        net.apply_step(j)


def _crossings(net, path: list[str]) -> int:
    return sum(net.host_of(a) != net.host_of(b) for a, b in zip(path, path[1:]))


def _hosts_split(net, series) -> tuple[list[str], list[str]]:
    ground = [series.node_names[i] for i in series.ground_indices]
    return [g for g in ground if net.host_of(g) == 0], [g for g in ground if net.host_of(g) == 1]


def test_each_host_runs_its_placed_nodes_and_cross_links_are_vxlan(cnet, scene_series):
    _, series = scene_series
    assert len(cnet.hosts) == 2 and cnet.placement.cross_links > 0
    names = set(_run_namespaces(cnet))
    for i, name in enumerate(series.node_names):
        assert f"sgemu-{cnet.run_tag}h{cnet.placement.host[i]}-{name}" in names
    assert len(names) == series.n_nodes
    ids, _ = series.active(0)
    link = next(int(l) for l in ids if cnet.placement.host[series.link_a[l]] != cnet.placement.host[series.link_b[l]])
    a = series.node_names[series.link_a[link]]
    out = cnet.cmd(a, ["ip", "-d", "link", "show", addr.ifname(link)])
    assert "vxlan id" in out and "mtu 1500" in out, out


def test_ping_and_traceroute_between_stations_on_different_hosts_follow_the_predicted_path(cnet, scene_series):
    from experiments.tools import ping_once, traceroute
    from topologies.routing import route_pair

    _, series = scene_series
    left, right = _hosts_split(cnet, series)
    assert left and right
    checked = 0
    for src in left:
        for dst in right:
            path = route_pair(series, series.index(src), series.index(dst)).path_names(cnet.step)
            if not path or _crossings(cnet, path) == 0:
                continue
            assert traceroute(cnet, src, dst) == path
            rtts, sent = ping_once(cnet, src, dst, count=3, interval_s=0.2)
            assert sent == 3 and all(r is not None for r in rtts), rtts
            checked += 1
            if checked == 3:
                return
    pytest.fail(f"only {checked} station pairs on different hosts with a path at step {cnet.step}")


def _handover_across_boundary(cnet, series):
    """(src, dst, k): a station pair whose path at k crosses the host boundary a different number of
    times than at k - 1 (one side local only), k after the network's current step."""
    from topologies.routing import route_pair

    g = series.ground_indices.tolist()
    for a in g:
        for b in g:
            if a >= b:
                continue
            r = route_pair(series, a, b)
            for k in range(cnet.step + 2, series.n_steps):
                p0, p1 = r.path_names(k - 1), r.path_names(k)
                if p0 and p1 and min(_crossings(cnet, p0), _crossings(cnet, p1)) == 0 \
                        and max(_crossings(cnet, p0), _crossings(cnet, p1)) > 0:
                    return series.node_names[a], series.node_names[b], k, p0, p1
    pytest.fail("no handover moves a station pair's path across the host boundary in this run")


def test_a_handover_moves_a_path_across_the_host_boundary(cnet, scene_series):
    from experiments.tools import traceroute

    _, series = scene_series
    src, dst, k, before, after = _handover_across_boundary(cnet, series)
    _advance(cnet, k - 1)
    assert traceroute(cnet, src, dst) == before
    cnet.apply_step(k)
    assert traceroute(cnet, src, dst) == after
    assert before != after


def test_a_cross_host_link_goes_down_and_one_comes_up(cnet, scene_series):
    """A cross-host link that the series takes down stops carrying packets at that step; one that
    first comes up exists (down) a step early and carries packets from its step on."""
    _, series = scene_series
    mask = series.active_mask()
    cross = np.flatnonzero(cnet.placement.host[series.link_a] != cnet.placement.host[series.link_b])
    start = cnet.step + 1
    down = next((int(l), k) for k in range(start + 1, series.n_steps) for l in cross
                if mask[k - 1, l] and not mask[k, l])
    first = np.argmax(mask, axis=0)
    up = min(((int(l), int(first[l])) for l in cross if mask[:, l].any() and first[l] > start + 1),
             key=lambda x: x[1])

    def reach(link):
        a = series.node_names[series.link_a[link]]
        out = cnet.cmd(a, ["ping", "-n", "-c", "1", "-W", "1", addr.link_ip(link, 1)])
        return " 0% packet loss" in out

    for link, k, before, after in ((down[0], down[1], True, False), (up[0], up[1], False, True)):
        if cnet.step > k - 1:
            continue
        _advance(cnet, k - 1)
        assert reach(link) is before, (series.link_name(link), k)
        cnet.apply_step(k)
        assert reach(link) is after, (series.link_name(link), k)


def test_killing_a_hosts_agent_stops_the_run_naming_the_host_and_everything_is_removed(cnet, scene_series):
    from emulator.cluster.driver import ClusterError

    pid1 = cnet.hosts[1]["pid"]
    os.kill(pid1, signal.SIGKILL)
    with pytest.raises(ClusterError) as err:
        for k in range(cnet.step + 1, cnet.series.n_steps):
            cnet.apply_step(k)
    msg = str(err.value)
    assert "\n" not in msg and cnet.hosts[1]["name"] in msg and "lost" in msg, msg
    # both hosts torn down: the live one by its agent, the dead one's leftovers by a cleanup task
    deadline = time.monotonic() + 10
    while _run_namespaces(cnet) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _run_namespaces(cnet) == []
    import glob

    assert glob.glob(f"/tmp/sgemu-agent-{cnet.hosts[1]['pid']}-*") == []   # the dead agent's output dir
    for h in cnet.hosts:
        assert not os.path.exists(f"/proc/{h['pid']}") or b"HostAgent" not in open(f"/proc/{h['pid']}/cmdline", "rb").read()
