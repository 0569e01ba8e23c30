"""Figures of docs/link-physics.md that show both directions of a ground link, and measurements beside sgemu.

    .venv/bin/python docs/figures/physics_figures.py [--out docs/figures] [--step-s 3]

draws, and prints the numbers it plotted:

* ``capacity-elevation-directions.png``: each built-in ground profile's
  downlink (satellite -> ground) and uplink (ground -> satellite) capacity
  at Beijing against elevation, clear sky and with the rain Beijing
  exceeds 0.01 % of the year;
* ``capacity-beijing-directions.png``: Beijing's Ku terminal
  (``leo-ku-user`` / ``leo-ku-user-up``, nearest sticky Starlink-550
  satellite above 25 deg, 10 s steps) over one orbit, both directions,
  clear sky and with 25 mm/h of rain from minute 30 to 60; and the share of
  steps per MODCOD per direction;
* ``measured-vs-sgemu.png``: Ookla's Starlink Speedtest percentiles in
  Maine (download, upload, latency; Q4 2024) and Starlink's own published
  latency figures beside sgemu's for a terminal in Augusta, Maine: carrier
  capacity per direction over an orbit, and the predicted RTT to a gateway
  150 km away over shell 1 with scheduled 15 s handovers.

The per-direction values are the link budget evaluated on the series'
stored geometry (slant range, elevation) of each step; a link series itself
carries the lower direction (topologies.linkbudget).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from experiments.figures import plt, save_figure  # noqa: E402
from experiments.linkbudget_plot import BEIJING, beijing_orbit, maine_orbit  # noqa: E402

GROUND = (("leo-ku-user", 550.0), ("leo-ka-user", 630.0), ("leo-ka-gateway", 550.0), ("bds-ka-ground", 21528.0))
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
RAIN_WINDOW_S = (1800.0, 3600.0)

#: Ookla, "Above Maine, Starlink Twinkles" (18 Dec 2024): Starlink Speedtest users in Maine,
#: 1 Oct - 15 Dec 2024; 10th percentile (slower), median, 90th percentile (faster).
OOKLA_MAINE_DL_MBPS = (22.81, 116.77, 250.96)
OOKLA_MAINE_UL_MBPS = (6.79, 18.17, 27.17)
OOKLA_MAINE_LATENCY_MS = (72.0, 47.0, 37.0)  # multi-server latency; the slower 10th percentile is the higher RTT
#: Starlink, "Network Update" (starlink.com/updates/network-update): median peak-hour router-to-internet
#: RTT of all US customers, June 2025; fewer than 1 % of the 15 s measurements above 55 ms.
STARLINK_US_2025_MEDIAN_MS, STARLINK_US_2025_P99_MS = 25.7, 55.0
#: Michel, Trevisan, Giordano, Bonaventure, "A First Look at Starlink Performance", ACM IMC 2022 (a
#: terminal in Belgium, RTT to European RIPE Atlas anchors, early 2022): 25th, 50th, 75th percentile, minimum.
MICHEL_IMC22_MS = (40.0, 50.0, 60.0, 20.0)


# -- per-direction values from a series ------------------------------------------------------------
def directions(series, rain_mm_h: float | None = None, window_s=RAIN_WINDOW_S) -> dict[str, np.ndarray]:
    """Per step (time,): downlink and uplink capacity (Mbit/s, 0 = down or no link) and MODCOD (-1 = none)
    of the one ground link of a single-station series, re-budgeted with ``rain_mm_h`` inside ``window_s``."""
    from topologies.linkbudget import LinkBudget
    from topologies.rules import KINDS

    budget = LinkBudget.for_series(series)
    j = np.flatnonzero(series.link_kind[series.link_id] == KINDS.index("ground"))
    k = series.step_of_entry()[j]
    a, b = series.link_a[series.link_id[j]], series.link_b[series.link_id[j]]
    spec = np.array([budget.spec_index("ground", int(x), int(y)) for x, y in zip(a, b)])
    args = (series.distance_km[j].astype(float), series.step_elevation_deg[j].astype(float), np.maximum(a, b))
    res = budget.evaluate(spec, *args)
    if rain_mm_h is not None:
        t = series.axis.t_s[k]
        wet = (t >= window_s[0]) & (t < window_s[1])
        r = budget.evaluate(spec[wet], *(x[wet] for x in args), rain=("rain_mm_h", rain_mm_h))
        for name in ("up",) + type(res).DIRECTED:
            getattr(res, name)[wet] = getattr(r, name)
    out = {"down": np.zeros(series.n_steps), "up": np.zeros(series.n_steps),
           "modcod_down": np.full(series.n_steps, -1), "modcod_up": np.full(series.n_steps, -1)}
    ok = res.up
    out["down"][k[ok]] = res.capacity_down_mbps[ok]
    out["up"][k[ok]] = res.capacity_up_mbps[ok]
    out["modcod_down"][k[ok]] = res.modcod_down[ok]
    out["modcod_up"][k[ok]] = res.modcod_up[ok]
    return out


def modcod_share(codes: np.ndarray) -> dict[str, float]:
    from topologies.modcod import MODCODS

    names = ["no link" if c < 0 else MODCODS[int(c)].name for c in codes.tolist()]
    values, counts = np.unique(names, return_counts=True)
    return {v: c / len(names) for v, c in zip(values.tolist(), counts.tolist())}


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _pct(x, qs=(5, 50, 95)) -> tuple[float, ...]:
    x = x[x > 0]
    return tuple(float(np.percentile(x, q)) for q in qs)


# -- figure 1: capacity against elevation, both directions -------------------------------------------------
def capacity_vs_elevation(profile: str, alt_km: float, elev_deg: np.ndarray, rain=None) -> tuple[np.ndarray, np.ndarray]:
    """(downlink, uplink) Mbit/s (0 = that direction does not close) of a ground profile at Beijing."""
    from topologies.linkbudget import KindBudget, LinkBudget, slant_range_km
    from topologies.radio_profiles import PROFILES

    b = LinkBudget([("ground", KindBudget(profile=profile), PROFILES[profile])],
                   ["sat", "Beijing"], ["s", "ground"], ["LEO", "GROUND"], {"Beijing": BEIJING})
    n = elev_deg.size
    res = b.evaluate(np.zeros(n, int), slant_range_km(elev_deg, alt_km), elev_deg, np.ones(n, int), rain=rain)
    return (np.where(res.modcod_down >= 0, res.capacity_down_mbps, 0.0),
            np.where(res.modcod_up >= 0, res.capacity_up_mbps, 0.0))


def plot_elevation(path: Path, dpi: int) -> dict:
    el = np.linspace(10, 90, 161)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), sharey=True)
    table = {}
    for ax, rain, title in ((axes[0], None, "clear sky"), (axes[1], ("exceedance_pct", 0.01), "rain exceeded 0.01 %")):
        for (name, alt), color in zip(GROUND, COLORS):
            down, up = capacity_vs_elevation(name, alt, el, rain)
            for cap, ls, d in ((down, "-", "down"), (up, "--", "up")):
                ok = cap > 0
                ax.plot(el[ok], cap[ok], color=color, ls=ls, label=f"{name} {d}" if rain is None else None)
            table[(name, title)] = {"down_at_25": float(down[np.argmin(abs(el - 25))]),
                                    "up_at_25": float(up[np.argmin(abs(el - 25))]),
                                    "down_at_90": float(down[-1]), "up_at_90": float(up[-1])}
        ax.set(yscale="log", xlabel="elevation (deg)", title=f"ground profiles at Beijing, {title}")
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("capacity (Mbit/s); line ends: direction does not close")
    fig.legend(fontsize=7, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(fig, path, dpi)
    return table


# -- figure 2: Beijing over an orbit, both directions ---------------------------------------------------------
def plot_beijing(path: Path, dpi: int, rain_mm_h: float = 25.0) -> dict:
    clear, _ = beijing_orbit(rain_mm_h, RAIN_WINDOW_S)
    dry, wet = directions(clear), directions(clear, rain_mm_h)
    t_min = clear.axis.t_s / 60.0
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 10), gridspec_kw={"height_ratios": [1.2, 1, 1]})
    for key, color, label in (("down", "#1f77b4", "downlink 11.7 GHz"), ("up", "#ff7f0e", "uplink 14.25 GHz")):
        ax1.step(t_min, dry[key], where="post", color=color, lw=1.0, label=f"{label}, clear sky")
        ax1.step(t_min, wet[key], where="post", color=color, lw=1.0, ls=":", label=f"{label}, rain {rain_mm_h:g} mm/h")
    ax1.axvspan(RAIN_WINDOW_S[0] / 60, RAIN_WINDOW_S[1] / 60, color="#d62728", alpha=0.08)
    ax1.set(yscale="log", ylim=(50, 3000), xlabel="minutes from 2024-07-16 00:00 UTC", ylabel="capacity (Mbit/s)",
            title="Beijing Ku terminal to the nearest Starlink-550 satellite above 25 deg (sticky), one orbit; "
                  "the series carries the lower direction")
    ax1.title.set_fontsize(9)
    ax1.legend(fontsize=7, ncol=2, loc="lower left")
    ax1.grid(alpha=0.3, which="both")
    shares = {}
    for ax, key, d in ((ax2, "modcod_down", "downlink"), (ax3, "modcod_up", "uplink")):
        s0, s1 = modcod_share(dry[key]), modcod_share(wet[key])
        shares[d] = (s0, s1)
        names = sorted(set(s0) | set(s1), key=lambda n: (n == "no link", -max(s0.get(n, 0), s1.get(n, 0))))
        x = np.arange(len(names))
        ax.bar(x - 0.2, [100 * s0.get(n, 0) for n in names], 0.4, color="#1f77b4", label="clear sky")
        ax.bar(x + 0.2, [100 * s1.get(n, 0) for n in names], 0.4, color="#d62728", label=f"rain {rain_mm_h:g} mm/h")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        ax.set(ylabel="% of steps", title=f"share of steps per MODCOD, {d}")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return {"dry": dry, "wet": wet, "shares": shares, "up_pct": 100 * np.mean(dry["down"] > 0)}


# -- figure 3: measurements beside sgemu ---------------------------------------------------------------------------
def gateway_rtt_ms(step_s: float) -> np.ndarray:
    """Predicted RTT (ms) Augusta -> a gateway 150 km away over Starlink shell 1 (laser ISLs, nearest
    satellite above 25 deg, scheduled 15 s handovers at :12/:27/:42/:57), one orbit at ``step_s``."""
    import sgemu

    scen = sgemu.Scenario.from_dict({
        "name": "maine-gateway", "start": "2024-07-16T00:00:00Z", "duration_s": 5730, "step_s": step_s,
        "constellations": [{"name": "leo", "preset": "starlink-550"}],
        "stations": [{"name": "Augusta", "lat_deg": 44.31, "lon_deg": -69.78, "alt_m": 50},
                     {"name": "Gateway", "lat_deg": 45.65, "lon_deg": -69.78, "alt_m": 300}],
        "links": [{"rule": "plus-grid", "group": "leo"},
                  {"rule": "ground", "group": "leo", "policy": "nearest", "min_elevation_deg": 25,
                   "handover_interval_s": 15, "handover_offset_s": 12}]})
    rtt = scen.route("Augusta", "Gateway").to_frame()["rtt_ms"].to_numpy(dtype=float)
    return rtt[np.isfinite(rtt)]


def plot_measured(path: Path, dpi: int, step_s: float) -> dict:
    pct = lambda x: tuple(float(np.percentile(x, q)) for q in (10, 50, 90))  # noqa: E731
    per_dir = directions(maine_orbit())
    down, up = per_dir["down"][per_dir["down"] > 0], per_dir["up"][per_dir["up"] > 0]
    rtt = gateway_rtt_ms(step_s)
    rows_rate = [
        ("Ookla Maine Q4 2024, download", OOKLA_MAINE_DL_MBPS, "#444444"),
        ("sgemu downlink, carrier", pct(down), "#1f77b4"),
        ("sgemu downlink, share 0.1", tuple(0.1 * v for v in pct(down)), "#6baed6"),
        ("Ookla Maine Q4 2024, upload", OOKLA_MAINE_UL_MBPS, "#444444"),
        ("sgemu uplink, carrier", pct(up), "#ff7f0e"),
        ("sgemu uplink, share 0.1", tuple(0.1 * v for v in pct(up)), "#fdae6b"),
    ]
    p_rtt = pct(rtt)
    p99 = float(np.percentile(rtt, 99))
    rows_rtt = [
        ("Ookla Maine Q4 2024, latency", tuple(sorted(OOKLA_MAINE_LATENCY_MS)), "#444444"),
        ("Michel et al. IMC 2022 (p25/p50/p75)", MICHEL_IMC22_MS[:3], "#777777"),
        ("Starlink US June 2025 (median; x: p99)", (STARLINK_US_2025_MEDIAN_MS,) * 3, "#999999",
         STARLINK_US_2025_P99_MS),
        ("sgemu RTT to a gateway 150 km away (x: p99)", p_rtt, "#2ca02c", p99),
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.25, 1]})
    for ax, rows, xlabel, xlim in ((ax1, rows_rate, "Mbit/s", (3, 10000)), (ax2, rows_rtt, "RTT ms", (3, 1500))):
        for y, (label, (lo, mid, hi), color, *tail) in enumerate(rows):
            ax.plot([lo, hi], [y, y], color=color, lw=6, alpha=0.5, solid_capstyle="butt")
            ax.plot([mid], [y], "o", color=color, ms=8)
            text = " / ".join(_num(v) for v in ((lo, mid, hi) if lo != hi else (mid,)))
            if tail:
                ax.plot(tail, [y], "x", color=color, ms=9, mew=2)
                text += f"; p99 {_num(tail[0])}"
            ax.text(max([hi] + tail) * 1.25, y, text, va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=7)
        ax.set(xscale="log", xlim=xlim, xlabel=f"{xlabel} (bar: 10th-90th percentile unless named, dot: median)")
        ax.xaxis.label.set_fontsize(8)
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x", which="both")
    ax1.set_title("rates: measured user throughput vs sgemu's per-direction capacity (Maine, one orbit)", fontsize=8)
    ax2.set_title("latency: measured vs sgemu's predicted propagation RTT (one orbit)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return {"down": pct(down), "up": pct(up), "rtt": p_rtt, "rtt_min": float(rtt.min()), "rtt_max": float(rtt.max()),
            "rtt_p99": float(np.percentile(rtt, 99)), "rtt_n": int(rtt.size)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs/figures"))
    ap.add_argument("--step-s", type=float, default=3.0, help="step of the RTT prediction (divides 15 and 12)")
    ap.add_argument("--dpi", type=int, default=110)
    ap.add_argument("--only", choices=("elevation", "beijing", "measured"), action="append")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only or ("elevation", "beijing", "measured"))
    if "elevation" in only:
        for (name, case), v in plot_elevation(out / "capacity-elevation-directions.png", args.dpi).items():
            print(f"{name:15s} {case:22s} at 25 deg down {v['down_at_25']:7.1f} up {v['up_at_25']:7.1f}; "
                  f"at 90 deg down {v['down_at_90']:7.1f} up {v['up_at_90']:7.1f} Mbit/s")
    if "beijing" in only:
        r = plot_beijing(out / "capacity-beijing-directions.png", args.dpi)
        print(f"Beijing: link up {r['up_pct']:.1f} % of steps")
        for case in ("dry", "wet"):
            for d in ("down", "up"):
                p5, p50, p95 = _pct(r[case][d])
                print(f"  {case} {d:4s}: p5 {p5:.0f}, median {p50:.0f}, p95 {p95:.0f} Mbit/s")
        for d, (s0, s1) in r["shares"].items():
            for case, s in (("clear", s0), ("rain", s1)):
                print(f"  MODCOD {d} {case}: " + ", ".join(f"{n} {100 * v:.1f} %" for n, v in
                                                          sorted(s.items(), key=lambda kv: -kv[1])))
    if "measured" in only:
        m = plot_measured(out / "measured-vs-sgemu.png", args.dpi, args.step_s)
        print(f"Maine sgemu downlink p10/50/90 {m['down']}, uplink {m['up']} Mbit/s; RTT p10/50/90 {m['rtt']} ms, "
              f"min {m['rtt_min']:.1f}, p99 {m['rtt_p99']:.1f}, max {m['rtt_max']:.1f} over {m['rtt_n']} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
