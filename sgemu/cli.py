"""The ``sgemu`` command: one subcommand per job, one-line errors, exit code 2 for bad input.

Subcommands live in small modules (:mod:`sgemu.cmd_topology`, ...), each
with ``register(subparsers)`` adding its parsers and binding ``func``.
"""

from __future__ import annotations

import argparse
import sys

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


def scenario_from_args(args):
    from .scenario import load_scenario

    scen = load_scenario(args.scenario)
    if getattr(args, "start", None) or getattr(args, "duration", None) is not None or getattr(args, "step", None) is not None:
        scen = scen.with_overrides(args.start, args.duration, args.step)
    return scen


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, UsageError) as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sgemu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
