"""Figures of the link budget: capacity against elevation/range per profile, and a terminal over an orbit.

``python -m experiments.linkbudget_plot --out docs/images`` draws

* ``capacity-elevation.png``: capacity of every built-in ground profile
  against elevation (LEO profiles at 550 km, BDS-3 Ka ground at MEO
  altitude 21,528 km), clear sky and with the rain Beijing exceeds 0.01 %
  of the year; and the ISL profiles against range;
* ``capacity-beijing.png``: the capacity of Beijing's Ku-band terminal
  (``leo-ku-user``, nearest sticky satellite above 25 deg) over one orbit
  of Starlink-550, clear sky and with a 25 mm/h rain event, with the share
  of steps per MODCOD in both cases;
* ``capacity-measured-shape.png``: the 10th/50th/90th percentiles of the
  Ku capacity of a terminal in Maine over an orbit beside Ookla's measured
  Starlink download speeds there (Q4 2024);

and prints the numbers it plotted (MODCOD shares, capacity percentiles).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np

from .figures import plt, save_figure

GROUND = (("leo-ku-user", 550.0), ("leo-ka-user", 630.0), ("leo-ka-gateway", 550.0), ("bds-ka-ground", 21528.0))
ISL = ("ka-isl", "optical-isl", "bds-ka-isl")
BEIJING = (39.9042, 116.4074, 44.0)


def _budget(kind: str, profile: str, **opts):
    from topologies.linkbudget import KindBudget, LinkBudget
    from topologies.radio_profiles import PROFILES

    if kind == "ground":
        opts.setdefault("uplink", "none")  # these figures show the downlink (the uplink has its own figure)
    return LinkBudget([(kind, KindBudget(profile=profile, **opts), PROFILES[profile])],
                      ["sat", "Beijing"], ["s", "ground"], ["LEO", "GROUND"], {"Beijing": BEIJING})


def capacity_vs_elevation(profile: str, alt_km: float, elev_deg: np.ndarray, rain=None) -> np.ndarray:
    """Capacity (Mbit/s, 0 = down) of a ground profile at Beijing against elevation, shape like elev_deg."""
    from topologies.linkbudget import slant_range_km

    b = _budget("ground", profile)
    n = elev_deg.size
    res = b.evaluate(np.zeros(n, int), slant_range_km(elev_deg, alt_km), elev_deg, np.ones(n, int), rain=rain)
    return np.where(res.up, res.capacity_mbps, 0.0)


def capacity_vs_range(profile: str, range_km: np.ndarray) -> np.ndarray:
    b = _budget("isl", profile)
    n = range_km.size
    res = b.evaluate(np.zeros(n, int), range_km, np.full(n, np.nan), np.full(n, -1))
    return np.where(res.up, res.capacity_mbps, 0.0)


def plot_profiles(path: Path, dpi: int = 110) -> None:
    el = np.linspace(10, 90, 161)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for (name, alt), color in zip(GROUND, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")):
        ax1.plot(el, capacity_vs_elevation(name, alt, el), color=color, label=f"{name} ({alt:,.0f} km)")
        ax1.plot(el, capacity_vs_elevation(name, alt, el, rain=("exceedance_pct", 0.01)), color=color, ls="--")
    ax1.set(yscale="log", xlabel="elevation (deg)", ylabel="capacity (Mbit/s)",
            title="ground profiles at Beijing: clear sky (solid), rain exceeded 0.01 % (dashed)")
    ax1.title.set_fontsize(9)
    ax1.legend(fontsize=8, loc="lower right")
    ax1.grid(alpha=0.3, which="both")
    rng = np.geomspace(200, 80000, 400)
    for name, color in zip(ISL, ("#ff7f0e", "#17becf", "#8c564b")):
        cap = capacity_vs_range(name, rng)
        ax2.plot(rng[cap > 0], cap[cap > 0], color=color, label=name)
    ax2.set(xscale="log", yscale="log", xlabel="range (km)", ylabel="capacity (Mbit/s)",
            title="inter-satellite profiles (line ends: link down)")
    ax2.title.set_fontsize(9)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_figure(fig, path, dpi)


def beijing_orbit(rain_mm_h: float = 25.0, rain_window_s=(1800.0, 3600.0), step_s: float = 10.0):
    """(series clear, series with rain) for Beijing's Ku terminal over one Starlink-550 orbit."""
    from orbits.presets import PRESETS
    from orbits.scene import Scene
    from orbits.stations import builtin_station
    from orbits.timebase import TimeAxis
    from topologies.builder import build_series
    from topologies.events import apply_events, parse_events
    from topologies.ground_links import GroundAccess
    from topologies.linkbudget import KindBudget, LinkBudget
    from topologies.radio_profiles import PROFILES

    epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
    sats = PRESETS["starlink-550"].satellites("starlink", epoch)
    scene = Scene(sats, [builtin_station("Beijing")])
    period_s = 86400.0 / sats[0].mean_motion_rev_day
    axis = TimeAxis.from_duration(epoch, round(period_s / step_s) * step_s, step_s)
    g = scene.stations[0]
    budget = LinkBudget([("ground", KindBudget(profile="leo-ku-user", uplink="none"), PROFILES["leo-ku-user"])],
                        scene.node_names, scene.node_shell, scene.node_layer, {g.name: (g.lat_deg, g.lon_deg, g.alt_m)})
    rule = GroundAccess(group="starlink", policy="nearest", sticky=True, min_elevation_deg=25)
    clear = build_series(scene, [rule], axis, budget=budget)
    ev = [{"type": "weather-fade", "stations": ["Beijing"], "rain_mm_h": rain_mm_h,
           "at_s": rain_window_s[0], "until_s": rain_window_s[1]}]
    return clear, apply_events(clear, parse_events(clear, ev))


