"""Routes planned ahead in a worker equal routes computed on the spot, step after step."""

from __future__ import annotations

import numpy as np

from emulator.routeplan import RoutePlanner
from sgemu.scenario import load_scenario
from topologies.builder import build_series
from topologies.routing import next_hops


def test_planner_in_a_worker_matches_direct_next_hops_including_skipped_steps():
    scen = load_scenario().with_overrides(duration_s=40, step_s=2)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    planner = RoutePlanner(series, ahead=True)
    try:
        for k in (0, 1, 2, 5, 6, 13, 20):
            expected = next_hops(series, k)[1]
            assert np.array_equal(planner.plan(k), expected), f"step {k}"
    finally:
        planner.close()


def test_a_stateful_strategy_planned_in_a_worker_makes_the_same_decisions_as_offline():
    from topologies.strategies import StrategyPlanner

    scen = load_scenario().with_overrides(duration_s=60, step_s=2)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    spec = {"strategy": "hold-down", "threshold_ratio": 1.5, "threshold_ms": 50}
    planner = RoutePlanner(series, ahead=True, strategy=spec)
    offline = StrategyPlanner(series, spec)
    held = 0
    try:
        for k in (0, 1, 2, 3, 5, 6, 7, 12, 13, 20, 21, 22):
            expected = offline.decide(k).next_hop
            got = planner.plan(k)
            assert np.array_equal(got, expected), f"step {k}"
            held += int((got != next_hops(series, k)[1]).sum())
            assert k in planner.plan_ms
    finally:
        planner.close()
    assert held > 0, "hold-down never differed from shortest-delay: the test would prove nothing"


def test_multipath_rows_come_back_from_the_worker():
    from topologies.strategies import StrategyPlanner

    scen = load_scenario().with_overrides(duration_s=10)
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    spec = {"strategy": "ecmp", "metric": "hops"}
    planner = RoutePlanner(series, ahead=True, strategy=spec)
    offline = StrategyPlanner(series, spec)
    try:
        for k in range(4):
            dec = offline.decide(k)
            assert np.array_equal(planner.plan(k), dec.next_hop)
            assert np.array_equal(planner.extra, dec.extra) and len(dec.extra) > 0
    finally:
        planner.close()
