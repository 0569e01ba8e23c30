"""How long traffic takes to recover after each predicted path change.

For every ping pair and every step at which the predicted path changes
(a handover, a link appearing or vanishing), :func:`recoveries` finds the
first sample sent after the change whose RTT agrees with the prediction
again (within max(1 ms, 5 %)), and counts the requests lost or off in
between.  Static routes recover within a step; a routing protocol needs
its own convergence time -- the table compares them on the same scenario.
"""

from __future__ import annotations

import numpy as np

from .results import agrees


def recoveries(rows: list[dict], change_steps, step_s: float, interval_s: float) -> list[dict]:
    """One record per path change: t_s, recovery_s (None if never), samples_off, lost."""
    rows = sorted(rows, key=lambda r: r["t_s"])
    t = np.array([r["t_s"] for r in rows])
    m = np.array([r["rtt_ms_measured"] for r in rows])
    p = np.array([r["rtt_ms_predicted"] for r in rows])
    ok = np.isfinite(p) & agrees(m, np.where(np.isfinite(p), p, 0.0))
    out = []
    changes = sorted(int(k) for k in change_steps)
    for n, k in enumerate(changes):
        t0 = k * step_s
        t_end = changes[n + 1] * step_s if n + 1 < len(changes) else np.inf
        window = (t >= t0) & (t < t_end)
        good = np.flatnonzero(window & ok)
        rec = float(t[good[0]] - t0) if good.size else None
        upto = t[good[0]] if good.size else min(t_end, t[-1] if t.size else t0)
        received = int(((t >= t0) & (t < upto)).sum())
        expected = int(max(0.0, upto - t0) / interval_s)
        out.append({"t_s": t0, "recovery_s": rec, "samples_off": received,
                    "lost": max(0, expected - received)})
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
