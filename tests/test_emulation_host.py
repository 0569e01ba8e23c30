"""The live network on this host's kernel, without delay shaping (needs root, not netem).

Packets really cross namespaces here: routes, forwarding, link changes and
cleanup are checked with ping and traceroute.  Delay accuracy needs netem
and is checked in tests/kernel (the VM lane where the host lacks netem).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from emulator import addressing as addr
from emulator.namespaces import our_namespaces

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")


@pytest.fixture(scope="module")
def series():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=30)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


def ours(tag: str) -> list[str]:
    """This test's namespaces (other runs on the machine may come and go meanwhile)."""
    return [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")]


@pytest.fixture
def tag():
    import secrets

    return "t" + secrets.token_hex(3)


@pytest.fixture
def net(series, tag):
    from emulator.network import EmulatedNetwork

    n = EmulatedNetwork(series, shaping=False, run_tag=tag)
    yield n
    n.stop()
    assert ours(tag) == [], "the network left namespaces behind"


def _hops(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\s*\d+\s+(\d+\.\d+\.\d+\.\d+)", text, re.M)]


def test_traceroute_follows_the_predicted_path_through_link_changes(series, net):
    from topologies.routing import route_pair

    src, dst = series.index("Beijing"), series.index("Kashi")
    predicted = route_pair(series, src, dst)
    net.start(0)
    host = net.host("Beijing")
    for k in (0, 10, 29):
        if k:
            for j in range(net.step + 1, k + 1):
                net.apply_step(j)
        out = host.cmd("traceroute", "-n", "-q", "1", "-w", "1", "-s", net.address("Beijing"), net.address("Kashi"))
        hops = [series.node_names[addr.node_of_address(ip, series.link_a, series.link_b)] for ip in _hops(out)]
        assert ["Beijing"] + hops == predicted.path_names(k), out


def test_a_link_that_goes_down_stops_carrying_packets(series, net):
    net.start(0)
    ids, _ = series.active(0)
    link = int(ids[0])
    a, b = int(series.link_a[link]), int(series.link_b[link])
    ha = net.nodes[a].host
    far = addr.link_ip(link, 1)
    assert " 0% packet loss" in ha.cmd("ping", "-c", "1", "-W", "1", far)
    net.nodes[a].batch.link_state(net.created[link][0], False)
    net.nodes[a].batch.flush()
    out = ha.cmd("ping", "-c", "1", "-W", "1", far)
    assert "100% packet loss" in out or "unreachable" in out, out


def test_a_link_exists_a_step_before_it_first_comes_up_and_gets_its_addresses_when_it_does(series, net):
    """Created ahead: down and without IPv4 addresses one step early (so routing daemons learn the
    interface before its addresses), then up, addressed and carrying packets."""
    import numpy as np

    mask = series.active_mask()
    first = np.argmax(mask, axis=0)
    link = int(np.flatnonzero(mask.any(axis=0) & (first >= 2))[0])
    k = int(first[link])
    net.start(0)
    for j in range(1, k - 1):
        net.apply_step(j)
    a, b = int(series.link_a[link]), int(series.link_b[link])
    assert not net.nodes[a].ipr.link_lookup(ifname=addr.ifname(link))
    net.apply_step(k - 1)
    for node in (a, b):
        ipr = net.nodes[node].ipr
        (dev,) = ipr.get_links(ipr.link_lookup(ifname=addr.ifname(link))[0])
        assert not dev["flags"] & 1  # IFF_UP
        assert list(ipr.get_addr(family=2, index=dev["index"])) == []
    net.apply_step(k)
    ha = net.nodes[a].host
    assert " 0% packet loss" in ha.cmd("ping", "-c", "1", "-W", "1", addr.link_ip(link, 1))
    assert net.step == k and link in net.up


def test_route_watch_sees_static_routes_right_at_once_and_a_missing_route_as_wrong(series, net):
    import numpy as np

    from experiments.routewatch import RouteWatch, StaticTarget

    net.start(0)
    plans = {0: net.nh.copy()}
    watch = RouteWatch(net, StaticTarget(net), series.axis.step_s, give_up_s=10)
    watch.notify(0, time.time())
    time.sleep(0.5)
    for k in range(1, series.n_steps):
        due = time.time()
        net.apply_step(k)
        plans[k] = net.nh.copy()
        watch.notify(k, due)
        time.sleep(0.1)
    time.sleep(0.5)
    recs = watch.records
    changed_steps = [k for k in range(1, series.n_steps) if not np.array_equal(plans[k], plans[k - 1])]
    assert [r["step"] for r in recs] == [0] + changed_steps, recs
    for prev, rec in zip(recs, recs[1:]):
        assert rec["converged_s"] is not None and rec["converged_s"] < 1.0, rec  # installed before notify
        off = plans[rec["step"]] != plans[prev["step"]]
        np.fill_diagonal(off, False)
        assert rec["routes_changed"] == int(off.sum()), rec  # read back from the kernels = what was planned
    # a route that vanishes behind the emulator's back is seen as wrong
    i, j = 0, int(np.flatnonzero(net.nh[0] >= 0)[0])
    net.nodes[i].ipr.route("del", dst=addr.loopback_ip(j), dst_len=32)
    nh, extra = watch.fib.next_hops()
    assert StaticTarget.wrong(net.nh, nh, extra) == 1 and nh[i, j] == -1
    watch.close()


def _run(args, tag="", **kw):
    env = dict(os.environ, SGEMU_RUN_TAG=tag) if tag else None
    return subprocess.run([sys.executable, "-m", "sgemu", *args], capture_output=True, text=True, env=env, **kw)


def test_a_run_leaves_nothing_behind_and_writes_its_directory(tmp_path, tag):
    r = _run(["run", "--no-netem", "--duration", "4", "--ping", "Beijing:Kashi", "--out", str(tmp_path / "run"), "-q"],
             tag=tag, timeout=300)
    assert r.returncode == 0, r.stderr
    assert ours(tag) == []
    for name in ("scenario.yaml", "links.npz", "steps.csv", "results.csv", "summary.json"):
        assert (tmp_path / "run" / name).exists(), name
    lines = (tmp_path / "run" / "results.csv").read_text().splitlines()
    assert lines[0].startswith("t_s,src,dst") and len(lines) > 5


def test_sigint_tears_the_network_down(tmp_path, tag):
    p = subprocess.Popen([sys.executable, "-m", "sgemu", "run", "--no-netem", "--duration", "120", "-q",
                          "--out", str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, SGEMU_RUN_TAG=tag))
    deadline = time.time() + 120
    while time.time() < deadline and len(ours(tag)) < 80:
        time.sleep(0.2)
    assert len(ours(tag)) >= 80, "the network was never built"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert ours(tag) == [], err[-2000:]


def test_bad_experiment_fails_before_any_namespace_exists(tmp_path, tag):
    r = _run(["run", "--no-netem", "--duration", "4", "--ping", "Beijing:Atlantis"], tag=tag)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Atlantis" in r.stderr and "Traceback" not in r.stderr
    assert ours(tag) == []


def test_clean_removes_what_a_killed_run_left():
    from emulator.cleanup import clean
    from pyroute2 import netns

    from emulator.frr import FRR_STATE_DIR

    name = "sgemu-killedrun-node"
    netns.create(name)
    proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    frr_dir = FRR_STATE_DIR / name  # what a killed OSPF run leaves: sockets, pid files, frr.conf
    frr_dir.mkdir(parents=True, exist_ok=True)
    (frr_dir / "zebra.pid").write_text("1\n")
    time.sleep(0.3)
    r = _run(["clean"])
    assert r.returncode == 0, r.stderr
    assert name not in our_namespaces()
    assert proc.wait(timeout=10) != 0
    assert not frr_dir.exists() and "1 FRR run director" in r.stdout
    assert clean(prefix=name) == {"namespaces": 0, "processes": 0, "live": [], "frr_dirs": 0,
                                  "agent_dirs": 0}  # idempotent


def test_clean_leaves_a_live_run_alone_unless_forced(tag):
    from emulator.cleanup import clean
    from emulator.namespaces import claim_run
    from pyroute2 import netns

    name = f"sgemu-{tag}-node"
    netns.create(name)
    claim_run(tag)  # this (live) process owns the run
    try:
        assert clean(prefix=name)["live"] == [tag] and name in our_namespaces()
        assert clean(prefix=name, force=True)["namespaces"] == 1
        assert name not in our_namespaces()
    finally:
        if name in our_namespaces():
            netns.remove(name)


def test_ospf_and_static_runs_report_per_change_convergence_and_compare(tmp_path, tag):
    import csv
    import json

    import yaml

    from emulator.frr import frr_missing
    from sgemu.scenario import default_scenario_path

    if frr_missing():
        pytest.skip(f"FRR unavailable: {frr_missing()}")
    scen = yaml.safe_load(open(default_scenario_path()))
    scen["events"] = [{"type": "weather-fade", "stations": ["Beijing"], "loss_pct": 10, "at_s": 4, "until_s": 8}]
    path = tmp_path / "scen.yaml"
    path.write_text(yaml.safe_dump(scen))
    runs = {}
    for routing in ("static", "ospf"):
        out = tmp_path / routing
        r = _run(["run", str(path), "--no-netem", "--routing", routing, "--duration", "15",
                  "--ping", "Beijing:Kashi", "--out", str(out)], tag=tag, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "convergence per change" in r.stdout and "weather fade 10 % at Beijing" in r.stdout, r.stdout
        runs[routing] = json.loads((out / "summary.json").read_text())
        rows = list(csv.DictReader(open(out / "changes.csv")))
        assert {"t_s", "cause", "routes_changed", "routes_right_s", "pair", "reach_s", "recovery_s", "lost"} <= set(rows[0])
        assert any(row["cause"].startswith("weather fade") and float(row["t_s"]) == 4 for row in rows)
        assert any(row["cause"].startswith("end of weather fade") and float(row["t_s"]) == 8 for row in rows)
        assert ours(tag) == []
        assert subprocess.run(["pgrep", "-f", f"sgemu-{tag}-"], capture_output=True).returncode == 1  # no daemon left
    s = runs["ospf"]
    assert s["routing"] == "ospf" and s["ospf"]["initial_convergence_s"] < 30
    pair = s["pairs"]["Beijing->Kashi"]
    assert pair["received"] >= 0.8 * pair["sent"], pair  # OSPF (not static routes) carried the pings
    assert (tmp_path / "ospf" / "frr" / "Beijing" / "ospfd.log").exists()
    for routing, s in runs.items():
        routes = s["routes"]
        assert routes["errors"] == [] and routes["converged"] >= 1, (routing, routes)
        assert routes["routes_right_s_max"] < (1.0 if routing == "static" else 15.0), (routing, routes)
    r = _run(["compare", str(tmp_path / "static"), str(tmp_path / "ospf"), "--out", str(tmp_path / "cmp.csv")])
    assert r.returncode == 0, r.stderr
    assert "A: static" in r.stdout and "B: ospf" in r.stdout and "routes right s mean" in r.stdout, r.stdout
    rows = list(csv.DictReader(open(tmp_path / "cmp.csv")))
    assert rows and {"routes_right_s_a", "routes_right_s_b", "lost_a", "lost_b"} <= set(rows[0])
    # a third protocol/strategy: hold-down, installed centrally; the three side by side
    r = _run(["run", str(path), "--no-netem", "--routing", "hold-down:threshold_ratio=3", "--duration", "15",
              "--ping", "Beijing:Kashi", "--out", str(tmp_path / "hold")], tag=tag, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    hold = json.loads((tmp_path / "hold" / "summary.json").read_text())
    assert hold["routing"] == "hold-down(threshold_ratio=3)" and hold["pairs"]["Beijing->Kashi"]["path_agree_pct"] == 100
    assert runs["static"]["stretch"]["Beijing->Kashi"]["predicted"] == pytest.approx(1.0)
    assert runs["static"]["stretch"]["Beijing->Kashi"]["taken"] == pytest.approx(1.0)  # traced = optimum
    assert hold["stretch"]["Beijing->Kashi"]["predicted"] >= 1.0
    assert runs["ospf"]["control_plane"]["what"] == "FRR daemons' CPU" and runs["ospf"]["control_plane"]["s"] > 0
    assert runs["static"]["control_plane"]["what"] == "route planning" and runs["static"]["control_plane"]["s"] >= 0
    r = _run(["compare", str(tmp_path / "static"), str(tmp_path / "ospf"), str(tmp_path / "hold")])
    assert r.returncode == 0, r.stderr
    assert "C: hold-down(threshold_ratio=3)" in r.stdout and "RTT stretch" in r.stdout and "control plane s" in r.stdout


def test_ospf_that_cannot_start_fails_the_run_in_one_line_and_leaves_nothing(tmp_path, tag):
    """ospfd of one node refuses to start (an option it does not know, put on its command line
    inside the child process): the run exits 1 with one line naming the node and the daemon, and
    no namespace, daemon or FRR run directory is left."""
    from emulator.frr import FRR_STATE_DIR, frr_missing

    if frr_missing():
        pytest.skip(f"FRR unavailable: {frr_missing()}")
    child = ("import sys\n"
             "from emulator.frr import FrrNode\n"
             "real = FrrNode.argv\n"
             "FrrNode.argv = lambda self, d: real(self, d) + (['--no-such-option'] if (self.name, d) == "
             "('Kashi', 'ospfd') else [])\n"
             "from sgemu.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-c", child, "run", "--no-netem", "--routing", "ospf", "--duration", "4",
                        "-q", "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, SGEMU_RUN_TAG=tag))
    assert r.returncode == 1, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("sgemu: error: OSPF: Kashi: ospfd exited"), r.stderr
    assert "unrecognized option" in (out / "frr" / "Kashi" / "ospfd.log").read_text()
    assert ours(tag) == [] and list(FRR_STATE_DIR.glob(f"sgemu-{tag}-*")) == []


@pytest.mark.parametrize("emulation, field", [
    ({"routing": "rip"}, "emulation.routing"),
    ({"routing": "ospf", "ospf": {"timers": "quick"}}, "emulation.ospf.timers"),
    ({"routing": "ospf", "ospf": {"links": "borrowed"}}, "emulation.ospf.links"),
    ({"routing": "ospf", "ospf": {"hello_s": 5, "dead_s": 5}}, "emulation.ospf.dead_s"),
    ({"routing": "ospf", "ospf": {"areas": {"MARS": "0.0.0.1"}}}, "emulation.ospf.areas.MARS"),
    ({"routing": "ospf", "ospf": {"colour": "red"}}, "emulation.ospf.colour"),
    ({"speed": 2}, "emulation.speed"),
])
def test_bad_emulation_keys_fail_in_one_line_before_any_namespace_exists(tmp_path, tag, emulation, field):
    import yaml

    from sgemu.scenario import default_scenario_path

    scen = yaml.safe_load(open(default_scenario_path()))
    scen["emulation"] = emulation
    path = tmp_path / "scen.yaml"
    path.write_text(yaml.safe_dump(scen))
    r = _run(["run", str(path), "--no-netem", "--duration", "4"], tag=tag)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and field in r.stderr and "accepted" in r.stderr, r.stderr
    assert ours(tag) == []
