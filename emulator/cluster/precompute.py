"""The link series computed by Ray tasks, time chunk by time chunk, identical to the local build.

:func:`topologies.builder.build_series` walks the time axis in internal
chunks of ``chunk_steps``.  Here the axis is cut at internal-chunk
boundaries into ranges, one Ray task each; a task runs the same
``build_series`` over its range only (a window on the scene hands it just
those chunks) and returns the range's entries, the rule batches it saw (to
number links exactly as the local build does) and the rules' carried state.

The only state a rule carries from step to step is a sticky (or scheduled)
ground rule's current assignment (``GroundAccess._held``): which satellite
each antenna keeps.  A task starts ``warmup_steps`` before its range from
an empty assignment and reports the assignment it reached at its range's
start; where that differs from the final assignment of the range before
(the warm-up did not converge), the range is computed again from that
exact state.  So the result is always the local one, in parallel where the
warm-up suffices.

Links are then numbered in one pass in the driver, replaying the local
build's rule (new pairs per internal chunk in key order, the first rule's
entry per step), and each step's entries are sorted by the new numbers.
"""

from __future__ import annotations

from .connect import ray_init

import math
import time

import numpy as np

from topologies.builder import build_series, chunk_steps_for
from topologies.rules import KIND_CODE, LinkParams
from topologies.series import LinkSeries

_STEP_FIELDS = LinkSeries.STEP_ARRAYS


def rule_state(rules) -> list:
    """What rules carry from one step to the next (sticky ground assignments), copied."""
    return [None if getattr(r, "_held", None) is None else r._held.copy() for r in rules]


def set_rule_state(rules, state) -> None:
    for r, s in zip(rules, state):
        if s is not None:
            r._held = s.copy()


def same_state(a, b) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))
               for x, y in zip(a, b))


class _Window:
    """The scene, but :meth:`chunks` yields only the internal chunks in [lo, hi); it sets the rules'
    state before the first and notes it at ``start`` and at the end."""

    def __init__(self, scene, rules, lo: int, start: int, hi: int, init_state):
        self._scene, self._rules = scene, rules
        self.lo, self.start, self.hi, self.init_state = lo, start, hi, init_state
        self.state_at_start = self.state_at_end = None

    def __getattr__(self, name):
        return getattr(self._scene, name)

    def chunks(self, axis, chunk_steps: int):
        for sl in axis.chunks(chunk_steps):
            if sl.stop <= self.lo:
                continue
            if sl.start >= self.hi:
                break
            if sl.start == self.lo and self.init_state is not None:
                set_rule_state(self._rules, self.init_state)
            if sl.start == self.start:
                self.state_at_start = rule_state(self._rules)
            yield sl, self._scene.positions_km(axis.skyfield(sl))
        self.state_at_end = rule_state(self._rules)


class _Recorder:
    """A rule that also logs the batches it returns for chunks starting in [start, hi)."""

    def __init__(self, rule, index: int, log: dict, start: int, hi: int):
        self._rule, self._index, self._log, self._start, self._hi = rule, index, log, start, hi

    def __getattr__(self, name):
        return getattr(self._rule, name)

    def links(self, k0, pos_km):
        b = self._rule.links(k0, pos_km)
        if self._start <= k0 < self._hi:
            self._log.setdefault(k0, []).append((self._index, b.step.copy(), b.a.copy(), b.b.copy()))
        return b


def chunk_task(scen, chunk_steps: int, lo: int, start: int, hi: int, init_state=None) -> dict:
    """Build steps [start, hi) (warming up from ``lo``); runs in a Ray task (or locally)."""
    t0 = time.perf_counter()
    scene, rules = scen.bind()
    log: dict = {}
    rec = [_Recorder(r, i, log, start, hi) for i, r in enumerate(rules)]
    win = _Window(scene, rules, lo, start, hi, init_state)
    s = build_series(win, rec, scen.axis, scen.grazing_km, scen.link_parameters(), chunk_steps=chunk_steps,
                     budget=scen.link_budget_for(scene))
    sl = slice(int(s.indptr[start]), int(s.indptr[hi]))
    n = scene.n_nodes
    keys = s.link_a.astype(np.int64) * n + s.link_b
    out = {"start": start, "hi": hi, "counts": np.diff(s.indptr[start:hi + 1]),
           "keys": keys[s.link_id[sl]], "distance_km": s.distance_km[sl], "log": log, "budget": s.budget,
           "state_at_start": win.state_at_start,
           "state_at_end": win.state_at_end, "seconds": time.perf_counter() - t0}
    for f in _STEP_FIELDS:
        v = getattr(s, f, None)
        out[f] = None if v is None else v[sl]
    return out


