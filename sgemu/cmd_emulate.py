"""Commands that build live networks (root): ``run``, ``cli``, ``clean``."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from .cli import UsageError, add_scenario_args, scenario_from_args
from .progress import progress_bar

EXIT_CAPABILITY = 3
EXIT_RUNTIME = 1    # the run itself failed (e.g. FRR's daemons did not start)


def register(sub) -> None:
    p = sub.add_parser("run", help="emulate the scenario live (root; netem) and measure")
    add_scenario_args(p)
    p.add_argument("--speed", type=float, default=1.0, help="scenario seconds per wall second (default 1)")
    p.add_argument("--out", help="run directory (default: runs/<scenario>-<UTC time>)")
    p.add_argument("--ping", action="append", metavar="SRC:DST", help="ping between two ground stations")
    p.add_argument("--iperf3", action="append", metavar="SRC:DST[:udp]", help="iperf3 between two ground stations")
    p.add_argument("--routing", choices=("static", "ospf"),
                   help="static: predicted shortest paths installed centrally; ospf: FRR in every node "
                        "(default: the scenario's emulation.routing, else static)")
    p.add_argument("--vm", action="store_true", help="run inside a throwaway VM with Debian's kernel (netem)")
    p.add_argument("--no-netem", action="store_true",
                   help="no delay shaping (kernels without sch_netem): topology and routes only")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("cli", help="build the network at the scenario's start and open Mininet's CLI")
    add_scenario_args(p)
    p.add_argument("--time", type=float, default=0.0, metavar="T_S", help="scenario second to build (default 0)")
    p.add_argument("--no-netem", action="store_true", help="no delay shaping")
    p.set_defaults(func=cmd_cli)

    p = sub.add_parser("clean", help="remove namespaces and processes left by killed runs")
    p.add_argument("--force", action="store_true", help="also tear down runs whose sgemu process is still alive")
    p.set_defaults(func=cmd_clean)


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        print(f"sgemu: error: `sgemu {what}` needs root (it creates network namespaces): run it with sudo",
              file=sys.stderr)
        raise SystemExit(EXIT_CAPABILITY)


def _need_netem(no_netem: bool) -> bool:
    from emulator.kernel import modprobe_netem, netem_available

    if no_netem:
        return False
    modprobe_netem()
    if not netem_available():
        print("sgemu: error: this kernel has no sch_netem qdisc, so link delays cannot be emulated; "
              "use `sgemu run --vm` (a VM with Debian's kernel), install your distribution's kernel "
              "modules (`modprobe sch_netem`), or pass --no-netem for topology and routes only",
              file=sys.stderr)
        raise SystemExit(EXIT_CAPABILITY)
    return True


def _experiments(scen, args):
    from experiments.spec import ExperimentError, check_experiments, from_cli, parse_experiments

    try:
        exps = parse_experiments(scen.experiments) + from_cli(args.ping, args.iperf3)
    except ExperimentError as exc:
        raise UsageError(str(exc)) from None
    names = [s.name for s in scen.build_stations()]
    if not exps and len(names) >= 2:  # the default: ping between the first two stations
        from experiments.spec import Ping

        exps = [Ping(names[0], names[1])]
    ground = {n.lower() for n in names}
    try:
        # names are checked again on the series; this catches them before the link computation
        check_experiments(exps, names, ground, scen.axis.duration_s + scen.axis.step_s)
    except ExperimentError as exc:
        raise UsageError(str(exc)) from None
    return exps


OSPF_KEYS = {"hello_s": int, "dead_s": int, "costs": str, "min_cost_change": int, "cost_update_every_s": (int, float),
             "areas": (str, dict), "timers": str, "links": str}
LAYERS = ("LEO", "MEO", "IGSO", "GEO", "GROUND")


def _routing(scen, args) -> tuple[str, dict]:
    """Routing mode and OSPF options from the scenario's ``emulation:`` section and --routing."""
    emu = dict(scen.emulation)
    unknown = set(emu) - {"routing", "ospf", "route_watch", "calibrate"}
    if unknown:
        raise UsageError(f"emulation.{sorted(unknown)[0]}: unknown key; accepted: routing, ospf, route_watch, calibrate")
    cal = emu.get("calibrate", "auto")
    if not (cal in ("auto", "off") or (isinstance(cal, (int, float)) and not isinstance(cal, bool) and 0 <= cal < 50)):
        raise UsageError(f"emulation.calibrate: {cal!r}; accepted: auto, off, or an offset in ms (0 to 50)")
    if emu.get("route_watch", "auto") not in ("auto", True, False):
        raise UsageError(f"emulation.route_watch: {emu['route_watch']!r}; accepted: auto, true, false")
    routing = args.routing or emu.get("routing", "static")
    if routing not in ("static", "ospf"):
        raise UsageError(f"emulation.routing: {routing!r}; accepted: static, ospf")
    ospf = emu.get("ospf") or {}
    if not isinstance(ospf, dict):
        raise UsageError("emulation.ospf: expected a mapping")
    for key, value in ospf.items():
        if key not in OSPF_KEYS:
            raise UsageError(f"emulation.ospf.{key}: unknown key; accepted: {', '.join(OSPF_KEYS)}")
        if not isinstance(value, OSPF_KEYS[key]) or isinstance(value, bool):
            raise UsageError(f"emulation.ospf.{key}: wrong type {value!r}")
    if ospf.get("costs", "delay") not in ("delay", "hops"):
        raise UsageError("emulation.ospf.costs: accepted: delay, hops")
    areas = ospf.get("areas", "single")
    if isinstance(areas, str) and areas not in ("single", "per-layer"):
        raise UsageError(f"emulation.ospf.areas: {areas!r}; accepted: single, per-layer, or a mapping layer: area")
    if isinstance(areas, dict):
        from emulator.frr import area_id

        for layer, area in areas.items():
            if str(layer).upper() not in LAYERS:
                raise UsageError(f"emulation.ospf.areas.{layer}: unknown layer; accepted: {', '.join(LAYERS)}")
            try:
                area_id(area)
            except ValueError:
                raise UsageError(f"emulation.ospf.areas.{layer}: {area!r} is not an OSPF area (like 0.0.0.1)") from None
    if ospf.get("timers", "auto") not in ("auto", "fast", "large"):
        raise UsageError(f"emulation.ospf.timers: {ospf['timers']!r}; accepted: auto, fast, large")
    if ospf.get("links", "unnumbered") not in ("numbered", "unnumbered"):
        raise UsageError(f"emulation.ospf.links: {ospf['links']!r}; accepted: unnumbered, numbered")
    if ospf.get("dead_s", 4) <= ospf.get("hello_s", 1):
        raise UsageError(f"emulation.ospf.dead_s: {ospf.get('dead_s', 4)} is not longer than hello_s "
                         f"({ospf.get('hello_s', 1)}); accepted: a dead interval above the hello interval")
    if routing == "ospf":
        from emulator.frr import frr_missing

        missing = frr_missing()
        if missing:
            print(f"sgemu: error: routing ospf needs FRR: {missing}", file=sys.stderr)
            raise SystemExit(EXIT_CAPABILITY)
    return routing, ospf


