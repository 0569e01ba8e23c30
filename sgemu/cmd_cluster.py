"""``sgemu cluster local up N | down | list``: a Ray cluster of network namespaces on this machine.

For tests and for trying the cluster layer without several machines
(:mod:`emulator.cluster.local`).  ``up`` prints the Ray address to give to
``--cluster``; ``down`` stops only the processes that cluster started.
"""

from __future__ import annotations

import sys

from .cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("cluster", help="a Ray cluster of N host namespaces on this machine (tests, trials)")
    csub = p.add_subparsers(dest="cluster_command", metavar="WHERE", required=True)
    lp = csub.add_parser("local", help="a cluster on this machine: up N | down | list")
    lsub = lp.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = lsub.add_parser("up", help="N host namespaces on a bridge, a Ray head and one Ray worker per host")
    up.add_argument("n", type=int, metavar="N", help="number of hosts (1..32)")
    up.add_argument("--tag", help="six hex digits naming the cluster (default: random)")
    up.add_argument("--quiet", "-q", action="store_true")
    up.set_defaults(func=cmd_up)
    down = lsub.add_parser("down", help="stop that cluster's Ray processes (by pid) and remove its namespaces")
    down.add_argument("--tag", help="which cluster (needed when several are up)")
    down.add_argument("--quiet", "-q", action="store_true")
    down.set_defaults(func=cmd_down)
    ls = lsub.add_parser("list", help="the local clusters that are up, with their Ray addresses")
    ls.set_defaults(func=cmd_list)


def _root() -> None:
    import os

    if os.geteuid() != 0:
        print("sgemu: a local cluster needs root (network namespaces); run with sudo", file=sys.stderr)
        raise SystemExit(3)


def cmd_up(args) -> int:
    from emulator.cluster import local

    _root()
    done = [0]

    def progress(n):
        done[0] += n
        if not args.quiet:
            print(f"  ray node {done[0]}/{args.n + 1} started", file=sys.stderr)

    try:
        c = local.up(args.n, tag=args.tag, progress=progress)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except local.ClusterError as exc:
        print(f"sgemu: error: {exc}", file=sys.stderr)
        return 1
    hosts = ", ".join(f"{h['ns']} ({h['ip']})" for h in c.hosts)
    print(f"cluster {c.tag} up: Ray address {c.address}; hosts {hosts}")
    print(f"use: --cluster {c.address}; stop: sgemu cluster local down --tag {c.tag}")
    return 0


def cmd_down(args) -> int:
    from emulator.cluster import local

    _root()
    try:
        r = local.down(args.tag)
    except local.ClusterError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        print(f"cluster down: {r['processes']} process(es) stopped, {r['hosts']} host namespace(s) removed")
    return 0


def cmd_list(args) -> int:
    from emulator.cluster import local

    tags = sorted(p.stem for p in local.STATE_DIR.glob("*.json")) if local.STATE_DIR.is_dir() else []
    for tag in tags:
        c = local.LocalCluster.load(tag)
        print(f"{c.tag}  {c.address}  {len(c.hosts)} host(s)")
    if not tags:
        print("no local cluster is up")
    return 0
