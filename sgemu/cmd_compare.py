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

from .cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare two run directories (e.g. routing static vs ospf)")
    p.add_argument("runs", nargs=2, metavar="RUN_DIR", help="run directories written by `sgemu run`")
    p.add_argument("--out", metavar="CSV", help="also write the per-change comparison as CSV")
    p.set_defaults(func=cmd_compare)


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
    }


def cmd_compare(args) -> int:
    from rich.console import Console
    from rich.table import Table

    a, b = (load_summary(r) for r in args.runs)
    if args.out:
        from .limits import check_out_file

        check_out_file(args.out, "--out")
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
    ta, tb = totals(a), totals(b)
    s = Table(title="totals")
    s.add_column("")
    s.add_column(na, justify="right")
    s.add_column(nb, justify="right")
    for key, label in (("shaping", "shaping"), ("sent", "pings sent"), ("loss_pct", "loss %"),
                       ("agree_pct", "agree with prediction %"), ("routes_right_s_mean", "routes right s mean"),
                       ("routes_right_s_max", "routes right s max"), ("unconverged", "changes never right"),
                       ("routes_changed_total", "routes changed"), ("lost_at_changes", "pings lost at changes")):
        s.add_row(label, f(ta[key]), f(tb[key]))
    console.print(s)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["step"])
            w.writeheader()
            w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        print(f"wrote {args.out}")
    return 0
