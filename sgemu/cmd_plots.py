"""Commands that draw and report (no root needed): ``coverage``, ``skyplot``, ``groundtrack``,
``snapshot``, ``report``.

Each writes its files into ``--out`` (a directory) and prints what it wrote.
The computation lives in :mod:`experiments`; this module only reads the
arguments, checks them (bad input -> :class:`~sgemu.cli.UsageError`, exit 2)
and writes files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .cli import UsageError, add_scenario_args, scenario_from_args
from .progress import progress_bar


def register(sub) -> None:
    p = sub.add_parser("coverage", help="satellites in view, time covered and PDOP over a world grid (maps + CSV)",
                       description="Coverage of a layer, shell or all satellites over a lat/lon grid and the "
                                   "scenario's time window. A constellation's coverage is usually taken over a day "
                                   "at 5-10 minute steps: --duration 86400 --step 600.")
    add_scenario_args(p)
    p.add_argument("--layer", default="all",
                   help="leo, meo, igso, geo, a shell name (bds3, leo, ...), shell:layer, a comma list, or all "
                        "(default: all)")
    p.add_argument("--grid-deg", type=float, default=2.0, metavar="DEG", help="grid cell size (default: 2)")
    p.add_argument("--min-elevation", type=float, default=10.0, metavar="DEG",
                   help="elevation mask in degrees (default: 10)")
    p.add_argument("--pdop-limit", type=float, default=2.0, metavar="PDOP",
                   help="PDOP of the availability map, '%% of time with PDOP <= limit' (default: 2, 'excellent'; "
                        "the classical limit 6 is always reported as %% of time with a usable fix)")
    p.add_argument("--dpi", type=int, default=100, help="map resolution (default: 100)")
    p.add_argument("--out", default="out/coverage", help="output directory (default: out/coverage)")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("skyplot", help="polar azimuth/elevation plot of satellite tracks over one station")
    add_scenario_args(p)
    p.add_argument("--station", required=True, help="a station of the scenario or a built-in station name")
    p.add_argument("--layer", default="all", help="satellites to draw: layer, shell, comma list or all")
    p.add_argument("--min-elevation", type=float, default=10.0, metavar="DEG",
                   help="elevation mask drawn (default: 10)")
    p.add_argument("--dpi", type=int, default=110, help="image resolution (default: 110)")
    p.add_argument("--out", default="out/plots", help="output directory (default: out/plots)")
    p.set_defaults(func=cmd_skyplot)

    p = sub.add_parser("groundtrack", help="ground tracks of satellites on a world map")
    add_scenario_args(p)
    p.add_argument("--layer", default=None, help="satellites to draw: layer, shell, comma list or all (default: all)")
    p.add_argument("--sat", action="append", default=[], metavar="NODE",
                   help="a satellite node name (repeat, or comma list); with --layer, both are drawn")
    p.add_argument("--no-stations", action="store_true", help="do not mark the ground stations")
    p.add_argument("--dpi", type=int, default=110, help="image resolution (default: 110)")
    p.add_argument("--out", default="out/plots", help="output directory (default: out/plots)")
    p.set_defaults(func=cmd_groundtrack)

    p = sub.add_parser("snapshot", help="map of satellites and active links at an instant (or a GIF over a window)")
    add_scenario_args(p)
    p.add_argument("--time", default=None, metavar="T",
                   help="instant to draw: ISO 8601 UTC or seconds after the start (default: the start)")
    p.add_argument("--src", help="highlight the predicted route from this ground station ...")
    p.add_argument("--dst", help="... to this one")
    p.add_argument("--animate", action="store_true",
                   help="write a GIF and an animated WebP (and an MP4 where ffmpeg exists) from --time over --window")
    p.add_argument("--window", type=float, default=None, metavar="S",
                   help="animation length in seconds (default: to the end of the scenario)")
    p.add_argument("--frames", type=int, default=40, help="most frames in the animation (default: 40)")
    p.add_argument("--fps", type=float, default=5.0, help="animation frames per second (default: 5)")
    p.add_argument("--dpi", type=int, default=None, help="image resolution (default: 110, 100 for animations)")
    p.add_argument("--out", default="out/plots", help="output directory (default: out/plots)")
    p.set_defaults(func=cmd_snapshot)

    p = sub.add_parser("overview", help="one HTML page for teaching a scenario: the network moving, coverage "
                                        "and PDOP, a station's sky, ground tracks",
                       description="Everything an educator shows about a scenario on one self-contained page. "
                                   "Coverage, sky plots and ground tracks span --hours of orbit (an all-LEO shell: "
                                   "one orbital period at 1-minute steps); the animation spans the scenario's window "
                                   "(--start/--duration/--step).")
    add_scenario_args(p)
    p.add_argument("--station", help="the station whose sky is drawn (default: the scenario's first)")
    p.add_argument("--src", help="highlight the route from this ground station ... (default: the first two stations)")
    p.add_argument("--dst", help="... to this one")
    p.add_argument("--hours", type=float, default=24.0, help="orbit window for coverage and tracks (default: 24)")
    p.add_argument("--orbit-step", type=float, default=600.0, metavar="S",
                   help="orbit window step in seconds (default: 600)")
    p.add_argument("--grid-deg", type=float, default=3.0, metavar="DEG", help="coverage grid cell (default: 3)")
    p.add_argument("--min-elevation", type=float, default=10.0, metavar="DEG", help="elevation mask (default: 10)")
    p.add_argument("--frames", type=int, default=16, help="animation frames (default: 16)")
    p.add_argument("--dpi", type=int, default=80, help="picture resolution (default: 80)")
    p.add_argument("--out", default="overview.html", help="output HTML file (default: overview.html)")
    p.set_defaults(func=cmd_overview)

    p = sub.add_parser("report", help="one self-contained HTML report from a run directory")
    p.add_argument("run_dir", help="a directory written by sgemu (links, route, coverage, emulation run)")
    p.add_argument("--out", help="output HTML file (default: RUN_DIR/report.html)")
    p.add_argument("--title", help="page title")
    p.set_defaults(func=cmd_report)


# --------------------------------------------------------------------------- shared checks
def _groups(scene, spec: str):
    from experiments.coverage import UnknownLayer, satellite_groups

    try:
        return satellite_groups(scene, spec)
    except UnknownLayer as exc:
        raise UsageError(f"--layer: {exc}") from None


def _satellites(scene, spec: str | None, sats: list[str]) -> np.ndarray:
    """Satellite indices named by --layer and/or --sat (all when neither is given)."""
    idx = []
    if spec:
        groups = _groups(scene, spec)
        idx.append(np.unique(np.concatenate(list(groups.values()))))
    names = [n.strip() for s in sats for n in s.split(",") if n.strip()]
    for name in names:
        try:
            i = scene.index(name)
        except KeyError:
            close = [s.node for s in scene.satellites if name.lower() in s.node.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(f"--sat: unknown satellite {name!r}{hint}") from None
        if i >= scene.n_sats:
            raise UsageError(f"--sat: {name!r} is a ground station, not a satellite")
        idx.append(np.array([i]))
    if not idx:
        return np.arange(scene.n_sats)
    return np.unique(np.concatenate(idx))


def _station(scene, name: str):
    from orbits.stations import UnknownStation, builtin_station

    for st in scene.stations:
        if st.name.lower() == name.lower():
            return st
    try:
        return builtin_station(name)
    except UnknownStation as exc:
        here = ", ".join(st.name for st in scene.stations)
        raise UsageError(f"--station: {exc}" + (f"; this scenario has: {here}" if here else "")) from None


def _check_angle(flag: str, value: float, lo: float, hi: float) -> None:
    if not np.isfinite(value) or not lo <= value <= hi:
        raise UsageError(f"{flag}: {value:g} is outside {lo:g}..{hi:g} degrees")


def _check_dpi(dpi: int | None) -> None:
    if dpi is not None and not 20 <= dpi <= 600:
        raise UsageError(f"--dpi: {dpi} is outside 20..600")


def time_offset_s(axis, text: str | None, flag: str = "--time") -> float:
    """Seconds after the axis start for ISO 8601 UTC text or a number of seconds; checked against the window."""
    from orbits.timebase import parse_utc

    if text is None:
        return 0.0
    try:
        off = float(text)
    except ValueError:
        try:
            off = (parse_utc(text) - axis.start).total_seconds()
        except (ValueError, TypeError):
            raise UsageError(f"{flag}: {text!r} is neither ISO 8601 UTC (2024-07-16T00:05:00Z) "
                             "nor a number of seconds") from None
    if not np.isfinite(off) or off < -1e-6 or off > axis.duration_s + 1e-6:
        end = axis.utc(axis.n_steps - 1)
        raise UsageError(f"{flag}: {text} is outside the scenario window "
                         f"{axis.start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ}")
    return min(max(off, 0.0), axis.duration_s)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "group"


def _outdir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {out}: {exc.strerror}") from None
    return out


# --------------------------------------------------------------------------- coverage
def cmd_coverage(args) -> int:
    from experiments.coverage import PDOP_NO_FIX, grid_coverage
    from experiments.coveragemap import coverage_figure
    from experiments.figures import save_figure

    _check_angle("--min-elevation", args.min_elevation, -90.0, 90.0)
    _check_dpi(args.dpi)
    if not 0 < args.grid_deg <= 90:
        raise UsageError(f"--grid-deg: {args.grid_deg:g} must be more than 0 and at most 90")
    if not 0 < args.pdop_limit <= PDOP_NO_FIX:
        raise UsageError(f"--pdop-limit: {args.pdop_limit:g} must be more than 0 and at most {PDOP_NO_FIX:g}")
    scen = scenario_from_args(args)
    scene = scen.build_scene()
    groups = _groups(scene, args.layer)
    axis = scen.axis
    with progress_bar("coverage", axis.n_steps, args.quiet) as advance:
        cov = grid_coverage(scene, axis, groups, args.grid_deg, args.min_elevation, progress=advance,
                            layer_spec=args.layer, pdop_limit=args.pdop_limit)
    out = _outdir(args.out)
    cov.write_csv(out / "coverage.csv")
    summary = cov.summary()
    (out / "coverage.json").write_text(json.dumps(summary, indent=2))
    pngs = []
    for name in cov.groups:
        path = out / f"coverage-{_safe(name)}.png"
        save_figure(coverage_figure(cov, name), path, dpi=args.dpi)
        pngs.append(path.name)
    if not args.quiet:
        _print_coverage(summary)
    print(f"wrote {out / 'coverage.csv'}, coverage.json, {', '.join(pngs)}")
    return 0


def _print_coverage(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"coverage over {s['points']} points, {s['n_steps']} steps of {s['step_s']:g} s, "
                    f"mask {s['min_elevation_deg']:g}° (area-weighted)")
    t.add_column("group", no_wrap=True)
    for col in ("sats", "in view", "min", "max", "always ≥4 area %", "PDOP median", "PDOP 95 % worst",
                f"PDOP ≤ {s['pdop_limit']:g} time %", f"fix (≤ {s['usable_pdop']:g}) time %"):
        t.add_column(col, justify="right")
    for name, g in s["groups"].items():
        four = g.get("area_pct_always_4plus")
        fix = g.get("fix_alone")

        def pdop(key, fmt):
            value = g.get(key)
            return "-" if not fix else ("no fix" if value is None else format(value, fmt))
        t.add_row(name, str(g["satellites"]), f"{g['visible_mean']:.2f}", str(g["visible_min"]),
                  str(g["visible_max"]), "-" if four is None else f"{four:.1f}", pdop("pdop_median", ".2f"),
                  pdop("pdop_p95_worst", ".2f"), pdop("pct_time_pdop_ok_mean", ".1f"), pdop("pct_time_fix_mean", ".1f"))
    Console().print(t)
    for name, g in s["groups"].items():
        if g.get("fix_note"):
            print(f"{name}: no PDOP, {g['fix_note']}")


# --------------------------------------------------------------------------- sky plot, ground track
def cmd_skyplot(args) -> int:
    from experiments.figures import plural, save_figure
    from experiments.skyplot import sky_tracks, skyplot

    _check_angle("--min-elevation", args.min_elevation, -90.0, 90.0)
    _check_dpi(args.dpi)
    scen = scenario_from_args(args)
    scene = scen.build_scene()
    station = _station(scene, args.station)
    idx = _satellites(scene, args.layer, [])
    tracks = sky_tracks(scene, station, scen.axis, idx)
    out = _outdir(args.out)
    path = out / skyplot_file_name(station.name, args.layer)
    save_figure(skyplot(tracks, args.min_elevation), path, dpi=args.dpi)
    n_up = tracks.risen().size
    vis = tracks.visible_count(args.min_elevation)
    print(f"{station.name}: {n_up} of {plural(len(idx), 'satellite')} {'rises' if n_up == 1 else 'rise'}; "
          f"above the {args.min_elevation:g}° mask: {vis.min()}-{vis.max()} at a time (mean {vis.mean():.1f})")
    print(f"wrote {path}")
    return 0


def skyplot_file_name(station: str, layer: str | None) -> str:
    """``skyplot-STATION.png`` for every satellite, ``skyplot-STATION-LAYER.png`` for a selection."""
    spec = (layer or "all").strip().lower()
    return f"skyplot-{_safe(station)}.png" if spec == "all" else f"skyplot-{_safe(station)}-{_safe(spec)}.png"


def cmd_groundtrack(args) -> int:
    from experiments.figures import plural, save_figure
    from experiments.groundtrack import ground_tracks, groundtrack_map

    _check_dpi(args.dpi)
    scen = scenario_from_args(args)
    scene = scen.build_scene()
    idx = _satellites(scene, args.layer, args.sat)
    tracks = ground_tracks(scene, scen.axis, idx)
    out = _outdir(args.out)
    label = args.layer or ("sats" if args.sat else "all")
    path = out / f"groundtrack-{_safe(label)}.png"
    save_figure(groundtrack_map(tracks, [] if args.no_stations else scene.stations), path, dpi=args.dpi)
    print(f"wrote {path} ({plural(len(idx), 'satellite')}, {plural(scen.axis.n_steps, 'step')})")
    return 0


# --------------------------------------------------------------------------- snapshot
def cmd_snapshot(args) -> int:
    from experiments.snapshot import SnapshotPlot, animate, node_lat_lon_deg, series_at_steps

    from .cmd_topology import _ground_node, compute_series

    _check_dpi(args.dpi)
    if (args.src is None) != (args.dst is None):
        raise UsageError("give both --src and --dst to highlight a route")
    if args.frames < 2 and args.animate:
        raise UsageError(f"--frames: an animation needs at least 2 frames, got {args.frames}")
    if args.animate and not 0.1 <= args.fps <= 60:  # NaN fails too
        raise UsageError(f"--fps: {args.fps:g} is out of range; accepted: 0.1 to 60 frames per second")
    scen = scenario_from_args(args)
    axis = scen.axis
    t0 = time_offset_s(axis, args.time)
    k0 = axis.index_of(t0)
    if args.src:
        names = {str(s if isinstance(s, str) else s.get("name")).lower() for s in scen.stations}
        for flag, name in (("--src", args.src), ("--dst", args.dst)):
            if name.lower() not in names:
                raise UsageError(f"{flag}: unknown ground station {name!r}; this scenario has: "
                                 f"{', '.join(str(s if isinstance(s, str) else s.get('name')) for s in scen.stations)}")
    if args.animate:
        window = axis.duration_s - axis.t_s[k0] if args.window is None else args.window
        if not window >= 0:
            raise UsageError(f"--window: must be zero or more seconds, got {window:g}")
        k1 = axis.index_of(axis.t_s[k0] + window)
        if k1 - k0 < 1:
            raise UsageError(f"empty window: from t = {axis.t_s[k0]:g} s the scenario has no later step "
                             f"to animate (window {window:g} s, step {axis.step_s:g} s)")
        every = max(1, int(np.ceil((k1 - k0) / (args.frames - 1))))
        count = (k1 - k0) // every + 1
    else:
        every, count, k1 = 1, 1, k0
    # the links are computed from the scenario start: sticky rules depend on what came before
    scen_cut = scen.with_overrides(None, float(axis.t_s[k1]), None)
    scene, series = compute_series(scen_cut, args.quiet)
    frames = series_at_steps(series, k0, every, count)
    path = None
    if args.src:
        from topologies.routing import route_pair

        src, dst = _ground_node(series, args.src, "--src"), _ground_node(series, args.dst, "--dst")
        path = route_pair(frames, src, dst, scen.ground_transit)
    lat, lon = node_lat_lon_deg(scene, frames.axis)
    out = _outdir(args.out)
    if not args.animate:
        plot = SnapshotPlot(frames, lat, lon, path, origin=axis.start)
        plot.draw(0)
        stamp = frames.axis.start.strftime("%Y%m%dT%H%M%S")
        file = out / f"snapshot-{stamp}.png"
        plot.save(file, dpi=args.dpi or 110)
        plot.close()
        counts = ", ".join(f"{n} {k}" for k, n in plot.link_counts.items())
        print(f"t = {frames.axis.start:%Y-%m-%d %H:%M:%S} UTC: {counts} links up")
        if path is not None:
            rtt = path.rtt_ms[0]
            print("route: " + (" -> ".join(path.path_names(0)) + f" ({rtt:.1f} ms RTT)" if path.paths[0]
                               else "unreachable"))
        print(f"wrote {file}")
        return 0
    plot = SnapshotPlot(frames, lat, lon, path, figsize=(10.0, 5.6), origin=axis.start)
    with progress_bar("frames", frames.n_steps, args.quiet) as advance:
        files = animate(plot, out / "snapshot", fps=args.fps, dpi=args.dpi or 100, progress=advance)
    plot.close()
    print(f"wrote {', '.join(str(f) for f in files)} ({frames.n_steps} frames, "
          f"{frames.axis.step_s:g} s apart)")
    return 0


# --------------------------------------------------------------------------- overview
def _check_overview(args, scen):
    """Check every overview argument against the scenario before anything is computed."""
    _check_dpi(args.dpi)
    _check_angle("--min-elevation", args.min_elevation, -90.0, 90.0)
    if not 0 < args.grid_deg <= 90:
        raise UsageError(f"--grid-deg: {args.grid_deg:g} must be more than 0 and at most 90")
    if not (np.isfinite(args.hours) and 0 < args.hours <= 24 * 14):
        raise UsageError(f"--hours: {args.hours:g} must be more than 0 and at most 336 (two weeks)")
    if not (np.isfinite(args.orbit_step) and 0 < args.orbit_step <= args.hours * 3600):
        raise UsageError(f"--orbit-step: {args.orbit_step:g} s must be more than 0 and at most the window")
    if args.frames < 2:
        raise UsageError(f"--frames: an animation needs at least 2 frames, got {args.frames}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"--out: no such directory: {out.parent}")
    names = [str(s if isinstance(s, str) else s.get("name")) for s in scen.stations]
    if (args.src is None) != (args.dst is None):
        raise UsageError("give both --src and --dst to highlight a route")
    for flag, name in (("--src", args.src), ("--dst", args.dst)):
        if name is not None and name.lower() not in {n.lower() for n in names}:
            raise UsageError(f"{flag}: unknown ground station {name!r}; this scenario has: {', '.join(names)}")
    if args.station is None and not names:
        raise UsageError("--station: the scenario has no ground stations; name a built-in one")
    pair = (args.src, args.dst) if args.src else (tuple(names[:2]) if len(names) >= 2 else None)
    return out, pair


def cmd_overview(args) -> int:
    import tempfile

    from experiments.coverage import grid_coverage, satellite_groups
    from experiments.figures import duration_text, plural
    from experiments.overview import (animation_section, coverage_section, overview_page, shell_window,
                                      sky_section, track_section)
    from experiments.snapshot import SnapshotPlot, animate, node_lat_lon_deg, series_at_steps
    from orbits.timebase import TimeAxis

    from .cmd_topology import _ground_node, compute_series

    scen = scenario_from_args(args)
    out, pair = _check_overview(args, scen)
    scene = scen.build_scene()
    station = _station(scene, args.station or scene.stations[0].name)
    shells = scene.shells()
    day = TimeAxis.from_duration(scen.axis.start, args.hours * 3600.0, args.orbit_step)
    windows = {shell: shell_window(scene, shell, day) for shell in shells}
    covs = {}
    for shell in shells:
        with progress_bar(f"coverage {shell}", windows[shell].n_steps, args.quiet) as advance:
            covs[shell] = grid_coverage(scene, windows[shell], satellite_groups(scene, shell), args.grid_deg,
                                        args.min_elevation, progress=advance, layer_spec=shell)
    sections = [coverage_section(covs, args.dpi), sky_section(scene, station, windows, args.min_elevation,
                                                              args.dpi),
                track_section(scene, windows, args.dpi)]
    axis = scen.axis
    every = max(1, int(np.ceil((axis.n_steps - 1) / (args.frames - 1))))
    count = (axis.n_steps - 1) // every + 1
    _, series = compute_series(scen, args.quiet)
    frames = series_at_steps(series, 0, every, count)
    path, caption = None, f"{plural(frames.n_steps, 'frame')} {duration_text(frames.axis.step_s)} apart."
    if pair:
        from topologies.routing import route_pair

        path = route_pair(frames, _ground_node(series, pair[0], "--src"), _ground_node(series, pair[1], "--dst"),
                          scen.ground_transit)
        caption = (f"The thick red line is the shortest-delay route {pair[0]} → {pair[1]}; its round-trip time is "
                   f"in the legend. " + caption)
    lat, lon = node_lat_lon_deg(scene, frames.axis)
    plot = SnapshotPlot(frames, lat, lon, path, figsize=(10.0, 5.6), origin=axis.start)
    with tempfile.TemporaryDirectory(prefix="sgemu-overview-") as tmp, \
            progress_bar("frames", frames.n_steps, args.quiet) as advance:
        files = animate(plot, Path(tmp) / "network", fps=4, dpi=max(args.dpi, 90), mp4=False, progress=advance)
        plot.close()
        sections.insert(0, animation_section(files[-1], caption))
        text = overview_page(scen.name or "scenario", scen.raw, sections)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text) / 1e6:.1f} MB: animation, coverage of {', '.join(shells)}, "
          f"sky over {station.name}, ground tracks)")
    return 0


# --------------------------------------------------------------------------- report
def cmd_report(args) -> int:
    from experiments.report import has_report_files, write_report

    run = Path(args.run_dir)
    if not run.is_dir():
        raise UsageError(f"no such run directory: {run}")
    if not has_report_files(run):
        raise UsageError(f"RUN_DIR: {run} holds none of the files sgemu writes (scenario.yaml, links.npz, "
                         "route-*.csv, results.csv, coverage.json, pictures); give a directory written by "
                         "sgemu links, route, run, coverage or the plot commands")
    out = Path(args.out) if args.out else run / "report.html"
    from .limits import check_out_file

    check_out_file(out, "--out")
    path = write_report(run, out, args.title)
    print(f"wrote {path}")
    return 0
