"""Claims about the route watch's bookkeeping (no namespaces: the tables it reads are scripted).

What the kernels forward is read by :class:`emulator.fib.FibReader`; here a
scripted reader stands in for it, so the watch's own logic -- one record
per change, timed from the change's due time, re-judged when OSPF's costs
change between steps -- is checked alone.  The live reads are exercised
in test_frr.py and test_emulation_host.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import experiments.routewatch as routewatch


class _ScriptedFib:
    """Stands in for FibReader: every node forwards to ``ScriptedFib.hop`` (shape (2, 2))."""

    hop = 1

    def __init__(self, net):
        pass

    def next_hops(self):
        return np.full((2, 2), _ScriptedFib.hop), []

    def close(self):
        pass


class _CostTarget:
    """Right routes depend on the configured costs only: next hop ``cost``."""

    def __init__(self):
        self.cost = 1

    def at(self, k):
        return self.cost, self.cost

    @staticmethod
    def wrong(target, nh, extra):
        return int((nh != target).sum())


def _records_settle(watch, n, timeout_s=5.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if len(watch.records) >= n and all(r["converged_s"] is not None for r in watch.records[:n]):
            return
        time.sleep(0.01)
    raise AssertionError(f"records {watch.records}")


@pytest.fixture
def watch(monkeypatch):
    monkeypatch.setattr(routewatch, "FibReader", _ScriptedFib)
    _ScriptedFib.hop = 1
    target = _CostTarget()
    w = routewatch.RouteWatch(None, target, step_s=1.0, pause_s=0.01, give_up_s=30)
    yield w, target
    w.close()


def test_a_cost_change_between_steps_opens_a_change_that_converges_when_the_routes_follow(watch):
    w, target = watch
    due = time.time()
    w.notify(0, due)
    _records_settle(w, 1)
    target.cost = 2                 # new costs sent after step 0's notify
    w.refresh()
    time.sleep(0.2)
    assert len(w.records) == 2 and w.records[1]["converged_s"] is None  # judged by the new costs: wrong
    assert w.records[1]["wrong_at_first"] == 4 and w.records[1]["wrong_min"] == 4
    _ScriptedFib.hop = 2            # the routers follow
    _records_settle(w, 2)
    rec = w.records[1]
    assert rec["step"] == 0 and rec["converged_s"] >= 0.2  # timed from step 0's due time
    assert rec["routes_changed"] == 2 and rec["wrong_min"] == 0


def test_refresh_with_the_same_right_routes_opens_no_change(watch):
    w, target = watch
    w.notify(0, time.time())
    _records_settle(w, 1)
    w.refresh()                     # costs moved less than anything that matters: same target
    w.notify(1, time.time())        # a step that changes nothing either
    time.sleep(0.2)
    assert len(w.records) == 1
