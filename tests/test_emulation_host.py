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

    name = "sgemu-killedrun-node"
    netns.create(name)
    proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    time.sleep(0.3)
    r = _run(["clean"])
    assert r.returncode == 0, r.stderr
    assert name not in our_namespaces()
    assert proc.wait(timeout=10) != 0
    assert clean(prefix=name) == {"namespaces": 0, "processes": 0, "live": []}  # idempotent


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


def test_an_ospf_run_routes_pings_with_frr_and_reports_recovery(tmp_path, tag):
    import json

    from emulator.frr import frr_missing

    if frr_missing():
        pytest.skip(f"FRR unavailable: {frr_missing()}")
    r = _run(["run", "--no-netem", "--routing", "ospf", "--duration", "15", "--ping", "Beijing:Kashi",
              "--out", str(tmp_path / "run"), "-q"], tag=tag, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["routing"] == "ospf" and s["ospf"]["initial_convergence_s"] < 30
    pair = s["pairs"]["Beijing->Kashi"]
    assert pair["received"] >= 0.8 * pair["sent"], pair  # OSPF (not static routes) carried the pings
    assert "convergence" in pair
    assert (tmp_path / "run" / "frr" / "Beijing" / "ospfd.log").exists()
    assert ours(tag) == []
    assert subprocess.run(["pgrep", "-f", f"sgemu-{tag}-"], capture_output=True).returncode == 1  # no daemon left
