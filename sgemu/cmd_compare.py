"""``sgemu compare RUN_A RUN_B``: two runs of one scenario side by side (e.g. static vs OSPF).

Reads each run directory's ``summary.json`` and prints, per ping pair, the
measured-vs-predicted figures, then one row per topology change with each
run's route convergence and the traffic it lost, then the totals.  With
``--out FILE`` the per-change rows are also written as CSV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare two run directories (e.g. routing static vs ospf), or "
                                       "routing strategies offline on one scenario (--strategies)")
    p.add_argument("runs", nargs="*", metavar="RUN_DIR",
                   help="two run directories written by `sgemu run`; with --strategies: one scenario (optional)")
    p.add_argument("--out", metavar="PATH", help="CSV of the per-change comparison; with --strategies an output "
                                                 "directory (default out/compare)")
    p.add_argument("--strategies", metavar="A,B,...",
                   help="offline: compare these routing strategies (NAME or NAME:key=value:...) on a scenario")
    p.add_argument("--duration", type=float, metavar="S", help="with --strategies: override duration_s")
    p.add_argument("--quiet", "-q", action="store_true", help="with --strategies: no progress bar or table")
    p.set_defaults(func=cmd_compare)


def strategy_rows(series, specs, ground_transit: bool = False, progress=None) -> tuple[list[dict], dict]:
    """Offline comparison over every ground pair: one row per strategy, and each one's routes.

    RTT stretch is the strategy's RTT over the delay-shortest optimum (pairs
    and steps reachable in both); path changes and outage seconds are summed
    over pairs; churn is forwarding entries changed per step; planning time
    is the strategy's decision time per step (ms)."""
    from topologies.routing import ground_pair_routes
    from topologies.strategies import predict_pairs

    best = ground_pair_routes(series, workers=1)
    rows, routes = [], {}
    for spec in specs:
        r = predict_pairs(series, spec, best.pairs, ground_transit, progress=progress)
        ok = np.isfinite(r.rtt_ms) & np.isfinite(best.rtt_ms)
        stretch = r.rtt_ms[ok] / best.rtt_ms[ok]
        routes[spec.label] = (r, stretch)
        rows.append({"strategy": spec.label, "stretch_mean": float(stretch.mean()) if stretch.size else None,
                     "stretch_p95": float(np.percentile(stretch, 95)) if stretch.size else None,
                     "rtt_ms_mean": float(np.nanmean(r.rtt_ms)), "path_changes": int(r.path_changes().sum()),
                     "churn_per_step": float(r.routes_changed[1:].mean()) if series.n_steps > 1 else 0.0,
                     "outage_pair_s": float(r.outage_s().sum()), "plan_ms_mean": float(r.plan_ms.mean()),
                     "plan_ms_max": float(r.plan_ms.max())})
    return rows, routes