#: Ookla Speedtest, Starlink users in Maine, 1 Oct - 15 Dec 2024 (Ookla, "Above Maine, Starlink
#: Twinkles", 18 Dec 2024): download Mbit/s at the 10th percentile, median, 90th percentile.
OOKLA_MAINE_2024 = (22.81, 116.77, 250.96)


def maine_orbit(step_s: float = 10.0, share: float = 1.0):
    """Series for a Ku terminal in Maine (44.3 N, 69.8 W) over one Starlink-550 orbit, clear sky."""
    from orbits.presets import PRESETS
    from orbits.scene import Scene
    from orbits.stations import GroundStation
    from orbits.timebase import TimeAxis
    from topologies.builder import build_series
    from topologies.ground_links import GroundAccess
    from topologies.linkbudget import KindBudget, LinkBudget
    from topologies.radio_profiles import resolve

    epoch = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
    sats = PRESETS["starlink-550"].satellites("starlink", epoch)
    g = GroundStation("Augusta", 44.31, -69.78, 50.0, None, None)
    scene = Scene(sats, [g])
    period_s = 86400.0 / sats[0].mean_motion_rev_day
    axis = TimeAxis.from_duration(epoch, round(period_s / step_s) * step_s, step_s)
    prof = resolve("leo-ku-user", {"share": share})
    budget = LinkBudget([("ground", KindBudget(profile="leo-ku-user", uplink="none"), prof)], scene.node_names, scene.node_shell,
                        scene.node_layer, {g.name: (g.lat_deg, g.lon_deg, g.alt_m)})
    rule = GroundAccess(group="starlink", policy="nearest", sticky=True, min_elevation_deg=25)
    return build_series(scene, [rule], axis, budget=budget)