def plan_ranges(n_steps: int, chunk_steps: int, n_ranges: int) -> list[tuple[int, int]]:
    """[start, hi) ranges on internal-chunk boundaries, about equal, covering the axis."""
    n_chunks = math.ceil(n_steps / chunk_steps)
    n_ranges = max(1, min(n_ranges, n_chunks))
    cuts = [round(i * n_chunks / n_ranges) * chunk_steps for i in range(n_ranges)] + [n_steps]
    return [(a, min(b, n_steps)) for a, b in zip(cuts, cuts[1:]) if a < b]


def build_series_on_cluster(scen, address: str | None = None, n_ranges: int | None = None,
                            warmup_s: float = 1800.0, progress=None) -> tuple[LinkSeries, dict]:
    """The scenario's link series from Ray tasks (see the module docstring); (series, figures).

    ``address`` None uses the Ray already initialised in this process.  ``n_ranges`` defaults to
    twice the cluster's CPUs.  Events (failures, fades) are not applied: as after ``build_series``."""
    import ray

    owned = False
    if not ray.is_initialized():
        ray_init(address, logging_level="ERROR", log_to_driver=False)
        owned = True
    try:
        task = ray.remote(chunk_task).options(num_cpus=1, max_retries=0)
        scen_ref = ray.put(scen)

        def submit(calls):
            return ray.get([task.remote(scen_ref, *args) for args in calls])

        cpus = int(ray.cluster_resources().get("CPU", 1))
        series, figures = build_series_chunked(scen, n_ranges or 2 * max(cpus, 1), warmup_s, submit, progress)
        figures["cpus"] = cpus
        return series, figures
    finally:
        if owned:
            ray.shutdown()


def build_series_chunked(scen, n_ranges: int, warmup_s: float, submit, progress=None) -> tuple[LinkSeries, dict]:
    """Ranges computed by ``submit([(chunk_steps, lo, start, hi[, state]), ...]) -> parts`` (Ray tasks
    or a local map), redone in order where the warm-up did not reach the state before, merged."""
    t0 = time.perf_counter()
    scene, rules = scen.bind()
    for r in rules:
        r.bind(scene, scen.axis, scen.grazing_km)
    ref_chunk = chunk_steps_for(scene, rules=rules)  # what the local build uses: it sets the numbering
    axis = scen.axis
    chunk_steps = max(1, min(ref_chunk, math.ceil(axis.n_steps / n_ranges)))
    ranges = plan_ranges(axis.n_steps, chunk_steps, n_ranges)
    warm = math.ceil(warmup_s / axis.step_s / chunk_steps) * chunk_steps
    parts = submit([(chunk_steps, max(0, a - warm), a, b) for a, b in ranges])
    t_parallel = time.perf_counter() - t0
    redone = 0
    for i in range(1, len(parts)):
        if not same_state(parts[i]["state_at_start"], parts[i - 1]["state_at_end"]):
            a, b = ranges[i]
            parts[i] = submit([(chunk_steps, a, a, b, parts[i - 1]["state_at_end"])])[0]
            redone += 1
        if progress:
            progress(ranges[i][1] - ranges[i][0])
    series = merge(scen, scene, rules, parts, ref_chunk)
    figures = {"ranges": len(ranges), "redone": redone, "chunk_steps": chunk_steps, "warmup_steps": warm,
               "parallel_s": t_parallel, "total_s": time.perf_counter() - t0,
               "task_s": [p["seconds"] for p in parts]}
    return series, figures


def _number_links(parts, rules, n: int, link_params: dict[str, LinkParams], ref_chunk: int):
    """Replay build_series' link numbering over the logged rule batches, regrouped into the local
    build's chunks of ``ref_chunk`` steps, in time order."""
    key_to_id: dict[int, int] = {}
    attrs: list[tuple] = []
    empty = np.zeros(0, dtype=np.int64)
    groups: dict[int, list] = {}
    for p in parts:
        for k0 in sorted(p["log"]):
            for r_i, step, a, b in p["log"][k0]:   # a task's chunk may straddle a local-build chunk
                g = step // ref_chunk
                for gi in np.unique(g).tolist():
                    m = g == gi
                    groups.setdefault(gi, []).append((r_i, step[m], a[m], b[m]))
    for g in sorted(groups):
        batches = [(0, empty, empty, empty)] + groups[g]
        steps = np.concatenate([b[1] for b in batches])
        keys = np.concatenate([b[2].astype(np.int64) * n + b[3] for b in batches])
        owner = np.concatenate([np.full(b[1].size, b[0]) for b in batches])
        # as build_series: the first rule's entry for a pair produced twice at one step
        order = np.lexsort((keys, steps))
        steps, keys, owner = steps[order], keys[order], owner[order]
        first = np.ones(steps.size, dtype=bool)
        first[1:] = (steps[1:] != steps[:-1]) | (keys[1:] != keys[:-1])
        keys, owner = keys[first], owner[first]
        uniq, inv = np.unique(keys, return_inverse=True)
        uniq_owner = np.zeros(uniq.size, dtype=np.int64)
        uniq_owner[inv] = owner
        for key, r_i in zip(uniq.tolist(), uniq_owner.tolist()):
            if key not in key_to_id:
                key_to_id[key] = len(attrs)
                attrs.append(_link_attrs(key, n, rules[r_i], link_params))
    return key_to_id, attrs