def plot_strategies(path, series, routes: dict) -> None:
    """Stretch distribution and route churn over time, one line per strategy (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label, (r, stretch) in routes.items():
        xs = np.sort(stretch)
        a.plot(xs, np.arange(1, xs.size + 1) / max(xs.size, 1), label=label)
        b.plot(series.axis.t_s[1:], np.cumsum(r.routes_changed[1:]), label=label)
    a.set_xlabel("RTT stretch (strategy / delay-shortest)")
    a.set_ylabel("fraction of pair-steps")
    a.set_title("RTT stretch, all ground pairs")
    b.set_xlabel("scenario time s")
    b.set_ylabel("forwarding entries changed (cumulative)")
    b.set_title("route churn")
    a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cmd_compare_strategies(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from topologies.strategies import StrategyError, parse_strategy_list

    from .cli import scenario_from_args
    from .cmd_topology import compute_series
    from .progress import progress_bar

    if len(args.runs) > 1:
        raise UsageError("SCENARIO: with --strategies give at most one scenario")
    try:
        specs = parse_strategy_list(args.strategies)
    except StrategyError as exc:
        raise UsageError(str(exc)) from None
    args.scenario = args.runs[0] if args.runs else None
    args.start = args.step = None
    scen = scenario_from_args(args)
    _, series = compute_series(scen, args.quiet)
    with progress_bar("strategies", series.n_steps * len(specs), args.quiet) as advance:
        rows, routes = strategy_rows(series, specs, scen.ground_transit, progress=advance)
    out = Path(args.out or "out/compare")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "strategies.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot_strategies(out / "strategies.png", series, routes)
    if not args.quiet:
        t = Table(title=f"strategies on {scen.name}: {series.n_steps} steps, {len(routes[rows[0]['strategy']][0].pairs)} ground pairs")
        cols = ("strategy", "stretch mean", "p95", "RTT ms mean", "path changes", "churn/step", "outage pair-s",
                "plan ms mean", "max")
        for c in cols:
            t.add_column(c, justify="left" if c == "strategy" else "right")
        for r in rows:
            t.add_row(r["strategy"], f"{r['stretch_mean']:.3f}", f"{r['stretch_p95']:.3f}", f"{r['rtt_ms_mean']:.1f}",
                      str(r["path_changes"]), f"{r['churn_per_step']:.1f}", f"{r['outage_pair_s']:g}",
                      f"{r['plan_ms_mean']:.2f}", f"{r['plan_ms_max']:.2f}")
        Console(width=140).print(t)
    print(f"wrote {out / 'strategies.csv'}, {out / 'strategies.png'}")
    return 0


def load_summary(run: str) -> dict:
    path = Path(run) / "summary.json"
    try:
        s = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"RUN_DIR: {run} has no summary.json (give directories written by `sgemu run`)") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"RUN_DIR: {path} is not valid JSON ({exc.msg})") from None
    if "changes" not in s or "routing" not in s:
        raise UsageError(f"RUN_DIR: {path} has no per-change figures (written by an older sgemu)")
    return s


def compare_rows(a: dict, b: dict) -> list[dict]:
    """One row per step that is a change in either run: cause, and each run's routes and losses."""
    by_a = {r["step"]: r for r in a["changes"] if r["step"] > 0}
    by_b = {r["step"]: r for r in b["changes"] if r["step"] > 0}
    rows = []
    for k in sorted(set(by_a) | set(by_b)):
        ra, rb = by_a.get(k, {}), by_b.get(k, {})
        row = {"step": k, "t_s": (ra or rb)["t_s"], "cause": ra.get("cause") or rb.get("cause", "")}
        for tag, r in (("a", ra), ("b", rb)):
            pairs = (r.get("pairs") or {}).values()
            lost = [p["lost"] for p in pairs if p.get("lost") is not None]
            rec = [p["recovery_s"] for p in pairs if p.get("recovery_s") is not None]
            row[f"routes_right_s_{tag}"] = r.get("routes_right_s")
            row[f"routes_changed_{tag}"] = r.get("routes_changed")
            row[f"lost_{tag}"] = sum(lost) if lost else None
            row[f"recovery_s_{tag}"] = max(rec) if rec else None
        rows.append(row)
    return rows


def totals(s: dict) -> dict:
    pairs = s.get("pairs", {}).values()
    sent = sum(p.get("sent", 0) for p in pairs)
    recv = sum(p.get("received", 0) for p in pairs)
    agree = [p["agree_pct"] for p in pairs if p.get("agree_pct") is not None]
    routes = s.get("routes") or {}
    return {
        "routing": s["routing"], "shaping": s.get("shaping"), "sent": sent,
        "loss_pct": 100.0 * (sent - recv) / sent if sent else None,
        "agree_pct": sum(agree) / len(agree) if agree else None,
        "routes_right_s_mean": routes.get("routes_right_s_mean"),
        "routes_right_s_max": routes.get("routes_right_s_max"),
        "unconverged": (routes.get("changes", 0) - routes.get("converged", 0)) if routes else None,
        "routes_changed_total": routes.get("routes_changed_total"),
        "lost_at_changes": sum((p.get("convergence") or {}).get("lost_total", 0) for p in pairs),
        "stretch_mean": _mean([_stretch(v, "predicted") for v in (s.get("stretch") or {}).values()]),
        "stretch_taken": _mean([_stretch(v, "taken") for v in (s.get("stretch") or {}).values()]),
        "path_agree_pct": _mean([p.get("path_agree_pct") for p in pairs]),
        "control_plane_s": (s.get("control_plane") or {}).get("s"),
        "control_plane": (s.get("control_plane") or {}).get("what"),
    }


