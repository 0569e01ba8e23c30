"""Per-change figures of a run: what changed, how long routes and traffic took to recover.

Two views meet here:

- :func:`recoveries`, per ping pair: at every step where the pair's
  predicted path changes (a handover, a link appearing or vanishing, a
  failure), the time until the first reply comes back (``reach_s``), until
  the first reply agrees with the prediction again within max(1 ms, 5 %)
  (``recovery_s``), and the requests lost in between.
- :func:`change_table`, per topology change of the whole network: its
  cause, and the route figures of :class:`~experiments.routewatch.RouteWatch`
  (time until every node's routes are right, routes changed), joined with
  the pairs' recoveries at the same step.

Static routes recover within a step; a routing protocol needs its own
convergence time.  ``sgemu compare`` puts two runs' tables side by side.
"""

from __future__ import annotations

import numpy as np

from .results import agrees


def recoveries(rows: list[dict], change_steps, step_s: float, interval_s: float,
               rtt_emulated: bool = True) -> list[dict]:
    """One record per path change: step, t_s, reach_s, recovery_s (None if never), samples_off, lost.

    A reply counts as recovered when its RTT agrees with the prediction; without delay emulation
    (``rtt_emulated=False``) RTTs say nothing about the path, so any reply does."""
    rows = sorted(rows, key=lambda r: r["t_s"])
    t = np.array([r["t_s"] for r in rows])
    m = np.array([r["rtt_ms_measured"] for r in rows])
    p = np.array([r["rtt_ms_predicted"] for r in rows])
    ok = np.isfinite(p) & (agrees(m, np.where(np.isfinite(p), p, 0.0)) if rtt_emulated else True)
    out = []
    changes = sorted(int(k) for k in change_steps)
    for n, k in enumerate(changes):
        t0 = k * step_s
        t_end = changes[n + 1] * step_s if n + 1 < len(changes) else np.inf
        window = (t >= t0) & (t < t_end)
        got = np.flatnonzero(window)
        good = np.flatnonzero(window & ok)
        rec = float(t[good[0]] - t0) if good.size else None
        upto = t[good[0]] if good.size else min(t_end, t[-1] if t.size else t0)
        received = int(((t >= t0) & (t < upto)).sum())
        expected = int(max(0.0, upto - t0) / interval_s)
        out.append({"step": k, "t_s": t0, "reach_s": float(t[got[0]] - t0) if got.size else None,
                    "recovery_s": rec, "samples_off": received, "lost": max(0, expected - received)})
    return out


def summarise(recs: list[dict]) -> dict:
    times = [r["recovery_s"] for r in recs if r["recovery_s"] is not None]
    return {
        "changes": len(recs),
        "recovered": len(times),
        "recovery_s_mean": float(np.mean(times)) if times else None,
        "recovery_s_max": float(np.max(times)) if times else None,
        "lost_total": int(sum(r["lost"] for r in recs)),
    }


def causes_by_step(series, events=()) -> dict[int, str]:
    """A short text per step saying what changed: handovers, links up/down, scenario events."""
    per: dict[int, dict] = {}
    for e in series.events():
        c = per.setdefault(e["step"], {"up": 0, "down": 0, "handover": []})
        if e["event"] == "handover":
            c["handover"].append(e["station"])
        else:
            c[e["event"]] += 1
    out: dict[int, list[str]] = {}
    for k, c in per.items():
        parts = []
        if c["handover"]:
            parts.append("handover " + ", ".join(c["handover"]))
        if c["up"] or c["down"]:
            parts.append(f"{c['up']} up/{c['down']} down")
        out[k] = parts
    for ev in events:
        out.setdefault(ev.k0, []).insert(0, ev.label)
        if ev.k1 < series.n_steps:
            out.setdefault(ev.k1, []).insert(0, f"end of {ev.label}")
    return {k: "; ".join(v) for k, v in out.items()}


def _quiet_cause(routing: str) -> str:
    """What changed routes at a step without a link event, by routing mode (label as the run's)."""
    if routing in ("ospf", "isis"):
        return f"{ {'ospf': 'OSPF', 'isis': 'IS-IS'}[routing]} costs updated"
    if routing.startswith("bgp+"):
        return "BGP or IGP routes moved"
    return "delays moved shortest paths" if routing == "static" else "delays moved the strategy's routes"


def change_table(watch: list[dict], per_pair: dict[str, list[dict]], causes: dict[int, str],
                 step_s: float, routing: str = "static", steps_run: tuple[int, int] | None = None) -> list[dict]:
    """One row per step at which routes or a pair's path changed, or an event began or ended.

    ``watch`` are :class:`~experiments.routewatch.RouteWatch` records,
    ``per_pair`` maps ``"src->dst"`` to :func:`recoveries` records.  Each row
    has step, t_s, cause, the route figures (None where not measured) and
    per pair ``reach_s``, ``recovery_s`` and ``lost`` (None where the pair's
    path did not change).  ``steps_run`` (first, last): the steps the run
    went through; causes outside it are left out and the first is the start.
    """
    by_step = {r["step"]: r for r in watch if "step" in r}
    k_first, k_last = steps_run if steps_run is not None else (0, None)
    steps = set(by_step) | {k for k in causes if k_first <= k and (k_last is None or k <= k_last)}
    for recs in per_pair.values():
        steps |= {r["step"] for r in recs}
    rows = []
    for k in sorted(steps):
        w = by_step.get(k, {})
        cause = causes.get(k) or ("start" if k == k_first else _quiet_cause(routing) if w else "")
        row = {"step": k, "t_s": k * step_s, "cause": cause,
               "routes_changed": w.get("routes_changed"), "routes_right_s": w.get("converged_s"),
               "wrong_at_first": w.get("wrong_at_first"), "read_s": w.get("read_s"), "pairs": {}}
        for pair, recs in per_pair.items():
            r = next((r for r in recs if r["step"] == k), None)
            if r is not None:
                row["pairs"][pair] = {"reach_s": r["reach_s"], "recovery_s": r["recovery_s"], "lost": r["lost"]}
        rows.append(row)
    return rows


def flat_rows(table: list[dict]) -> list[dict]:
    """The change table as flat CSV rows (one per change and pair; pair '' when none changed)."""
    out = []
    for row in table:
        base = {k: row[k] for k in ("step", "t_s", "cause", "routes_changed", "routes_right_s",
                                    "wrong_at_first", "read_s")}
        pairs = row["pairs"] or {"": {"reach_s": None, "recovery_s": None, "lost": None}}
        for pair, r in pairs.items():
            out.append({**base, "pair": pair, **r})
    return out


def route_summary(watch: list[dict]) -> dict:
    """Mean / max route convergence and total routes changed over the measured changes (start excluded)."""
    recs = [r for r in watch if r.get("step", 0) > 0]
    times = [r["converged_s"] for r in recs if r.get("converged_s") is not None]
    return {
        "changes": len(recs),
        "converged": len(times),
        "routes_right_s_mean": float(np.mean(times)) if times else None,
        "routes_right_s_max": float(np.max(times)) if times else None,
        "routes_changed_total": int(sum(r.get("routes_changed") or 0 for r in recs)),
        "read_s_mean": float(np.mean([r["read_s"] for r in recs if r.get("read_s") is not None]))
        if any(r.get("read_s") is not None for r in recs) else None,
        "errors": [r["error"] for r in watch if "error" in r],
    }
