"""A routing strategy drives the live network: packets go where the strategy said (needs root, not netem).

Namespaces on this host's kernel without delay shaping: traceroute follows
a custom strategy's path at every sampled step, ECMP decisions become
kernel multipath routes, and a controller delay installs each decision late.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from emulator import addressing as addr
from emulator.namespaces import our_namespaces
from topologies import strategies as S

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def series():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=120)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


@pytest.fixture
def tag():
    import secrets

    return "t" + secrets.token_hex(3)


@pytest.fixture
def make_net(series, tag):
    from emulator.network import EmulatedNetwork

    made = []

    def make(strategy):
        net = EmulatedNetwork(series, shaping=False, run_tag=tag, strategy=strategy)
        made.append(net)
        return net

    yield make
    for net in made:
        net.stop()
    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")] == [], "namespaces left behind"


def traceroute(net, series, src: str, dst: str) -> list[str]:
    out = net.host(src).cmd("traceroute", "-n", "-q", "1", "-w", "1", "-s", net.address(src), net.address(dst))
    ips = [m.group(1) for m in re.finditer(r"^\s*\d+\s+(\d+\.\d+\.\d+\.\d+)", out, re.M)]
    return [src] + [series.node_names[addr.node_of_address(ip, series.link_a, series.link_b)] for ip in ips]


def test_traceroute_follows_a_custom_strategy_at_every_sampled_step(series, make_net):
    spec = S.parse_routing({"strategy": "python: docs/examples/strategy_example.py:prefer_beidou",
                            "leo_penalty_ms": 60}, base_dir=ROOT)
    names = [("Sanya", "Nairobi"), ("Kashi", "Karachi"), ("Moscow", "Nairobi")]
    pairs = [(series.index(a), series.index(b)) for a, b in names]
    predicted = S.predict_pairs(series, spec, pairs)
    shortest = S.predict_pairs(series, "shortest-delay", pairs)
    net = make_net(spec)
    net.start(0)
    differs = 0
    for k in (0, 30, 60, 90, 119):
        for j in range(net.step + 1, k + 1):
            net.apply_step(j)
        for p, (a, b) in enumerate(names):
            want = [series.node_names[i] for i in predicted.paths[p][k]]
            assert traceroute(net, series, a, b) == want, (k, a, b)
            differs += predicted.paths[p][k] != shortest.paths[p][k]
    assert differs >= 3, "the strategy chose the delay-shortest paths: the test would prove nothing"


def _gateways(series, i: int, hops) -> set[int]:
    """Link addresses of node i's neighbours ``hops`` (the gateways a route names)."""
    link_of = {(int(a), int(b)): l for l, (a, b) in enumerate(zip(series.link_a, series.link_b))}
    out = set()
    for h in hops:
        link = link_of[(min(i, h), max(i, h))]
        out.add(addr.link_u32(link, 1 if series.link_a[link] == i else 0))
    return out


def test_ecmp_decisions_become_kernel_multipath_routes(series, make_net):
    spec = S.parse_routing({"strategy": "ecmp", "metric": "hops"})
    net = make_net(spec)
    net.start(0)
    for k in range(1, 6):
        net.apply_step(k)
    planner = S.StrategyPlanner(series, spec)
    for k in range(6):
        dec = planner.decide(k)
    multi = dec.multipath()
    assert len(multi) > 20
    checked = 0
    for i in sorted({i for i, _ in multi})[:12]:
        routes = net.nodes[i].batch.host_routes()   # {dst: gateways} read back from the kernel
        for (node, j), hops in multi.items():
            if node == i:
                assert set(routes[addr.loopback_u32(j)]) == _gateways(series, i, hops), (i, j)
                checked += 1
        single = [j for j in range(series.n_nodes) if dec.next_hop[i, j] >= 0 and (i, j) not in multi]
        for j in single:
            assert set(routes[addr.loopback_u32(j)]) == _gateways(series, i, [dec.next_hop[i, j]])
    assert checked > 20
    # traffic still arrives over the multipath routes
    src, dst = "Beijing", "Kashi"
    out = net.host(src).cmd("ping", "-c", "2", "-W", "2", "-I", net.address(src), net.address(dst))
    assert " 0% packet loss" in out, out


def test_a_controller_delay_installs_each_decision_that_much_late(series, make_net):
    delay_ms = 1500.0
    spec = S.parse_routing({"strategy": "shortest-delay", "controller_delay_ms": delay_ms})
    planner = S.StrategyPlanner(series, spec)
    decisions = [planner.decide(k).next_hop for k in range(series.n_steps)]
    # a step where a satellite's route changes while the old next hop's link stays up
    up = [set(map(int, series.active(k)[0])) for k in range(series.n_steps)]
    link_of = {(int(a), int(b)): l for l, (a, b) in enumerate(zip(series.link_a, series.link_b))}
    k, i, j = next((k, int(i), int(j)) for k in range(5, series.n_steps)
                   for i, j in zip(*np.nonzero(decisions[k] != decisions[k - 1]))
                   if decisions[k - 1][i, j] >= 0 and decisions[k][i, j] >= 0
                   and link_of[tuple(sorted((int(i), int(decisions[k - 1][i, j]))))] in up[k])
    net = make_net(spec)
    net.start(0)
    for step in range(1, k):  # fast-forward: due long enough ago to install at once
        net.apply_step(step, due_s=time.time() - delay_ms / 1e3)
    net.wait_routes()
    batch = net.nodes[i].batch
    old = _gateways(series, i, [decisions[k - 1][i, j]])
    new = _gateways(series, i, [decisions[k][i, j]])
    assert set(batch.host_routes()[addr.loopback_u32(j)]) == old
    due = time.time()
    net.apply_step(k, due_s=due)
    time.sleep(0.5)
    assert set(batch.host_routes()[addr.loopback_u32(j)]) == old, "installed before the controller delay"
    net.wait_routes()
    assert set(batch.host_routes()[addr.loopback_u32(j)]) == new
    rec = net.route_installs[-1]
    assert rec["step"] == k and "error" not in rec and rec["installed_s"] - due >= delay_ms / 1e3 - 0.01
    assert socket.inet_ntoa(int(addr.loopback_u32(j)).to_bytes(4, "big")) == addr.loopback_ip(j)
