"""``sgemu view``: the offline 3-D globe of a scenario, a run directory or a ``sgemu links`` output."""

from __future__ import annotations

import csv
import signal
import sys
import threading
from pathlib import Path

from .cli import UsageError, scenario_from_args

EXIT_CAPABILITY = 3


def register(sub) -> None:
    p = sub.add_parser("view", help="serve an offline 3-D globe of a scenario, run directory or links output")
    p.add_argument("scenario", nargs="?", metavar="SCENARIO|RUN_DIR|LINKS_DIR",
                   help="scenario YAML (default: the built-in default), a `sgemu run` directory or a "
                        "`sgemu links` output directory (replayed with the measured pings of results.csv)")
    p.add_argument("--start", help="override the start time (ISO 8601 UTC; scenario files only)")
    p.add_argument("--duration", type=float, metavar="S", help="override duration_s (scenario files only)")
    p.add_argument("--step", type=float, metavar="S", help="override step_s (scenario files only)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 to share)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--time", type=float, default=0.0, metavar="T_S", help="scenario second the page opens at")
    p.add_argument("--route", metavar="SRC:DST", help="station pair of the route panel (default: the first ping)")
    p.add_argument("--coverage", action="append", metavar="GROUP",
                   help="with --export: coverage overlays to include (e.g. bds3; repeatable)")
    p.add_argument("--export", metavar="DIR", help="write a static site to DIR instead of serving")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_view)


def cmd_view(args) -> int:
    from viewer.server import AssetsMissing, cesium_dir

    _check_args(args)
    try:
        cesium_dir()
    except AssetsMissing as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return EXIT_CAPABILITY
    spec, series, pings = _load(args)
    scene = spec.build_scene()
    if list(scene.node_names) != list(series.node_names):
        raise UsageError(f"{args.scenario}: links.npz does not hold this scenario.yaml's nodes")
    route = _route_pair(args, spec, series)
    if args.export:
        return _export(args, spec, scene, series, pings, route)
    return _serve(args, spec, scene, series, pings, route)


def _check_args(args) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a port number (0-65535)")
    if args.time < 0:
        raise UsageError(f"--time: {args.time:g} s is before the start of the run")
    if args.route and (args.route.count(":") != 1 or "" in args.route.split(":")):
        raise UsageError(f"--route: {args.route!r}; expected SRC:DST (two ground station names)")
    if args.coverage and not args.export:
        raise UsageError("--coverage: goes with --export (the served page computes overlays on demand)")
    if args.export:
        out = Path(args.export)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"--export: {out} exists and is not an empty directory")
    src = Path(args.scenario) if args.scenario else None
    if src is not None and src.is_dir() and (args.start or args.duration is not None or args.step is not None):
        raise UsageError("--start/--duration/--step: apply to a scenario file, not to a run or links directory")


def _load(args):
    """(checked scenario, link series, measured pings) from a scenario file or a directory."""
    from topologies.series import LinkSeries

    from .scenario import load_scenario

    src = Path(args.scenario) if args.scenario else None
    if src is None or not src.is_dir():
        from .cmd_topology import compute_series

        spec = scenario_from_args(args)
        _check_against(args, spec.axis.duration_s, [s.name for s in spec.build_stations()])
        return spec, compute_series(spec, args.quiet)[1], []
    if not (src / "links.npz").is_file() or not (src / "scenario.yaml").is_file():
        raise UsageError(f"{src}: not a run or links directory (needs links.npz and scenario.yaml)")
    spec = load_scenario(src / "scenario.yaml")
    try:
        series = LinkSeries.load(src / "links.npz")
    except (ValueError, OSError, KeyError) as exc:
        raise UsageError(f"{src / 'links.npz'}: cannot be read ({exc})") from None
    _check_against(args, series.axis.duration_s, [series.node_names[i] for i in series.ground_indices])
    return spec, series, _read_pings(src / "results.csv")


def _check_against(args, duration_s: float, stations: list[str]) -> None:
    """--time and --route against the run's length and stations (before any link is computed)."""
    if args.time > duration_s:
        raise UsageError(f"--time: {args.time:g} s is after the end of the run ({duration_s:g} s)")
    known = {s.lower() for s in stations}
    for name in (args.route.split(":") if args.route else []):
        if name.lower() not in known:
            raise UsageError(f"--route: unknown ground station {name!r}; this scenario has: {', '.join(stations)}")


def _read_pings(path: Path) -> list[dict]:
    """Measured ping samples of a run directory's results.csv ([] when there is none)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"t_s", "src", "dst", "rtt_ms_measured", "rtt_ms_predicted"}
    if rows and not need <= set(rows[0]):
        raise UsageError(f"{path}: expected columns {', '.join(sorted(need))}")
    return rows


def _route_pair(args, spec, series) -> tuple[str, str] | None:
    from viewer.live import _first_ping, _first_two

    if not args.route:
        return _first_ping(spec) or _first_two(series)
    return tuple(series.node_names[series.index(n)] for n in args.route.split(":"))


def _serve(args, spec, scene, series, pings, route) -> int:
    from viewer.server import server_for

    server = server_for(series, scene, name=spec.name, ground_transit=spec.ground_transit, pings=pings,
                        route=route, t_s=args.time, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        raise UsageError(f"--port: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                         "pick another port (0 picks a free one)") from None
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(f"sgemu view: {server.url}  (Ctrl-C to stop)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _export(args, spec, scene, series, pings, route) -> int:
    from experiments.coverage import UnknownLayer

    from viewer.export import export_site

    try:
        out = export_site(Path(args.export), series, scene, name=spec.name, ground_transit=spec.ground_transit,
                          pings=pings, route=route, t_s=args.time, coverage=args.coverage or [])
    except UnknownLayer as exc:
        raise UsageError(f"--coverage: {exc}") from None
    print(f"wrote {out} (serve it with any static web server, e.g. `python3 -m http.server -d {out}`)")
    return 0
