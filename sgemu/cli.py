"""The ``sgemu`` command: one subcommand per job, one-line errors, exit code 2 for bad input.

Subcommands live in small modules (:mod:`sgemu.cmd_topology`, ...), each
with ``register(subparsers)`` adding its parsers and binding ``func``.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import CapabilityError
from .schema import ScenarioError


class UsageError(Exception):
    """Bad input found by a command (unknown node, time outside the run, ...): exit 2."""


def add_scenario_args(p: argparse.ArgumentParser, times: bool = True) -> None:
    """The arguments every scenario-driven command shares."""
    p.add_argument("scenario", nargs="?", help="scenario YAML (default: the built-in default scenario)")
    if times:
        p.add_argument("--start", help="override the start time (ISO 8601 UTC)")
        p.add_argument("--duration", type=float, metavar="S", help="override duration_s")
        p.add_argument("--step", type=float, metavar="S", help="override step_s")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or tables")
    p.add_argument("--no-size-check", action="store_true",
                   help="skip the size guard that refuses jobs estimated not to fit this machine "
                        "(also SGEMU_NO_SIZE_CHECK=1)")


#: Commands whose job is sized before it starts (sgemu.limits), and those of them that build a live network.
SIZED_COMMANDS = ("links", "route", "routes", "run", "cli")
LIVE_COMMANDS = ("run", "cli")


def scenario_from_args(args):
    """The checked scenario with --start/--duration/--step applied; for the commands in
    :data:`SIZED_COMMANDS` also the size guard and the --out directory check, before any work."""
    from .scenario import load_scenario

    scen = load_scenario(args.scenario)
    if getattr(args, "start", None) or getattr(args, "duration", None) is not None or getattr(args, "step", None) is not None:
        scen = scen.with_overrides(args.start, args.duration, args.step)
    command = getattr(args, "command", None)
    if command in SIZED_COMMANDS:
        from . import limits

        if getattr(args, "no_size_check", False):  # also for the checks the API makes later, and inside --vm
            os.environ[limits.OVERRIDE_ENV] = "1"
        routing = getattr(args, "routing", None) or (scen.emulation or {}).get("routing", "static")
        bgp = bool((scen.emulation or {}).get("bgp")) and not getattr(args, "no_bgp", False)
        est = limits.check(scen, live_=command in LIVE_COMMANDS, routing=str(routing), bgp=bgp,
                           override=getattr(args, "no_size_check", False),
                           log=None if getattr(args, "quiet", False) else print)
        if getattr(args, "out", None) is not None:
            limits.check_out_dir(args.out, "--out", need_bytes=est.series_bytes / 2)
    return scen


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about the input (sgemu.schema.ScenarioWarning) as one line on stderr."""
    print(f"sgemu: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__, cmd_topology

    parser = argparse.ArgumentParser(
        prog="sgemu",
        description="Emulate integrated space-ground networks: BeiDou GEO/IGSO/MEO + LEO + ground stations.",
    )
    parser.add_argument("--version", action="version", version=f"sgemu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules(cmd_topology):
        module.register(sub)
    return parser


def _command_modules(*always):
    mods = list(always)
    import importlib

    for name in ("sgemu.cmd_emulate", "sgemu.cmd_compare", "sgemu.cmd_plots", "sgemu.cmd_cluster",
                 "sgemu.cmd_view"):
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return mods


def main(argv: list[str] | None = None) -> int:
    import warnings

    from .schema import ScenarioWarning

    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _warning_line
    warnings.simplefilter("always", ScenarioWarning)
    try:
        from emulator.namespaces import RunTagError, check_run_tag

        if os.environ.get("SGEMU_RUN_TAG"):
            check_run_tag(os.environ["SGEMU_RUN_TAG"])
    except RunTagError as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, UsageError) as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return 2
    except CapabilityError as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("sgemu: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file sgemu had to write or read failed (full disk, permissions): one line
        where = f" {exc.filename}" if exc.filename else ""
        print(f"sgemu: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