def _link_attrs(key: int, n: int, rule, link_params) -> tuple:
    """(a, b, kind code, ms/km, capacity, loss) of a new link, as build_series sets them."""
    params = link_params.get(rule.kind, LinkParams())
    cap = rule.capacity_mbps if rule.capacity_mbps is not None else params.capacity_mbps
    loss = rule.loss_pct if rule.loss_pct is not None else params.loss_pct
    return (key // n, key % n, KIND_CODE[rule.kind], rule.ms_per_km,
            np.nan if cap is None else cap, np.nan if loss is None else loss)


def merge(scen, scene, rules, parts, ref_chunk: int) -> LinkSeries:
    """One LinkSeries from the ranges' parts (in time order), numbered as the local build numbers
    with internal chunks of ``ref_chunk`` steps."""
    n = scene.n_nodes
    key_to_id, attrs = _number_links(parts, rules, n, scen.link_parameters(), ref_chunk)
    lookup_keys = np.array(sorted(key_to_id), dtype=np.int64)
    lookup_ids = np.array([key_to_id[k] for k in lookup_keys.tolist()], dtype=np.int64)
    counts = np.concatenate([p["counts"] for p in parts])
    keys = np.concatenate([p["keys"] for p in parts])
    gid = lookup_ids[np.searchsorted(lookup_keys, keys)] if keys.size else keys
    steps = np.repeat(np.arange(counts.size), counts)
    order = np.lexsort((gid, steps))
    extra = {}
    for f in _STEP_FIELDS:
        if parts[0][f] is not None:
            extra[f] = np.concatenate([p[f] for p in parts])[order]
    a, b, kind, mpk, cap, loss = (zip(*attrs) if attrs else ([],) * 6)
    return LinkSeries(
        axis=scen.axis, node_names=scene.node_names, node_layer=scene.node_layer, node_shell=scene.node_shell,
        link_a=np.array(a, dtype=np.int32), link_b=np.array(b, dtype=np.int32),
        link_kind=np.array(kind, dtype=np.int8), ms_per_km=np.array(mpk, dtype=np.float64),
        capacity_mbps=np.array(cap, dtype=np.float64), loss_pct=np.array(loss, dtype=np.float64),
        indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        link_id=gid[order].astype(np.int32),
        distance_km=np.concatenate([p["distance_km"] for p in parts])[order].astype(np.float32),
        budget=parts[0]["budget"], **extra)


def series_on_cluster(scen, address: str, quiet: bool = True) -> LinkSeries:
    """For ``sgemu links/route --cluster ADDRESS``: the series from Ray tasks, with progress unless
    quiet.  Raises ValueError (one line) when Ray or the cluster cannot be reached."""
    import sys

    try:
        import ray
    except ModuleNotFoundError:
        raise ValueError("--cluster: Ray is not installed (pip install 'sgemu[cluster]')") from None
    from .driver import check_address

    check_address(address)
    try:
        ray_init(address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ValueError(f"--cluster: cannot reach a Ray cluster at {address!r} ({str(exc).splitlines()[0]})") \
            from None
    try:
        done = [0]

        def progress(n):
            done[0] += n
            if not quiet:
                print(f"\r  links on the cluster: {done[0]}/{scen.axis.n_steps} steps", end="", file=sys.stderr)

        series, fig = build_series_on_cluster(scen, progress=progress)
        if not quiet:
            print(f"\r  links on the cluster: {fig['ranges']} ranges on {fig['cpus']} CPUs "
                  f"({fig['redone']} redone), {fig['total_s']:.1f} s", file=sys.stderr)
        return series
    finally:
        ray.shutdown()
