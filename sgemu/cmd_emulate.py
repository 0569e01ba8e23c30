"""Commands that build live networks (root): ``run``, ``cli``, ``clean``."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from .cli import UsageError, add_scenario_args, scenario_from_args
from .progress import progress_bar

EXIT_CAPABILITY = 3
EXIT_RUNTIME = 1    # the run itself failed (e.g. FRR's daemons did not start)


def register(sub) -> None:
    p = sub.add_parser("run", help="emulate the scenario live (root; netem) and measure",
                       description="Emulate the scenario live and measure.  Note: `command` experiments in the "
                                   "scenario run as root inside node namespaces that share the host's "
                                   "filesystem; run only scenarios you trust.")
    add_scenario_args(p)
    p.add_argument("--speed", type=float, default=1.0, help="scenario seconds per wall second (default 1)")
    p.add_argument("--out", help="run directory (default: runs/<scenario>-<UTC time>)")
    p.add_argument("--ping", action="append", metavar="SRC:DST", help="ping between two ground stations")
    p.add_argument("--iperf3", action="append", metavar="SRC:DST[:udp]", help="iperf3 between two ground stations")
    p.add_argument("--routing", metavar="ROUTING",
                   help="ospf or isis: FRR in every node; or a strategy installed centrally each step: static "
                        "(= shortest-delay), min-hop, ecmp, hold-down, predictive, 'python: module:function'; "
                        "parameters as NAME:key=value, e.g. hold-down:threshold_ratio=1.5:controller_delay_ms=200 "
                        "(default: the scenario's emulation.routing, else static)")
    p.add_argument("--no-bgp", action="store_true",
                   help="leave out the scenario's emulation.bgp (the same scenario without BGP, to compare)")
    p.add_argument("--shaping", choices=("netem", "tbf", "none"), default=None,
                   help="netem: delays, losses and per-step rates (default); tbf: per-step rates only "
                        "(kernels without netem); none: topology and routes only")
    p.add_argument("--queue-limit", type=int, metavar="PKTS",
                   help="packets queued behind each link's rate (default: emulation.queue_limit_pkts, else 1000)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="spread the network over the hosts of this Ray cluster (docs/cluster.md)")
    p.add_argument("--vm", action="store_true", help="run inside a throwaway VM with Debian's kernel (netem)")
    p.add_argument("--no-netem", action="store_true",
                   help="= --shaping none (kernels without sch_netem): topology and routes only; pairs are "
                        "judged by reachability and traceroute paths")
    p.add_argument("--check", type=float, metavar="PCT", nargs="?", const=95.0,
                   help="exit 1 unless every ping pair agrees with the prediction in at least PCT %% of samples "
                        "(RTT with shaping, traceroute path without; default 95) -- for CI")
    p.add_argument("--view", nargs="?", const="127.0.0.1:8765", metavar="HOST:PORT",
                   help="serve the 3D viewer live while running (default 127.0.0.1:8765; `sgemu view` for replay)")
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


def cmd_run(args) -> int:
    """``sgemu run``: check everything, then :meth:`sgemu.Emulation.run` and print what it measured."""
    from . import runconfig
    from .api import Emulation, Scenario

    scen = scenario_from_args(args)
    exps = runconfig.experiments(scen, args.ping, args.iperf3)
    routing = runconfig.routing_option(args.routing)
    section = {k: v for k, v in (scen.emulation or {}).items() if not (args.no_bgp and k == "bgp")}
    runconfig.emulation_options(section, routing, scen._base_dir, where="--routing", ground_transit=scen.ground_transit)
    shaping = _shaping_option(args)
    speed = runconfig.check_speed(args.speed)
    view = _view_address(args.view)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    from .limits import check_out_dir

    out = check_out_dir(args.out or f"runs/{scen.name}-{stamp}", "--out")
    bar = (lambda label, total: progress_bar(label, total, args.quiet))
    emu = Emulation(Scenario(scen), shaping=shaping, routing=routing, out=out, queue_limit_pkts=args.queue_limit,
                    cluster=args.cluster, quiet=args.quiet, progress=bar, log=None if args.quiet else print,
                    view=view, bgp=False if args.no_bgp else None)  # checks every option before anything is built
    if args.vm:
        return _run_in_vm()
    try:
        with emu:
            summary = emu.run(experiments=exps, speed=speed).summary
    except KeyboardInterrupt:
        if (out / "summary.json").exists():
            print(f"sgemu: interrupted; what was measured is in {out}", file=sys.stderr)
        raise
    except Exception as exc:
        from emulator.frr import FrrError

        if isinstance(exc, FrrError):  # the network is torn down already; the daemons' logs stay
            print(f"sgemu: error: OSPF: {exc} (FRR logs: {out / 'frr'})", file=sys.stderr)
            return EXIT_RUNTIME
        if type(exc).__name__ == "ClusterError":  # every host torn down already
            print(f"sgemu: error: cluster: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        raise
    if not args.quiet:
        _print_run_summary(summary)
    print(f"run directory: {out}")
    if summary.get("plot"):
        print(f"plot: {summary['plot']}")
    return _check_bar(summary, args.check)


def _shaping_option(args) -> str:
    if args.no_netem and args.shaping not in (None, "none"):
        raise UsageError(f"--no-netem and --shaping {args.shaping}: give one of them")
    return "none" if args.no_netem else (args.shaping or "netem")


def _view_address(text: str | None):
    """``--view HOST:PORT`` as Emulation's ``view`` (False when not asked)."""
    if text is None:
        return False
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--view: {text[:40]!r}; accepted: HOST:PORT, e.g. 127.0.0.1:8765")
    return {"host": host, "port": int(port)}


