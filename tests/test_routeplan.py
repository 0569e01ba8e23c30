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
