"""Measured beside predicted: parsing tool output, results.csv, summary and plot.

A ping sample sent at scenario time ``t_s`` is compared with the predicted
RTT of the step in force at ``t_s`` (the delay-shortest path's RTT from
:mod:`topologies.routing`).  A sample "agrees" when it is within
``max(1 ms, 5 %)`` of the prediction.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

PING_LINE = _PING = re.compile(r"^\[(?P<ts>\d+\.\d+)\].*icmp_seq=(?P<seq>\d+).*time=(?P<rtt>[\d.]+) ms")
_SENT = re.compile(r"(?P<tx>\d+) packets transmitted, (?P<rx>\d+) received")


def parse_ping(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(reply Unix time, seq, rtt_ms) arrays and the number of requests sent."""
    ts, seq, rtt, sent = [], [], [], 0
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _PING.match(line)
        if m:
            ts.append(float(m["ts"]))
            seq.append(int(m["seq"]))
            rtt.append(float(m["rtt"]))
        m = _SENT.search(line)
        if m:
            sent = int(m["tx"])
    return np.array(ts), np.array(seq, dtype=int), np.array(rtt), sent or (max(seq) if seq else 0)


def agrees(measured_ms, predicted_ms, abs_ms: float = 1.0, rel: float = 0.05):
    return np.abs(np.asarray(measured_ms) - predicted_ms) <= np.maximum(abs_ms, rel * np.asarray(predicted_ms))


def ping_rows(path: Path, src: str, dst: str, clock, predicted_rtt_ms: np.ndarray, step_s: float):
    """Rows for results.csv: one per reply, at the scenario time the request was sent."""
    ts, seq, rtt, sent = parse_ping(path)
    rows = []
    for t, q, r in zip(ts, seq, rtt):
        t_s = clock.scenario_s(t - r / 1000.0)
        k = int(np.clip(np.floor(t_s / step_s + 1e-9), 0, predicted_rtt_ms.size - 1))
        rows.append({"t_s": t_s, "src": src, "dst": dst, "seq": int(q), "step": k,
                     "rtt_ms_measured": r, "rtt_ms_predicted": float(predicted_rtt_ms[k])})
    return rows, sent


def write_results_csv(path: Path, rows: list[dict]) -> None:
    cols = ["t_s", "src", "dst", "seq", "step", "rtt_ms_measured", "rtt_ms_predicted"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "t_s": f"{r['t_s']:.3f}", "rtt_ms_measured": f"{r['rtt_ms_measured']:.3f}",
                        "rtt_ms_predicted": "" if np.isnan(r["rtt_ms_predicted"]) else f"{r['rtt_ms_predicted']:.3f}"})


def pair_summary(rows: list[dict], sent: int, path_changes: int, rtt_emulated: bool = True) -> dict:
    """Loss, measured and predicted RTT statistics and the share of samples that agree.

    Without delay shaping (``rtt_emulated=False``) measured RTTs are the host's
    own microseconds, so RTT agreement is not applicable (``agree_pct`` None)."""
    m = np.array([r["rtt_ms_measured"] for r in rows])
    p = np.array([r["rtt_ms_predicted"] for r in rows])
    ok = np.isfinite(p)
    stat = lambda a, f: float(f(a)) if a.size else None  # noqa: E731
    return {
        "rtt_emulated": rtt_emulated,
        "sent": sent,
        "received": int(m.size),
        "loss_pct": float(100.0 * (1 - m.size / sent)) if sent else None,
        "measured_ms_min": stat(m, np.min), "measured_ms_mean": stat(m, np.mean), "measured_ms_max": stat(m, np.max),
        "predicted_ms_min": stat(p[ok], np.min), "predicted_ms_mean": stat(p[ok], np.mean),
        "predicted_ms_max": stat(p[ok], np.max),
        "agree_pct": float(100.0 * agrees(m[ok], p[ok]).mean()) if ok.any() and rtt_emulated else None,
        "path_changes": path_changes,
    }