def _run_in_vm() -> int:
    from emulator.vm import VMError, run_in_vm

    argv = [sys.executable, "-m", "sgemu"] + [a for a in sys.argv[1:] if a != "--vm"]
    try:
        return run_in_vm(argv)
    except VMError as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return EXIT_CAPABILITY


def _check_bar(summary: dict, bar_pct: float | None) -> int:
    """``--check PCT``: exit 1 when a pair's agreement (RTT with shaping, path without) is below PCT %
    or it lost every request."""
    if bar_pct is None:
        return 0
    failed = []
    for pair, p in summary["pairs"].items():
        key = "agree_pct" if p.get("rtt_emulated", True) else "path_agree_pct"
        value = p.get(key)
        if p.get("received", 0) == 0 or value is None or value < bar_pct:
            failed.append(f"{pair} {key.replace('_pct', '')} "
                          f"{'-' if value is None else f'{value:.1f}'} % (received {p.get('received', 0)})")
    if summary.get("interrupted"):
        failed.append("the run was interrupted")
    if failed:
        print(f"sgemu: check failed (bar {bar_pct:g} %): " + "; ".join(failed), file=sys.stderr)
        return EXIT_RUNTIME
    print(f"check passed: every pair at or above {bar_pct:g} %")
    return 0


def _print_run_summary(s: dict) -> None:
    from rich.console import Console

    console = Console(width=max(shutil.get_terminal_size((120, 24)).columns, 120))
    console.print(_pairs_table(s))
    if s.get("throughput"):
        console.print(_throughput_table(s))
    console.print(change_table(s))
    if not _delay_emulated(s):
        what = "link delays and capacities were" if s["shaping"] == "none" else "link delays were (rates only, TBF)"
        print(f"shaping {s['shaping']}: {what} not emulated, so measured RTTs are the host's own; "
              "pairs are judged by reachability and by traceroute paths against the predicted ones")
    if s.get("netem_offset") in ("measured", "fixed"):
        print(f"netem delays configured {s['netem_offset_ms']:.3f} ms below the model per hop "
              f"({s['netem_offset']}: the platform's own lateness per netem traversal)")
    if s.get("ospf"):
        _print_ospf(s["ospf"])
        if s.get("bgp"):
            _print_bgp(s["bgp"])
    if s.get("cluster"):
        console.print(_hosts_table(s["cluster"]))
    c = s["clock"]
    kept = "kept up" if c.get("kept_up") else f"FELL BEHIND on {c.get('steps_behind')} steps"
    print(f"build {s['build_s']:.1f} s; per-step apply mean {c.get('apply_ms_mean', 0):.1f} ms, "
          f"max {c.get('apply_ms_max', 0):.1f} ms, lateness max {c.get('late_ms_max', 0):.1f} ms: {kept}")


def _hosts_table(c: dict):
    """Per cluster host: nodes, steps applied, lateness and apply time."""
    from rich.table import Table

    t = Table(title=f"cluster {c['address']}: {len(c['hosts'])} hosts, {c['cross_host_links']} cross-host links")
    for col in ("host", "nodes", "steps", "late ms mean/max", "apply ms mean/max"):
        t.add_column(col, justify="right")
    for h in c["hosts"]:
        t.add_row(h["host"], str(h["nodes"]), str(h["steps"]), f"{h['late_ms_mean']:.1f}/{h['late_ms_max']:.1f}",
                  f"{h['apply_ms_mean']:.1f}/{h['apply_ms_max']:.1f}")
    return t


