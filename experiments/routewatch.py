"""Route convergence: how long the kernels' routes take to become the shortest paths again.

After every step at which the right routes change -- a handover, a link
that appears or fails, new OSPF costs -- :class:`RouteWatch` reads every
node's forwarding table (:class:`~emulator.fib.FibReader`) again and again
until all of them are right, and records for that change::

    step, t_s          when the change was due (scenario time)
    converged_s        wall seconds from the step's due time until a full read found every
                       route right (None: a newer change came first, or the run ended)
    routes_changed     forwarding entries (node, destination) that differ between the last
                       state known right (an earlier change's) and this change's first right read
    wrong_at_first     entries still wrong in the first read after the change
    wrong_min          fewest entries wrong in any read while the change was open (0 once
                       converged; above 0 when the next change came first)
    read_s             how long one read of all tables took (the timing's resolution)

"Right" depends on the routing mode.  ``static``: exactly the next hops the
emulator planned (:func:`topologies.routing.next_hops`, delay-shortest).
``ospf``: on a shortest path under the costs OSPF is configured with at that
moment (delays in 0.1 ms units, or 1 per hop), equal-cost choices all
counting (:func:`topologies.routing.on_shortest_paths`).  With OSPF areas
(``areas: per-layer``) a path inside an area wins over a shorter one across
the backbone, so there "right" means only: a route to every node that can
be reached.  With BGP (:class:`BgpTarget`): packets between every two
stations BGP can carry arrive, whichever path BGP picked.

The watch runs in a thread beside the step loop, with its own netlink
sockets, and sleeps between reads; it reads only while a change is open,
so a quiet network costs nothing.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from emulator.fib import FibReader
from topologies.routing import on_shortest_paths


class StaticTarget:
    """Right routes of a static run: the emulator's installed plan, exactly."""

    def __init__(self, net):
        self.net = net

    def at(self, k: int):
        nh = self.net.nh.copy()
        return nh.tobytes(), nh

    @staticmethod
    def wrong(target, nh, extra) -> int:
        bad = nh != target
        np.fill_diagonal(bad, False)
        return int(bad.sum())


class OspfTarget:
    """Right routes of an OSPF run: shortest under the costs configured now (one area),
    or merely present for every reachable node (several areas)."""

    def __init__(self, frr):
        self.frr = frr
        self.reach_only = bool(frr.plan.layer_areas)

    def at(self, k: int):
        w = self.frr.cost_matrix(k)
        w.sort_indices()
        key = (w.indptr.tobytes(), w.indices.tobytes(), w.data.tobytes())
        return key, (w, self.reach_only)

    @staticmethod
    def wrong(target, nh, extra) -> int:
        w, reach_only = target
        if reach_only:
            from scipy.sparse.csgraph import connected_components

            _, comp = connected_components(w, directed=False)
            missing = (nh < 0) & (comp[:, None] == comp[None, :])
            np.fill_diagonal(missing, False)
            return int(missing.sum())
        return int((~on_shortest_paths(w, nh, extra)).sum())


class BgpTarget:
    """Right routes of a BGP run: packets between every pair of stations BGP can carry arrive hop by
    hop (:meth:`emulator.bgp.BgpPlan.deliverable`, :func:`emulator.fib.paths_arrive`).  BGP picks
    by AS path, not by delay, so which path they take is not judged; a change opens when the links
    up change, not when delays move."""

    def __init__(self, frr):
        self.plan, self.series = frr.bgp, frr.series
        self.stations = np.asarray(frr.series.ground_indices)

    def at(self, k: int):
        want = self.plan.deliverable(k, self.stations)
        ids, _ = self.series.active(k)
        return (want.tobytes(), np.sort(ids).tobytes()), (k, want)

    def wrong(self, target, nh, extra) -> int:
        from emulator.fib import paths_arrive

        k, want = target
        return int((want & ~paths_arrive(self.series, k, nh, self.stations)).sum())


class RouteWatch:
    """Times route convergence after each change; ``notify(k, due)`` after every applied step."""

    def __init__(self, net, target, step_s: float, pause_s: float = 0.02, give_up_s: float = 120.0):
        self.fib = FibReader(net)
        self.target = target
        self.step_s = step_s
        self.pause_s = pause_s
        self.give_up_s = give_up_s
        self.records: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()   # notify and refresh come from different threads
        self._last: tuple[int, float] | None = None
        self._thread = threading.Thread(target=self._run, name="route-watch", daemon=True)
        self._thread.start()

    def notify(self, k: int, due_wall: float) -> None:
        """Step k (due at wall time ``due_wall``) has been applied; its right routes are taken now."""
        with self._lock:
            self._last = (k, due_wall)
            self._queue.put((k, due_wall, *self.target.at(k)))

    def refresh(self) -> None:
        """What makes routes right changed without a new step (new OSPF costs, sent after the
        step's notify by another thread): take the latest step's right routes again.

        Without it a cost change would be judged against the old costs until the next step, and
        the last one of a run never."""
        with self._lock:
            if self._last is not None:
                k, due = self._last
                self._queue.put((k, due, *self.target.at(k)))

    def close(self) -> list[dict]:
        """Stop watching (an open change stays unconverged) and return the records."""
        self._queue.put(None)
        self._thread.join(timeout=60)
        self.fib.close()
        return self.records

    # -- the thread ---------------------------------------------------------------
    def _read(self):
        t0 = time.time()
        nh, extra = self.fib.next_hops()
        return nh, extra, time.time() - t0

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # a measurement must never break the run
            self.records.append({"error": f"{type(exc).__name__}: {exc}"})

    def _watch(self) -> None:
        key, before = None, None
        item = self._queue.get()
        while item is not None:
            k, due, new_key, target = item
            item = False
            if new_key == key:
                item = self._queue.get()
                continue
            key = new_key
            rec = {"step": k, "t_s": k * self.step_s, "converged_s": None, "routes_changed": None,
                   "wrong_at_first": None, "read_s": None}
            self.records.append(rec)
            while True:
                t_look = time.time()
                nh, extra, read_s = self._read()
                wrong = self.target.wrong(target, nh, extra)
                look_s = time.time() - t_look
                if rec["wrong_at_first"] is None:
                    rec["wrong_at_first"], rec["read_s"] = wrong, read_s
                rec["wrong_min"] = min(wrong, rec.get("wrong_min", wrong))
                if wrong == 0:
                    rec["converged_s"] = max(0.0, time.time() - due)
                    if before is not None:
                        changed = nh != before
                        np.fill_diagonal(changed, False)
                        rec["routes_changed"] = int(changed.sum())
                    before = nh  # the last state known right: routes changed count from here
                    break
                if time.time() - due > self.give_up_s:
                    break
                # rest at least as long as the look took: the watch never takes more than half
                # a core from the daemons it measures (500 nodes: ~1.6 s per read of all tables)
                time.sleep(max(self.pause_s, look_s))
                item = self._newer(key)
                if item is not False:
                    break  # a newer change (or the end) comes first: this one stays open
            if item is False:
                item = self._queue.get()

    def _newer(self, key):
        """The next queued notification whose right routes differ from ``key`` (None: stop), else False."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None or item[2] != key:
                return item