def iperf3_intervals(path: Path) -> list[dict]:
    """Per-interval throughput (Mbit/s) from iperf3 -J output; [] if it failed.

    TCP intervals also carry ``retransmits`` (segments, all streams) and ``rtt_ms``
    (the sender's smoothed RTT at the interval's end, mean over streams); UDP ones
    ``lost_pct``.  Absent values are None."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, OSError):
        return []
    out = []
    for iv in data.get("intervals", []):
        s = iv.get("sum", {})
        rtts = [st["rtt"] / 1000.0 for st in iv.get("streams", []) if st.get("rtt") is not None]
        out.append({"start_s": s.get("start"), "end_s": s.get("end"),
                    "mbps": s.get("bits_per_second", 0) / 1e6, "lost_pct": s.get("lost_percent"),
                    "retransmits": s.get("retransmits"), "rtt_ms": float(np.mean(rtts)) if rtts else None})
    return out


def _mark_labels(marks, span_s: float, apart: float = 0.02) -> list[tuple[float, str]]:
    """One label per group of marks closer than ``apart`` of the time axis (their rotated labels would
    print over each other): the group's first time, its longest (most telling) label."""
    out: list[tuple[float, str]] = []
    for t_s, label in sorted(marks):
        if out and t_s - out[-1][0] < apart * span_s:
            out[-1] = (out[-1][0], max(out[-1][1], label, key=len))
        else:
            out.append((t_s, label))
    return out


def plot_rtt(path: Path, rows: list[dict], pairs: list[tuple[str, str]], predicted: dict, t_axis: np.ndarray,
             marks: list[tuple[float, str]] = (), title: str = "", note: str | None = None,
             predicted_label: str = "predicted (shortest path)") -> Path:
    """PNG: measured RTT samples (dots) over the predicted RTT (line), one panel per pair.

    ``marks`` are ``(t_s, label)`` changes (handovers, events) drawn as thin
    vertical lines, labelled when there are few; ``title`` heads the figure;
    ``note`` is written in red over each panel, under its title (e.g. that
    delays were not emulated), clear of the data and the change labels.
    Drawn on a figure of its own: matplotlib's backend is left as the caller has it.
    """
    fig = rtt_figure(rows, pairs, predicted, t_axis, marks, title, note, predicted_label)
    fig.savefig(path, dpi=110)
    return path


def rtt_figure(rows: list[dict], pairs: list[tuple[str, str]], predicted: dict, t_axis: np.ndarray,
               marks: list[tuple[float, str]] = (), title: str = "", note: str | None = None,
               predicted_label: str = "predicted (shortest path)"):
    """The matplotlib Figure :func:`plot_rtt` saves (arguments as there)."""
    from matplotlib.figure import Figure

    n = max(1, len(pairs))
    fig = Figure(figsize=(9, 3.2 * n))
    axes = fig.subplots(n, 1, squeeze=False)
    for ax, (src, dst) in zip(axes[:, 0], pairs):
        pr = predicted[(src, dst)]
        ax.step(t_axis, pr, where="post", color="tab:orange", lw=1.5, label=predicted_label)
        sel = [r for r in rows if r["src"] == src and r["dst"] == dst]
        ax.plot([r["t_s"] for r in sel], [r["rtt_ms_measured"] for r in sel], ".", ms=3,
                color="tab:blue", label="measured (ping)")
        for t_s, _ in marks:
            ax.axvline(t_s, color="0.6", lw=0.8, ls=":", zorder=0)
        if len(marks) <= 8:
            for t_s, label in _mark_labels(marks, float(np.ptp(t_axis)) if len(t_axis) else 0.0):
                ax.annotate(label[:40], (t_s, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                            fontsize=6, va="top", ha="right", color="0.35")
        ax.set_title(f"{src} -> {dst}" + (f"  ({title})" if title else ""), pad=18 if note else 6)
        ax.set_xlabel("scenario time (s)")
        ax.set_ylabel("RTT (ms)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if note:
            ax.annotate(note, (0.5, 1.0), xycoords="axes fraction", xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9, color="tab:red")
    fig.tight_layout()
    return fig
