"""Commands that need no root: ``presets``, ``stations``, ``links``, ``route``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml

from experiments.run import write_events_csv

from .cli import UsageError, add_scenario_args, scenario_from_args
from .progress import progress_bar


def register(sub) -> None:
    p = sub.add_parser("presets", help="list the built-in constellation presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("stations", help="list the built-in ground stations")
    p.add_argument("--match", help="only names containing this text")
    p.set_defaults(func=cmd_stations)

    p = sub.add_parser("links", help="compute the link series of a scenario and write it with a summary")
    add_scenario_args(p)
    p.add_argument("--out", default="out/links", help="output directory (default: out/links)")
    p.add_argument("--cluster", metavar="ADDRESS", help="compute on this Ray cluster (time ranges as Ray tasks)")
    p.add_argument("--format", default="npz", metavar="FMT",
                   help="also export the edge list: npz (links.npz only, the default), parquet, csv or graphml "
                        "(see docs/links-format.md)")
    p.add_argument("--per-step", action="store_true",
                   help="parquet/csv: one row per link per step instead of one per link interval")
    p.set_defaults(func=cmd_links)

    p = sub.add_parser("route", help="predicted RTT, hops and path changes between two ground stations")
    add_scenario_args(p)
    p.add_argument("--src", required=True, help="source ground station")
    p.add_argument("--dst", required=True, help="destination ground station")
    p.add_argument("--strategy", metavar="NAME",
                   help="routing strategy (shortest-delay, min-hop, ecmp, hold-down, predictive, "
                        "'python: module:function'; params as NAME:key=value); default: shortest-delay")
    p.add_argument("--out", default="out/route", help="output directory for the CSV (default: out/route)")
    p.add_argument("--cluster", metavar="ADDRESS", help="compute the links on this Ray cluster")
    p.set_defaults(func=cmd_route)

    p = sub.add_parser("routes", help="predicted RTT, hops and path of many station pairs at every step, "
                                      "written as Parquet or CSV")
    add_scenario_args(p)
    p.add_argument("--pairs", default="ground", metavar="PAIRS",
                   help="'ground' (every pair of ground stations, the default) or SRC:DST[,SRC:DST...]")
    p.add_argument("--out", default="out/routes", help="output directory (default: out/routes)")
    p.add_argument("--format", default="parquet", metavar="FMT", help="parquet (default) or csv")
    p.add_argument("--chunk-steps", default="200", metavar="N", help="steps per written chunk (default: 200)")
    p.add_argument("--workers", default="1", metavar="N", help="processes computing blocks of whole chunks in parallel (default: 1)")
    p.set_defaults(func=cmd_routes)


def cmd_presets(args) -> int:
    from orbits.presets import PRESETS

    for name, preset in PRESETS.items():
        print(f"{name:14s} {preset.description}")
    return 0


def cmd_stations(args) -> int:
    from orbits.stations import builtin_stations

    for st in builtin_stations().values():
        if args.match and args.match.lower() not in st.name.lower():
            continue
        print(f"{st.name:14s} {st.country:3s} {st.lat_deg:8.3f} {st.lon_deg:9.3f} {st.alt_m:6.0f} m")
    return 0


def compute_series(scen, quiet: bool, cluster: str | None = None):
    """Bind the scenario, build its link series with a progress bar (on a Ray cluster when ``cluster``
    is its address), and apply its events (failures, fades)."""
    from topologies.builder import build_series
    from topologies.events import EventError, apply_events, parse_events

    scene, rules = scen.bind()
    axis = scen.axis
    if cluster:
        from emulator.cluster.precompute import series_on_cluster

        try:
            series = series_on_cluster(scen, cluster, quiet)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        with progress_bar("links", axis.n_steps, quiet) as advance:
            series = build_series(scene, rules, axis, scen.grazing_km, scen.link_parameters(), progress=advance,
                                  budget=scen.link_budget_for(scene))
    try:
        series = apply_events(series, parse_events(series, scen.events))
    except EventError as exc:
        raise UsageError(str(exc)) from None
    return scene, series


def cmd_links(args) -> int:
    scen = scenario_from_args(args)
    out = Path(args.out)
    from topologies.export import FORMATS, write_links

    if args.format not in FORMATS:
        raise UsageError(f"--format: {args.format!r}; accepted: {', '.join(FORMATS)}")
    if args.per_step and args.format not in ("parquet", "csv"):
        raise UsageError("--per-step: accepted with --format parquet or csv")
    _check_out_dir(out)
    scene, series = compute_series(scen, args.quiet, args.cluster)
    out.mkdir(parents=True, exist_ok=True)
    series.save(out / "links.npz")
    exported = write_links(series, out, args.format, args.per_step)
    events = series.events()
    write_events_csv(out / "events.csv", events)
    summary = series.summary()
    summary["events"] = {k: sum(e["event"] == k for e in events) for k in ("up", "down", "handover")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "scenario.yaml").write_text(yaml.safe_dump(scen.raw, sort_keys=False))
    if not args.quiet:
        _print_links_summary(summary)
    print(f"wrote {out / 'links.npz'}, events.csv, summary.json" + "".join(f", {p.name}" for p in exported))
    return 0


def _print_links_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{summary['nodes']} nodes ({summary['satellites']} satellites, "
                    f"{summary['ground_stations']} stations), {summary['n_steps']} steps of {summary['step_s']:g} s")
    shaped = any(k.get("capacity_mbps_mean") is not None for k in summary["kinds"].values())
    cap_cols = ("Mbit/s min", "mean", "max") if shaped else ()
    for col in ("kind", "distinct links", "up/step (mean)", "delay ms min", "mean", "max") + cap_cols:
        t.add_column(col, justify="right")
    for kind, k in summary["kinds"].items():
        caps = tuple("-" if k.get(f"capacity_mbps_{x}") is None else f"{k[f'capacity_mbps_{x}']:.0f}"
                     for x in ("min", "mean", "max")) if shaped else ()
        t.add_row(kind, str(k["distinct_links"]), f"{k['up_per_step_mean']:.1f}",
                  f"{k['delay_ms_min']:.2f}", f"{k['delay_ms_mean']:.2f}", f"{k['delay_ms_max']:.2f}", *caps)
    Console().print(t)
    ev = summary["events"]
    print(f"events: {ev['up']} links up, {ev['down']} down, {ev['handover']} ground handovers")


def _ground_node(series, name: str, flag: str) -> int:
    try:
        i = series.index(name)
    except KeyError:
        names = [n for n, l in zip(series.node_names, series.node_layer) if l == "GROUND"]
        raise UsageError(f"{flag}: unknown ground station {name!r}; this scenario has: {', '.join(names)}") from None
    if series.node_layer[i] != "GROUND":
        raise UsageError(f"{flag}: {name!r} is a satellite; give a ground station")
    return i


def _strategy(args):
    """The --strategy's RoutingSpec (None: delay-shortest), checked before any computation."""
    if not getattr(args, "strategy", None):
        return None
    from topologies.strategies import StrategyError, parse_strategy_list

    try:
        specs = parse_strategy_list(args.strategy, where="--strategy")
    except StrategyError as exc:
        raise UsageError(str(exc)) from None
    if len(specs) != 1:
        raise UsageError("--strategy: give one strategy")
    return specs[0]


