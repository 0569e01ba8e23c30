"""Scheduled handover: LEO ground links are reassigned only at global 15 s epochs (as measured for Starlink).

A Starlink-like 550 km shell over Beijing and Shanghai for three minutes:
with ``handover_interval_s: 15, handover_offset_s: 12`` every handover
happens at a UTC instant 12, 27, 42 or 57 s past a minute, the ground
hops of the predicted route change only then, and the same rule without
the schedule hands over at other instants too.
"""

from __future__ import annotations

import numpy as np
import pytest

from sgemu.scenario import parse_scenario
from sgemu.schema import ScenarioError
from topologies.builder import build_series
from topologies.routing import route_pair


def _scenario(ground: dict, duration_s: float = 180):
    return parse_scenario({
        "start": "2024-07-16T00:00:05Z", "duration_s": duration_s, "step_s": 1,
        "constellations": [{"name": "sl", "walker": {"planes": 36, "sats_per_plane": 20, "phasing": 1,
                                                     "inclination_deg": 53, "altitude_km": 550}}],
        "stations": ["Beijing", "Shanghai"],
        "links": [{"rule": "plus-grid", "group": "sl"}, {"rule": "ground", "group": "sl", **ground}],
    })


def _series(ground: dict, duration_s: float = 180):
    scen = _scenario(ground, duration_s)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


def _utc_s(series, t_s: float) -> float:
    return series.axis.start.timestamp() + t_s


@pytest.fixture(scope="module")
def scheduled():
    return _series({"policy": "nearest", "min_elevation_deg": 25, "handover_interval_s": 15,
                    "handover_offset_s": 12})


def test_handovers_happen_only_at_12_27_42_57_seconds_past_the_minute(scheduled):
    handovers = [e for e in scheduled.events() if e["event"] == "handover"]
    assert len(handovers) >= 3
    seconds = {round(_utc_s(scheduled, e["t_s"])) % 60 for e in handovers}
    assert seconds <= {12, 27, 42, 57}, seconds
    downs = [e for e in scheduled.events() if e["event"] == "down" and e["kind"] == "ground"]
    assert all(round(_utc_s(scheduled, e["t_s"]) - 12) % 15 == 0 for e in downs)  # no satellite set mid-slot


def test_without_the_schedule_the_same_policy_hands_over_between_epochs():
    free = _series({"policy": "nearest", "min_elevation_deg": 25})
    seconds = {round(_utc_s(free, e["t_s"])) % 15 for e in free.events() if e["event"] == "handover"}
    assert seconds - {12 % 15}, seconds


def test_the_routes_ground_hops_change_only_at_epochs_and_rtt_jumps_there(scheduled):
    p = route_pair(scheduled, scheduled.index("Beijing"), scheduled.index("Shanghai"))
    names = [p.path_names(k) for k in range(scheduled.n_steps)]
    ends = [(n[1], n[-2]) if n else None for n in names]
    changes = [k for k in range(1, scheduled.n_steps) if ends[k] != ends[k - 1]]
    assert changes, "the satellites serving Beijing and Shanghai never changed in 3 minutes"
    assert all(round(_utc_s(scheduled, float(scheduled.axis.t_s[k])) - 12) % 15 == 0 for k in changes)
    # inside a slot the RTT drifts smoothly (satellites move ~7.6 km/s); the jumps are at epochs
    d = np.abs(np.diff(p.rtt_ms))
    at_epoch = np.array([k in changes for k in range(1, scheduled.n_steps)])
    assert d[at_epoch].max() > d[~at_epoch].max()


def test_sticky_scheduled_keeps_a_satellite_that_lasts_the_next_slot():
    s = _series({"policy": "nearest", "sticky": True, "min_elevation_deg": 25, "handover_interval_s": 15,
                 "handover_offset_s": 12})
    handovers = [e for e in s.events() if e["event"] == "handover"]
    free = _series({"policy": "nearest", "min_elevation_deg": 25, "handover_interval_s": 15,
                    "handover_offset_s": 12})
    assert len(handovers) < len([e for e in free.events() if e["event"] == "handover"])
    assert all(round(_utc_s(s, e["t_s"]) - 12) % 15 == 0 for e in handovers)


@pytest.mark.parametrize("ground, field", [
    ({"policy": "nearest", "handover_interval_s": 0}, "links[1]"),
    ({"policy": "all-visible", "handover_interval_s": 15}, "links[1]"),
    ({"policy": "nearest", "handover_interval_s": "often"}, "links[1].handover_interval_s"),
])
def test_a_bad_schedule_is_one_line_naming_the_field(ground, field):
    with pytest.raises(ScenarioError) as err:
        _scenario(ground).bind()
    assert str(err.value).startswith(field) and "\n" not in str(err.value)


def test_the_tcp_handover_example_hands_over_at_epochs_and_its_path_subgraph_keeps_the_route():
    import importlib.util
    from pathlib import Path

    import sgemu

    root = Path(__file__).resolve().parents[1]
    scen = sgemu.Scenario.load(root / "docs/examples/tcp-handover.yaml", duration_s=100)
    series = scen.series
    handovers = [e["t_s"] for e in series.events() if e["event"] == "handover"]
    assert handovers and all(round(_utc_s(series, t) - 12) % 15 == 0 for t in handovers)
    spec = importlib.util.spec_from_file_location("tcp_handover_compare", root / "docs/examples/tcp_handover_compare.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    full = route_pair(series, series.index("Beijing"), series.index("Gateway"))
    nodes = {series.index(n) for k in range(series.n_steps) for n in full.path_names(k)}
    sub = example.restrict(series, nodes)
    assert sub.n_nodes == len(nodes) < 10
    part = route_pair(sub, sub.index("Beijing"), sub.index("Gateway"))
    assert np.allclose(part.rtt_ms, full.rtt_ms)
    assert [part.path_names(k) for k in range(sub.n_steps)] == [full.path_names(k) for k in range(series.n_steps)]
    b = sub.index("Beijing")
    caps = [c for k in range(sub.n_steps) for i, c in zip(sub.active(k)[0], sub.capacity_at(k))
            if b in (sub.link_a[i], sub.link_b[i])]
    assert all(np.isfinite(caps)) and 1.0 < min(caps)  # the budget's Ku share, carried into the subgraph


def test_the_tcp_handover_examples_capacity_is_its_downlink_share_because_its_uplink_keeps_the_carrier():
    from pathlib import Path

    import sgemu
    from topologies.linkbudget import LinkBudget

    root = Path(__file__).resolve().parents[1]
    series = sgemu.Scenario.load(root / "docs/examples/tcp-handover.yaml", duration_s=100).series
    b = series.index("Beijing")
    j = np.flatnonzero((series.link_a[series.link_id] == b) | (series.link_b[series.link_id] == b))
    a_, b_ = series.link_a[series.link_id[j]], series.link_b[series.link_id[j]]
    budget = LinkBudget.for_series(series)
    res = budget.evaluate(np.zeros(j.size, int), series.distance_km[j].astype(float),
                          series.step_elevation_deg[j].astype(float), np.maximum(a_, b_))
    clear = series.axis.t_s[series.step_of_entry()[j]] < 60  # the rain starts at 60 s
    assert clear.any()
    # the 0.2 % share is the downlink's; the paired 14.25 GHz uplink has its whole carrier (> 100x more)
    assert np.all(res.capacity_up_mbps > 100 * res.capacity_down_mbps)
    assert np.allclose(series.step_capacity_mbps[j][clear], res.capacity_down_mbps[clear])