def _stretch(value, which: str) -> float | None:
    """One pair's stretch: ``{"predicted", "taken"}`` (a bare number in runs of 2026-12-07's first builds)."""
    if isinstance(value, dict):
        return value.get(which)
    return value if which == "predicted" else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


TOTALS = (("routing", "routing"), ("shaping", "shaping"), ("sent", "pings sent"), ("loss_pct", "loss %"),
          ("agree_pct", "RTT agrees with prediction %"), ("path_agree_pct", "traceroute = predicted path %"),
          ("stretch_mean", "RTT stretch, predicted paths"), ("stretch_taken", "RTT stretch, traced paths"),
          ("routes_right_s_mean", "routes right s mean"), ("routes_right_s_max", "routes right s max"),
          ("unconverged", "changes never right"), ("routes_changed_total", "routes changed (churn)"),
          ("lost_at_changes", "pings lost at changes"), ("control_plane_s", "control plane s"),
          ("control_plane", "control plane is"))


def print_totals(runs: list[str], summaries: list[dict], names: list[str] | None = None) -> None:
    """One column per run: loss, agreement, stretch, convergence, churn, control-plane time."""
    from rich.console import Console
    from rich.table import Table

    f = lambda v, d=2: "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    tot = [totals(s) for s in summaries]
    t = Table(title="totals" + ("" if names else ": " + ", ".join(f"{chr(65 + i)} = {r}" for i, r in enumerate(runs))))
    t.add_column("")
    for i, s in enumerate(summaries):
        t.add_column(names[i] if names else f"{chr(65 + i)}: {s['routing']}", justify="right")
    for key, label in TOTALS:
        t.add_row(label, *(f(x[key], 3 if key.startswith("stretch") else 2) for x in tot))
    Console(width=max(120, Console().width)).print(t)


def cmd_compare(args) -> int:
    from rich.console import Console
    from rich.table import Table

    if args.strategies:
        return cmd_compare_strategies(args)
    if len(args.runs) < 2:
        raise UsageError("RUN_DIR: give two or more run directories (or --strategies A,B,... [SCENARIO])")
    summaries = [load_summary(r) for r in args.runs]
    if args.out:
        from .limits import check_out_file

        check_out_file(args.out, "--out")
    if len(summaries) > 2:
        print_totals(args.runs, summaries)
        return 0
    a, b = summaries
    if a.get("scenario") != b.get("scenario") or a.get("steps") != b.get("steps"):
        print(f"note: the runs differ in scenario or length ({a.get('scenario')}/{a.get('steps')} steps vs "
              f"{b.get('scenario')}/{b.get('steps')} steps)")
    na, nb = f"A: {a['routing']}", f"B: {b['routing']}"
    f = lambda v, d=2: "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))  # noqa: E731
    rows = compare_rows(a, b)
    t = Table(title=f"per change: A = {args.runs[0]} ({a['routing']}), B = {args.runs[1]} ({b['routing']})")
    for col in ("t s", "cause", "routes right s A", "B", "routes changed A", "B", "pings lost A", "B"):
        t.add_column(col, justify="left" if col == "cause" else "right", overflow="fold")
    for r in rows:
        t.add_row(f(r["t_s"], 0), r["cause"][:50], f(r["routes_right_s_a"]), f(r["routes_right_s_b"]),
                  f(r["routes_changed_a"]), f(r["routes_changed_b"]), f(r["lost_a"]), f(r["lost_b"]))
    console = Console(width=max(120, Console().width))
    console.print(t)
    print_totals(args.runs, summaries, [na, nb])
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["step"])
            w.writeheader()
            w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        print(f"wrote {args.out}")
    return 0