def cmd_run(args) -> int:
    scen = scenario_from_args(args)
    exps = _experiments(scen, args)
    routing, ospf = _routing(scen, args)
    if args.speed <= 0:
        raise UsageError("--speed: must be positive")
    if args.vm:
        from emulator.vm import VMError, run_in_vm

        argv = [sys.executable, "-m", "sgemu"] + [a for a in sys.argv[1:] if a != "--vm"]
        try:
            return run_in_vm(argv)
        except VMError as exc:
            print(f"sgemu: error: {exc}", file=sys.stderr)
            return EXIT_CAPABILITY
    _need_root("run")
    shaping = _need_netem(args.no_netem)
    from experiments.run import run_emulation

    from .cmd_topology import compute_series

    _, series = compute_series(scen, args.quiet)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or f"runs/{scen.name}-{stamp}")
    bar = (lambda label, total: progress_bar(label, total, args.quiet))
    try:
        watch = scen.emulation.get("route_watch", "auto")
        summary = run_emulation(scen, series, exps, out, args.speed, shaping, args.quiet, bar,
                                routing=routing, ospf=ospf, route_watch=None if watch == "auto" else watch,
                                calibrate=scen.emulation.get("calibrate", "auto"))
    except Exception as exc:
        from emulator.frr import FrrError
        from experiments.spec import ExperimentError

        if isinstance(exc, ExperimentError):
            raise UsageError(str(exc)) from None
        if isinstance(exc, FrrError):  # the network is torn down already; the daemons' logs stay
            print(f"sgemu: error: OSPF: {exc} (FRR logs: {out / 'frr'})", file=sys.stderr)
            return EXIT_RUNTIME
        raise
    if not args.quiet:
        _print_run_summary(summary)
    print(f"run directory: {out}")
    if summary.get("plot"):
        print(f"plot: {summary['plot']}")
    return 0