def _delay_emulated(s: dict) -> bool:
    return s.get("delay_emulated", s["shaping"] == "netem")


def _pairs_table(s: dict):
    from rich.table import Table

    shaped = _delay_emulated(s)
    t = Table(title=f"measured vs predicted ({s['nodes']} nodes, {s['steps']} steps, speed {s['speed']:g}x, "
                    f"shaping {s['shaping']})")
    cols = ["pair", "sent", "loss %", "measured ms min/mean/max", "predicted ms min/mean/max",
            "RTT agree %" if shaped else "RTT agree", "path agree %", "path changes"]
    for col in cols:
        t.add_column(col, justify="right")
    f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for pair, p in s["pairs"].items():
        checks = p.get("path_checks") or 0
        t.add_row(pair, str(p["sent"]), f(p["loss_pct"]),
                  f"{f(p['measured_ms_min'])}/{f(p['measured_ms_mean'])}/{f(p['measured_ms_max'])}",
                  f"{f(p['predicted_ms_min'])}/{f(p['predicted_ms_mean'])}/{f(p['predicted_ms_max'])}",
                  f(p["agree_pct"]) if shaped else "n/a (not emulated)",
                  f"{f(p.get('path_agree_pct'))} of {checks}" if checks else "-", str(p["path_changes"]))
    return t


def _throughput_table(s: dict):
    from rich.table import Table

    t = Table(title="iperf3 throughput")
    for col in ("pair", "protocol", "intervals", "Mbit/s mean", "min", "max", "UDP loss % mean"):
        t.add_column(col, justify="right")
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for pair, v in s["throughput"].items():
        t.add_row(pair, v["protocol"], str(v["intervals"]), f(v["mbps_mean"]), f(v["mbps_min"]), f(v["mbps_max"]),
                  f(v["lost_pct_mean"]))
    return t


def _print_bgp(b: dict) -> None:
    ground = "; ".join(f"AS {asn}: {', '.join(names)}" for asn, names in b["ground_ases"].items())
    print(f"BGP: space AS {b['space_as']} (route reflectors {', '.join(b['route_reflectors']) or 'none'}); {ground}")
    for when in ("start", "end"):
        n = b.get(f"sessions_at_{when}")
        if n:
            print(f"  sessions established at the {when}: eBGP {n['ebgp_established']} of {n['ebgp_links_up']} "
                  f"over links up, iBGP {n['ibgp_established']} of {n['ibgp']}")


def _print_ospf(o: dict) -> None:
    name = {"ospf": "OSPF", "isis": "IS-IS"}.get(o.get("protocol"), "OSPF")
    print(f"{name} ({o.get('links', 'numbered')} links): FRR started in {o['start_s']:.1f} s, "
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
    """``sgemu cli``: the network at one instant (:class:`sgemu.Emulation`) under Mininet's CLI."""
    from mininet.cli import CLI

    from .api import Emulation, Scenario

    scen = scenario_from_args(args)
    if not 0 <= args.time <= scen.axis.duration_s:
        raise UsageError(f"--time: {args.time:g} s is outside the run (0 to {scen.axis.duration_s:g} s)")
    bar = (lambda label, total: progress_bar(label, total, args.quiet))
    with Emulation(Scenario(scen), shaping="none" if args.no_netem else "netem", start_s=args.time,
                   quiet=args.quiet, progress=bar, log=print) as emu:
        stations = [n for n, l in zip(emu.series.node_names, emu.series.node_layer) if l == "GROUND"]
        print("nodes are Mininet hosts; station addresses: "
              + ", ".join(f"{n}={emu.network.address(n)}" for n in stations))
        if len(stations) >= 2:
            print(f"examples: {stations[0]} ping -c 3 {stations[1]}    "
                  f"{stations[0]} traceroute -n {emu.network.address(stations[1])}")
        CLI(emu.network.net)
    return 0


def cmd_clean(args) -> int:
    _need_root("clean")
    from emulator.cleanup import clean

    counts = clean(force=args.force)
    print(f"removed {counts['namespaces']} namespace(s), killed {counts['processes']} process(es), "
          f"removed {counts['frr_dirs']} FRR run directories"
          + (f", {counts['agent_dirs']} cluster agent directories" if counts.get("agent_dirs") else ""))
    if counts["live"]:
        print(f"left alone: live run(s) {', '.join(counts['live'])} (their sgemu process is running; --force to remove)")
    return 0