def plot_measured_shape(path: Path, dpi: int = 110) -> dict:
    """sgemu's Ku capacity percentiles in Maine (carrier, and a 1/10 share) beside Ookla's measured ones."""
    cap = per_step_capacity(maine_orbit())
    cap = cap[cap > 0]
    ours = tuple(float(np.percentile(cap, q)) for q in (10, 50, 90))
    shared = tuple(0.1 * v for v in ours)
    rows = {"Ookla Speedtest, Maine Q4 2024\n(measured user throughput)": OOKLA_MAINE_2024,
            "sgemu leo-ku-user, share 1\n(carrier capacity)": ours,
            "sgemu leo-ku-user, share 0.1": shared}
    fig, ax = plt.subplots(figsize=(8.5, 3.6))
    for y, ((label, (p10, p50, p90)), color) in enumerate(zip(rows.items(), ("#444444", "#1f77b4", "#6baed6"))):
        ax.plot([p10, p90], [y, y], color=color, lw=6, alpha=0.5, solid_capstyle="butt")
        ax.plot([p50], [y], "o", color=color, ms=9)
        ax.text(p90 * 1.08, y, f"p10 {p10:.0f} / median {p50:.0f} / p90 {p90:.0f}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=8)
    ax.set(xscale="log", xlim=(10, 10000), xlabel="download Mbit/s (bar: 10th-90th percentile, dot: median)",
           title="shape of Starlink download rates: measured vs sgemu's link budget (one orbit, 10 s steps)")
    ax.title.set_fontsize(9)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x", which="both")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return {k.split("\n")[0]: v for k, v in rows.items()}


def per_step_capacity(series) -> np.ndarray:
    """Capacity of the station's ground link per step, Mbit/s (0 = no link), shape (time,)."""
    out = np.zeros(series.n_steps)
    for k in range(series.n_steps):
        cap = series.capacity_at(k)
        out[k] = cap.sum() if cap.size else 0.0
    return out


def modcod_share(series) -> dict[str, float]:
    """Share of steps per MODCOD of the ground link ('no link' when none is up)."""
    from topologies.modcod import MODCODS

    names = []
    for k in range(series.n_steps):
        sl = slice(series.indptr[k], series.indptr[k + 1])
        mc = series.step_modcod[sl]
        names.append(MODCODS[int(mc[0])].name if mc.size and mc[0] >= 0 else "no link")
    values, counts = np.unique(names, return_counts=True)
    return {v: c / len(names) for v, c in zip(values.tolist(), counts.tolist())}


def plot_beijing(path: Path, clear, rainy, rain_window_s, rain_mm_h: float, dpi: int = 110) -> dict:
    t_min = clear.axis.t_s / 60.0
    c0, c1 = per_step_capacity(clear), per_step_capacity(rainy)
    s0, s1 = modcod_share(clear), modcod_share(rainy)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7.5), gridspec_kw={"height_ratios": [1.1, 1]})
    ax1.step(t_min, c0, where="post", color="#1f77b4", label="clear sky")
    ax1.step(t_min, c1, where="post", color="#d62728", lw=1.0, label=f"rain {rain_mm_h:g} mm/h")
    ax1.axvspan(rain_window_s[0] / 60, rain_window_s[1] / 60, color="#d62728", alpha=0.08)
    ax1.set(xlabel="minutes from 2024-07-16 00:00 UTC", ylabel="capacity (Mbit/s)",
            title="Beijing, leo-ku-user to the nearest Starlink-550 satellite above 25 deg (sticky), one orbit")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    names = sorted(set(s0) | set(s1), key=lambda n: (n == "no link", -max(s0.get(n, 0), s1.get(n, 0))))
    x = np.arange(len(names))
    ax2.bar(x - 0.2, [100 * s0.get(n, 0) for n in names], 0.4, color="#1f77b4", label="clear sky")
    ax2.bar(x + 0.2, [100 * s1.get(n, 0) for n in names], 0.4, color="#d62728", label=f"rain {rain_mm_h:g} mm/h")
    ax2.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax2.set(ylabel="% of steps", title="share of steps per MODCOD (DVB-S2/S2X)")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    return {"clear": s0, "rain": s1, "capacity_clear": c0, "capacity_rain": c1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images", help="output directory (default: docs/images)")
    ap.add_argument("--rain-mm-h", type=float, default=25.0)
    ap.add_argument("--dpi", type=int, default=110)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_profiles(out / "capacity-elevation.png", args.dpi)
    window = (1800.0, 3600.0)
    clear, rainy = beijing_orbit(args.rain_mm_h, window)
    figs = plot_beijing(out / "capacity-beijing.png", clear, rainy, window, args.rain_mm_h, args.dpi)
    for case in ("clear", "rain"):
        cap = figs[f"capacity_{case}"]
        up = cap[cap > 0]
        print(f"{case}: link up {100 * up.size / cap.size:.1f} % of steps; capacity Mbit/s "
              f"p5 {np.percentile(up, 5):.0f}, median {np.median(up):.0f}, p95 {np.percentile(up, 95):.0f}")
        print("  MODCOD share: " + ", ".join(f"{n} {100 * v:.1f} %" for n, v in
                                            sorted(figs[case].items(), key=lambda kv: -kv[1])))
    for label, (p10, p50, p90) in plot_measured_shape(out / "capacity-measured-shape.png", args.dpi).items():
        print(f"{label}: p10 {p10:.1f}, median {p50:.1f}, p90 {p90:.1f} Mbit/s")
    print(f"wrote {out / 'capacity-elevation.png'}, {out / 'capacity-beijing.png'}, "
          f"{out / 'capacity-measured-shape.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