def _print_run_summary(s: dict) -> None:
    import shutil

    from rich.console import Console as _Console
    from rich.table import Table

    def Console():  # noqa: N802 - wide enough for the table even when output is piped
        return _Console(width=max(shutil.get_terminal_size((120, 24)).columns, 120))

    t = Table(title=f"measured vs predicted RTT ({s['nodes']} nodes, {s['steps']} steps, speed {s['speed']:g}x, "
                    f"shaping {s['shaping']})")
    for col in ("pair", "sent", "loss %", "measured ms min/mean/max", "predicted ms min/mean/max",
                "agree %", "path changes"):
        t.add_column(col, justify="right")
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for pair, p in s["pairs"].items():
        t.add_row(pair, str(p["sent"]), f(p["loss_pct"]),
                  f"{f(p['measured_ms_min'])}/{f(p['measured_ms_mean'])}/{f(p['measured_ms_max'])}",
                  f"{f(p['predicted_ms_min'])}/{f(p['predicted_ms_mean'])}/{f(p['predicted_ms_max'])}",
                  f(p["agree_pct"]), str(p["path_changes"]))
    Console().print(t)
    Console().print(change_table(s))
    if s.get("netem_offset") in ("measured", "fixed"):
        print(f"netem delays configured {s['netem_offset_ms']:.3f} ms below the model per hop "
              f"({s['netem_offset']}: the platform's own lateness per netem traversal)")
    if s.get("ospf"):
        o = s["ospf"]
        print(f"OSPF ({o.get('links', 'numbered')} links): FRR started in {o['start_s']:.1f} s, "
              f"first routes after {o['initial_convergence_s']:.1f} s")
        if o.get("interfaces_readdressed"):
            print(f"  interfaces found without OSPF and readdressed: {', '.join(o['interfaces_readdressed'])}")
        if o.get("errors"):
            print(f"  OSPF cost updates or checks failed {len(o['errors'])} times; first: {o['errors'][0]}")
        if o.get("adjacencies_lost"):
            from emulator.frr import TIMER_PROFILES

            hint = ("; if the CPU was starved, try ospf.timers: large"
                    if o.get("dead_s", 0) < TIMER_PROFILES["large"]["dead_s"] else "")
            print(f"  adjacencies lost to the dead interval: {o['adjacencies_lost']} (hellos lost to a starved "
                  f"CPU or on links that drop packets{hint})")
    c = s["clock"]
    kept = "kept up" if c.get("kept_up") else f"FELL BEHIND on {c.get('steps_behind')} steps"
    print(f"build {s['build_s']:.1f} s; per-step apply mean {c.get('apply_ms_mean', 0):.1f} ms, "
          f"max {c.get('apply_ms_max', 0):.1f} ms, lateness max {c.get('late_ms_max', 0):.1f} ms: {kept}")


def change_table(s: dict, limit: int = 25):
    """The run's per-change convergence table (rich), at most ``limit`` rows (all are in changes.csv)."""
    from rich.table import Table

    f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    rows = [r for r in s.get("changes", []) if r["step"] > 0]
    t = Table(title=f"convergence per change (routing {s['routing']}): {len(rows)} changes"
                    + (f", first {limit} shown, all in changes.csv" if len(rows) > limit else ""))
    for col in ("t s", "cause", "routes changed", "routes right s", "pair", "reach s", "recovery s", "lost"):
        t.add_column(col, justify="left" if col in ("cause", "pair") else "right", overflow="fold")
    for r in rows[:limit]:
        pairs = list(r["pairs"].items()) or [("", {})]
        for n, (pair, p) in enumerate(pairs):
            head = (f(r["t_s"], 0), r["cause"][:60], "-" if r["routes_changed"] is None else str(r["routes_changed"]),
                    f(r["routes_right_s"])) if n == 0 else ("", "", "", "")
            t.add_row(*head, pair, f(p.get("reach_s")), f(p.get("recovery_s")),
                      "-" if p.get("lost") is None else str(p["lost"]))
    rs = s.get("routes") or {}
    if rs:
        t.caption = (f"routes right after {f(rs.get('routes_right_s_mean'))} s mean, {f(rs.get('routes_right_s_max'))} s max "
                     f"({rs.get('converged')}/{rs.get('changes')} changes); {rs.get('routes_changed_total')} routes changed; "
                     f"one read of all tables {f(rs.get('read_s_mean'), 3)} s")
    return t


def cmd_cli(args) -> int:
    scen = scenario_from_args(args)
    _need_root("cli")
    shaping = _need_netem(args.no_netem)
    from mininet.cli import CLI

    from emulator.network import EmulatedNetwork

    from .cmd_topology import compute_series

    _, series = compute_series(scen, args.quiet)
    if not 0 <= args.time <= series.axis.duration_s:
        raise UsageError(f"--time: {args.time:g} s is outside the run (0 to {series.axis.duration_s:g} s)")
    net = EmulatedNetwork(series, shaping=shaping, ground_transit=scen.ground_transit)
    try:
        with progress_bar("build", series.n_nodes, args.quiet) as advance:
            net.start(series.axis.index_of(args.time), progress=advance)
        print("nodes are Mininet hosts; addresses: " + ", ".join(
            f"{n}={net.address(n)}" for n, l in zip(series.node_names, series.node_layer) if l == "GROUND"))
        print("example: Beijing ping -c 3 " + (net.address("Kashi") if "kashi" in
                                                 {n.lower() for n in series.node_names} else "<address>"))
        CLI(net.net)
    finally:
        net.stop()
    return 0


def cmd_clean(args) -> int:
    _need_root("clean")
    from emulator.cleanup import clean

    counts = clean(force=args.force)
    print(f"removed {counts['namespaces']} namespace(s), killed {counts['processes']} process(es), "
          f"removed {counts['frr_dirs']} FRR run directories")
    if counts["live"]:
        print(f"left alone: live run(s) {', '.join(counts['live'])} (their sgemu process is running; --force to remove)")
    return 0
