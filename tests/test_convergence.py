"""Per-change recovery from ping rows (experiments.convergence), with and without delay emulation."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.convergence import recoveries


def _rows(t_s, measured_ms, predicted_ms):
    return [{"t_s": float(t), "rtt_ms_measured": float(m), "rtt_ms_predicted": float(p)}
            for t, m, p in zip(t_s, measured_ms, predicted_ms)]


def test_without_delay_emulation_any_reply_counts_as_recovered():
    # pings every 0.1 s; the path changes at step 2 (t = 2 s); replies stop for 0.5 s after it
    t = [x for x in np.arange(0.0, 4.0, 0.1) if not 2.0 <= x < 2.5]
    rows = _rows(t, [0.05] * len(t), [300.0] * len(t))   # host microseconds against a 300 ms model
    plain, = recoveries(rows, [2], 1.0, 0.1, rtt_emulated=False)
    assert plain["recovery_s"] == pytest.approx(0.5) and plain["lost"] == 5
    judged, = recoveries(rows, [2], 1.0, 0.1, rtt_emulated=True)
    assert judged["recovery_s"] is None and judged["samples_off"] == 14  # no RTT agrees: never recovered


def test_with_delay_emulation_recovery_waits_for_an_rtt_that_agrees():
    t = np.arange(0.0, 4.0, 0.1)
    measured = np.where((t >= 2.0) & (t < 2.3), 350.0, 300.0)  # old path's RTT for 0.3 s after the change
    rows = _rows(t, measured, [300.0] * len(t))
    rec, = recoveries(rows, [2], 1.0, 0.1)
    assert rec["recovery_s"] == pytest.approx(0.3) and rec["reach_s"] == pytest.approx(0.0)
    assert rec["samples_off"] == 3 and rec["lost"] == 0


@pytest.mark.parametrize("routing, cause", [("static", "delays moved shortest paths"),
                                            ("ospf", "OSPF costs updated"), ("isis", "IS-IS costs updated"),
                                            ("hold-down(threshold_ratio=1.2)", "delays moved the strategy's routes"),
                                            ("bgp+ospf", "BGP or IGP routes moved")])
def test_a_change_without_an_event_is_named_after_the_routing(routing, cause):
    from experiments.convergence import change_table

    watch = [{"step": 3, "routes_changed": 4, "converged_s": 0.2}]
    rows = change_table(watch, {}, {}, 1.0, routing)
    assert [r["cause"] for r in rows] == [cause]


def test_a_run_started_late_and_ended_early_lists_only_its_own_steps_and_starts_at_its_first():
    """A run from 55 s to 95 s of a longer scenario: a link event at 110 s (after it) and one at 20 s
    (before it) are not its changes; its first step is the start, not a "costs updated"."""
    from experiments.convergence import change_table

    watch = [{"step": 55, "routes_changed": None, "converged_s": 0.01}, {"step": 60, "converged_s": 0.09}]
    causes = {20: "1 up/0 down", 60: "link Beijing--Kashi down", 90: "end of link Beijing--Kashi down",
              110: "1 up/1 down"}
    rows = change_table(watch, {}, causes, 1.0, "bgp+ospf", steps_run=(55, 95))
    assert [(r["step"], r["cause"]) for r in rows] == [(55, "start"), (60, "link Beijing--Kashi down"),
                                                       (90, "end of link Beijing--Kashi down")]
    assert rows[1]["routes_right_s"] == 0.09


def test_the_plot_legend_names_the_strategy_whose_paths_were_predicted():
    from experiments.run import _predicted_label

    assert _predicted_label("ospf") == _predicted_label("static") == "predicted (shortest path)"
    assert _predicted_label("min-hop") == "predicted (min-hop)"
    assert len(_predicted_label("x" * 100)) < 60
