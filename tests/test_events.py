"""Failure events take links out of the series, routes go around them; fades set ground-link loss."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from sgemu.scenario import load_scenario
from topologies.builder import build_series
from topologies.events import EventError, apply_events, apply_failures, parse_events
from topologies.rules import KINDS
from topologies.series import LinkSeries
from topologies.routing import route_pair


@pytest.fixture(scope="module")
def series():
    scen = load_scenario().with_overrides(duration_s=60, step_s=5)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis)


def _nodes_used(s, k):
    ids, _ = s.active(k)
    return set(s.link_a[ids].tolist()) | set(s.link_b[ids].tolist())


def test_a_failed_node_loses_all_its_links_only_during_its_window_and_routes_avoid_it(series):
    path = route_pair(series, series.index("Beijing"), series.index("Kashi"))
    victim = path.paths[0][2]  # a satellite on the first predicted path
    name = series.node_names[victim]
    failed = apply_failures(series, parse_events(series, [{"type": "node-down", "node": name, "at_s": 20, "until_s": 40}]))
    for k in range(series.n_steps):
        t = series.axis.t_s[k]
        if 20 <= t < 40:
            assert victim not in _nodes_used(failed, k)
        else:
            assert np.array_equal(failed.active(k)[0], series.active(k)[0])
    rerouted = route_pair(failed, series.index("Beijing"), series.index("Kashi"))
    for k in range(series.n_steps):
        if 20 <= series.axis.t_s[k] < 40:
            assert victim not in rerouted.paths[k]
        else:
            assert rerouted.paths[k] == path.paths[k]  # recovery restores the original routes


def test_a_link_down_event_removes_exactly_that_link(series):
    ids, _ = series.active(0)
    link = int(ids[0])
    a, b = series.node_names[series.link_a[link]], series.node_names[series.link_b[link]]
    failed = apply_failures(series, parse_events(series, [{"type": "link-down", "a": b, "b": a, "at_s": 0}]))
    for k in range(series.n_steps):
        before, after = set(series.active(k)[0].tolist()), set(failed.active(k)[0].tolist())
        assert before - after <= {link} and after <= before and link not in after


def test_a_weather_fade_sets_loss_on_that_stations_ground_links_only_in_its_window(series, tmp_path):
    bj = series.index("Beijing")
    ev = [{"type": "weather-fade", "stations": "beijing", "loss_pct": 30, "at_s": 20, "until_s": 40},
          {"type": "node-down", "node": "Kashi", "at_s": 30}]
    faded = apply_events(series, parse_events(series, ev))
    ground = KINDS.index("ground")
    seen = 0
    for k in range(series.n_steps):
        ids, _ = faded.active(k)
        loss = faded.loss_at(k)
        at_bj = ((faded.link_a[ids] == bj) | (faded.link_b[ids] == bj)) & (faded.link_kind[ids] == ground)
        if 20 <= series.axis.t_s[k] < 40:
            assert at_bj.any() and np.all(loss[at_bj] == 30)
            seen += int(at_bj.sum())
        assert np.all(loss[~at_bj] == 0) and (np.all(loss == 0) or 20 <= series.axis.t_s[k] < 40)
    assert seen > 0
    # the fade survives a save/load round trip; the failure kept its links out
    back = LinkSeries.load(faded.save(tmp_path / "faded"))
    for k in range(series.n_steps):
        assert np.array_equal(back.loss_at(k), faded.loss_at(k))
        assert np.array_equal(back.active(k)[0], faded.active(k)[0])
    assert series.step_loss_pct is None  # the original is untouched


def test_random_failures_are_seeded_and_sized(series):
    ev = [{"type": "random-failure", "group": "leo", "share": 0.25, "seed": 3, "at_s": 0}]
    f1, f2 = parse_events(series, ev), parse_events(series, ev)
    assert f1[0].nodes == f2[0].nodes and len(f1[0].nodes) == 12  # 25 % of 48
    assert all(series.node_shell[n] == "leo" for n in f1[0].nodes)


@pytest.mark.parametrize("event, field", [
    ({"type": "node-down", "node": "Atlantis", "at_s": 0}, "events[0].node"),
    ({"type": "node-down", "node": "Beijing", "at_s": 999}, "events[0].at_s"),
    ({"type": "link-down", "a": "Beijing", "b": "Nairobi", "at_s": 0}, "events[0]"),
    ({"type": "meteor", "at_s": 0}, "events[0].type"),
    ({"type": "weather-fade", "stations": ["Beijing", "Atlantis"], "loss_pct": 5, "at_s": 0}, "events[0].stations[1]"),
    ({"type": "weather-fade", "stations": "Beijing", "loss_pct": 0, "at_s": 0}, "events[0].loss_pct"),
    ({"type": "weather-fade", "stations": "Beijing", "loss_pct": 120, "at_s": 0}, "events[0].loss_pct"),
])
def test_bad_events_are_refused_naming_the_field(series, event, field):
    with pytest.raises(EventError, match="^" + re.escape(field)):
        parse_events(series, [event])


def test_cli_rejects_a_bad_event_with_one_line_and_exit_2(tmp_path):
    from sgemu.scenario import default_scenario_path

    raw = yaml.safe_load(default_scenario_path().read_text())
    raw["events"] = [{"type": "node-down", "node": "Atlantis", "at_s": 1}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    r = subprocess.run([sys.executable, "-m", "sgemu", "links", str(path), "--duration", "10", "-q",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "events[0].node" in r.stderr
    assert "Traceback" not in r.stderr