def cmd_route(args) -> int:
    from topologies.export import write_route_csv
    from topologies.routing import route_pair, step_times_s

    scen = scenario_from_args(args)
    strategy = _strategy(args)
    # check the names before the (possibly long) link computation
    names = [s.name for s in scen.build_stations()]
    for flag, name in (("--src", args.src), ("--dst", args.dst)):
        if name.lower() not in {str(n).lower() for n in names}:
            raise UsageError(f"{flag}: unknown ground station {name!r}; this scenario has: {', '.join(map(str, names))}")
    if args.src.lower() == args.dst.lower():  # as `run --ping`: a route needs two ends
        raise UsageError(f"--dst: {args.dst!r} is also --src; give two different ground stations")
    scene, series = compute_series(scen, args.quiet, args.cluster)
    src, dst = _ground_node(series, args.src, "--src"), _ground_node(series, args.dst, "--dst")
    path = route_pair(series, src, dst, scen.ground_transit, strategy=strategy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"route-{series.node_names[src]}-{series.node_names[dst]}"
    csv_path = write_route_csv(out / f"{stem}.csv", series, path)
    summary = path.summary()
    summary["changes"] = [{"t_s": float(step_times_s(series, k)), "path": path.path_names(k)}
                          for k in path.change_steps()]
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    (out / "scenario.yaml").write_text(yaml.safe_dump(scen.raw, sort_keys=False))
    series.save(out / "links.npz")
    if not args.quiet:
        _print_route_summary(summary, path)
    print(f"wrote {csv_path}")
    return 0


def _fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def _print_route_summary(s: dict, path) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"predicted route {s['src']} -> {s['dst']} over {s['steps']} steps")
    for col in ("RTT ms min", "mean", "max", "hops", "path changes", "unreachable s"):
        t.add_column(col, justify="right")
    hops = "-" if s["hops_min"] is None else f"{s['hops_min']}-{s['hops_max']}"
    t.add_row(_fmt(s["rtt_ms_min"]), _fmt(s["rtt_ms_mean"]), _fmt(s["rtt_ms_max"]), hops,
              str(s["path_changes"]), f"{s['unreachable_s']:g}")
    Console().print(t)
    first = next((k for k in range(len(path.paths)) if path.paths[k]), None)
    if first is not None:
        print("path at first reachable step:", " -> ".join(path.path_names(first)))


def _check_out_dir(out: Path) -> None:
    """An output directory must be a directory (or not exist yet): checked before any computing."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {str(out)!r} is a file; give a directory")


def _whole_number(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{flag}: expected a whole number >= 1, got {text!r}")
    return value


def parse_pairs(text: str, stations: list[str]) -> list[tuple[str, str]] | None:
    """``--pairs``: None for 'ground' (every pair), else the (src, dst) station names as written.

    Names are matched ignoring case; unknown names, a station paired with
    itself and malformed items raise :class:`UsageError` naming ``--pairs``.
    """
    if text.strip().lower() == "ground":
        if len(stations) < 2:
            raise UsageError(f"--pairs: 'ground' needs two ground stations; this scenario has {len(stations)}")
        return None
    known = {s.lower() for s in stations}
    pairs = []
    for item in text.split(","):
        ends = item.strip().split(":")
        if len(ends) != 2 or not all(e.strip() for e in ends):
            raise UsageError(f"--pairs: expected 'ground' or SRC:DST[,SRC:DST...], got {item.strip()!r}")
        src, dst = (e.strip() for e in ends)
        for name in (src, dst):
            if name.lower() not in known:
                raise UsageError(f"--pairs: unknown ground station {name!r}; this scenario has: {', '.join(stations)}")
        if src.lower() == dst.lower():
            raise UsageError(f"--pairs: {src}:{dst} joins a station to itself; give two different ground stations")
        pairs.append((src, dst))
    return pairs


def cmd_routes(args) -> int:
    from topologies.export import ROUTE_FORMATS, RoutesWriter
    from topologies.routing import ground_pairs, stream_pair_routes

    if args.format not in ROUTE_FORMATS:
        raise UsageError(f"--format: {args.format!r}; accepted: {', '.join(ROUTE_FORMATS)}")
    chunk_steps = _whole_number("--chunk-steps", args.chunk_steps)
    workers = _whole_number("--workers", args.workers)
    scen = scenario_from_args(args)
    named = parse_pairs(args.pairs, [str(s.name) for s in scen.build_stations()])
    out = Path(args.out)
    _check_out_dir(out)
    scene, series = compute_series(scen, args.quiet)
    if named is None:
        pairs = ground_pairs(series)
    else:
        pairs = np.array([[_ground_node(series, a, "--pairs"), _ground_node(series, b, "--pairs")] for a, b in named])
    out.mkdir(parents=True, exist_ok=True)
    writer = RoutesWriter(out / f"routes.{args.format}", args.format)
    try:
        with progress_bar("routes", series.n_steps, args.quiet) as advance:
            for frame in stream_pair_routes(series, pairs, scen.ground_transit, chunk_steps, workers, advance):
                writer.write(frame)
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    (out / "scenario.yaml").write_text(yaml.safe_dump(scen.raw, sort_keys=False))
    summary = {"file": path.name, "format": args.format, "rows": writer.rows, "pairs": int(len(pairs)),
               "steps": series.n_steps, "step_s": series.axis.step_s, "start": series.axis.start.isoformat(),
               "columns": ["t_s", "src", "dst", "rtt_ms", "hops", "path"]}
    (out / "routes.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {path} ({writer.rows} rows: {len(pairs)} pairs x {series.n_steps} steps)")
    return 0
