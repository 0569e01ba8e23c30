"""OSPF or IS-IS on the live network: FRR's zebra and ospfd (or isisd) inside every node's namespace.

With ``EmulatedNetwork(series, routing="none")`` the kernel holds links and
addresses but no routes.  This module lets a real routing protocol find
them instead of the predicted shortest paths: each node runs FRR's
``ospfd`` (OSPFv2: hellos, adjacencies, link-state flooding, Dijkstra) and
``zebra`` (which hands ospfd the node's interfaces and writes ospfd's
routes into the kernel, protocol ``ospf`` = 188).  Link costs follow the
link delays, ``cost = max(1, round(10 * delay_ms))``, so OSPF prefers the
same delay-shortest paths that :mod:`topologies.routing` predicts, to
within 0.1 ms.

The pieces, from pure text to processes:

- :func:`ospf_config` writes one node's ``frr.conf`` (FRR's *integrated*
  configuration: one file for all daemons); :func:`check_config` has FRR's
  own parser (``vtysh --dryrun``) judge it.
- :class:`FrrNode` runs zebra and ospfd of one node, changes interface
  costs at run time and reads the routes back from the kernel.
- :class:`OspfPlan` derives every node's interfaces, costs and areas from
  a :class:`~topologies.series.LinkSeries` (pure).
- :class:`FrrNetwork` runs FRR on every node of an
  :class:`~emulator.network.EmulatedNetwork` following a plan, keeps the
  costs in step with the delays, and stops everything again (also when
  starting fails).

How one node's daemons are started (Debian 12, FRR 8.4), with ``<ns>`` the
node's namespace name ``sgemu-<run>-<node>``::

    ip netns exec <ns> /usr/lib/frr/zebra -N <ns> -f /dev/null \
        -P 0 --limit-fds 1024 --log stdout --log-level info     >> <log_dir>/<node>/zebra.log 2>&1
    ip netns exec <ns> /usr/lib/frr/ospfd -N <ns> -f /var/run/frr/<ns>/frr.conf \
        -P 0 --limit-fds 1024 --log stdout --log-level info     >> <log_dir>/<node>/ospfd.log 2>&1
    vtysh --vty_socket /var/run/frr/<ns> -d ospfd -c 'configure terminal' -c 'interface sl3' -c 'ip ospf cost 120'

(at run time the emulator sends those cost commands over a persistent
session with ``/var/run/frr/<ns>/ospfd.vty``, :mod:`emulator.frrvty`).

Why each flag, and the traps behind them:

- ``-N <ns>`` (*pathspace*) moves the pid files, the vty sockets and
  zebra's API socket ``zserv.api`` into ``/var/run/frr/<ns>/``, so hundreds
  of zebra/ospfd pairs on one machine never meet; ospfd finds its own
  zebra there without ``-z``.  The pid files are locked, so a second daemon
  with the same pathspace refuses to start.
- The daemons drop root and run as user ``frr``, keeping only the
  capabilities they need.  They cannot be run as root instead (``-u root``
  fails: root is not in the ``frrvty`` group Debian's build requires), so
  every file a daemon opens must be readable by ``frr``.  ``frr.conf``
  therefore lives in the frr-owned pathspace directory, and the logs are
  written to *stdout*, which this process opens as root: any log
  directory works, even a pytest ``tmp_path`` whose parents are mode 0700.
- Only ospfd reads ``frr.conf``.  zebra needs nothing from it here: the
  emulator itself sets the links and addresses over netlink and zebra
  learns them from the kernel.  Fed the integrated file, zebra would log a
  "No such command" error for every ``ip ospf`` line.
- zebra must be up before ospfd starts: an ospfd that finds no
  ``zserv.api`` retries only after several seconds, and until then knows
  no interfaces.  :class:`FrrNetwork` starts all zebras, waits for their
  vty sockets, then starts all ospfds.
- ``-P 0`` turns off the telnet vty (TCP ports 2601/2604 in every
  namespace); vtysh talks to the unix sockets.  ``--limit-fds`` keeps the
  daemons' fd tables small: they size them from ``RLIMIT_NOFILE``, which
  the emulator raises to the hard limit for its own netlink sockets
  (measured: 23.4 MiB per node at 1,024, 25.4 MiB at 20,000).
- ``ospfd`` dry runs (``ospfd -C``) print errors but exit 0; ``vtysh -C``
  knows every daemon's commands and exits non-zero, so it is the check.
- ospfd keeps a graceful-restart file, ``/var/run/frr/ospfd-gr.json``,
  outside the pathspace; all instances share it.  Harmless: nothing here
  uses graceful restart.

A link must exist before its addresses do.  zebra 8.4 reads interfaces on
its main thread and addresses on its dataplane thread; an address that
reaches the main thread before its interface has is dropped (only a debug
log says so), and ospfd never runs on that link.  A busy zebra makes that
happen: now and then at 500 nodes on two cores, every time in a test that
keeps zebra answering a large ``show ip route json`` while a link appears.
The emulator therefore creates links a step before they first come up and
adds the addresses when they do (``EmulatedNetwork(create_ahead=True)``),
and :meth:`FrrNetwork.repair_new_links` readdresses any end that still
ended up without OSPF.

A link that goes down in the emulator (``apply_step`` sets both veth ends
down) is seen by zebra at once, so OSPF reroutes in well under the dead
interval; the dead interval only bounds links that fail silently.

IS-IS (``FrrNetwork(net, log_dir, protocol="isis")``) runs isisd in place
of ospfd, started, checked, stopped and repaired the same way, with the
same costs (``isis metric``, wide metrics) and the same stations kept from
transit: :func:`isis_config` and :class:`IsisPlan` are the IS-IS twins of
:func:`ospf_config` and :class:`OspfPlan`.  Every node is a level-2-only
router of area 49.0001, its system ID the digits of its loopback.  isisd
sends and receives over a packet socket per circuit, so the multicast
membership limit below does not apply; its routes are kernel protocol 187.
FRR 8.4 regenerates an LSP at most once per ``lsp-gen-interval`` of at
least one second (OSPF's ``fast`` profile: 100 ms), which is most of the
difference between the two protocols' convergence (docs/ospf.md).

All FRR processes (daemons, vtysh) run in process groups of their own: a
Ctrl-C at the terminal reaches the emulator only, which then stops them
in order (issue 11).
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import addressing as addr

__all__ = [
    "FrrConfigError", "FrrError", "FrrNetwork", "FrrNode", "IsisPlan", "OspfInterface", "OspfPlan",
    "NO_TRANSIT_COST", "PROTOCOLS", "RTPROT_ISIS", "RTPROT_OSPF", "check_config", "check_configs", "cost_from_delay",
    "frr_missing", "isis_config", "isis_system_id", "ospf_config", "start_timeout_s",
]

FRR_SBIN = Path("/usr/lib/frr")
FRR_STATE_DIR = Path("/var/run/frr")
FRR_USER = "frr"
VTYSH = "vtysh"
RTPROT_OSPF = 188            # the kernel's protocol number for routes zebra installs for ospfd
RTPROT_ISIS = 187            # ... and for isisd
#: The routing protocols FRR can run in the nodes: protocol -> (daemon, kernel route protocol number).
PROTOCOLS = {"ospf": ("ospfd", RTPROT_OSPF), "isis": ("isisd", RTPROT_ISIS)}
ISIS_AREA = "49.0001"        # every node is a level-2-only router in this one (private) IS-IS area
ISIS_TAG = "sgemu"           # the IS-IS process tag (FRR's "router isis <tag>")
ISIS_CSNP_INTERVAL_S = 10    # FRR's default; 1 s made the 86 isisds of the default scenario use 2.3x the CPU
MAX_COST = 65535             # OSPF interface costs are 16-bit
NO_TRANSIT_COST = 50000      # added to every outgoing cost of a node that must not carry transit
BACKBONE = "0.0.0.0"
# ``areas: per-layer``: the LEO layer is area 1; BeiDou's MEO/IGSO/GEO crosslinks, the stations and every link
# between layers form the backbone.  Giving each BDS layer its own area too would cut the backbone into
# islands (it would be only the inter-layer and ground links), and OSPF routes nothing across a split backbone.
PER_LAYER_AREAS = {"LEO": "0.0.0.1"}

#: OSPF timer profiles (keyword arguments of :class:`OspfPlan`).  ``fast`` follows a moving network
#: within about a second: hello 1 s / dead 4 s, SPF right after a change (hold 50 ms doubling to 1 s),
#: LSAs re-originated at most every 100 ms.  ``large`` is for hundreds of routers on a few cores,
#: where ``fast`` makes every change a storm of SPF runs and a busy CPU misses hellos: hello 2 s /
#: dead 10 s, SPF 200 ms after a change holding 1-10 s, LSAs at most every second, copies accepted
#: 500 ms apart.  ``timer_profile("auto", n)`` picks ``large`` above :data:`LARGE_NETWORK_NODES`
#: (:data:`LARGE_NETWORK_NODES_EMULATED` on a software-emulated CPU).
TIMER_PROFILES = {
    "fast": dict(hello_s=1, dead_s=4, retransmit_s=1, lsa_interval_ms=100, lsa_arrival_ms=0, spf_ms=(0, 50, 1000)),
    "large": dict(hello_s=2, dead_s=10, retransmit_s=3, lsa_interval_ms=1000, lsa_arrival_ms=500,
                  spf_ms=(200, 1000, 10000)),
}
LARGE_NETWORK_NODES = 200
LARGE_NETWORK_NODES_EMULATED = 8  # the same load on a CPU ~30x slower (QEMU without KVM)


#: Niceness of every FRR daemon.  Hundreds of daemons can keep both CPUs of a small machine
#: busy (500 nodes: load ~300 while they start); at the default niceness the emulator's clock
#: then applies steps seconds late and the route watch needs a minute per read of all tables.
#: Niced daemons keep their shares among themselves and yield to the emulator and the
#: experiments' tools (which share its scheduling autogroup: :meth:`FrrNode.launch`).
DAEMON_NICE = 19


def start_timeout_s(n_nodes: int) -> float:
    """How long the daemons of one kind (all zebras, then all ospfds) may take to open their vty sockets.

    Natively 500 ospfds need 18-46 s on two cores; inside the software-emulated
    test VM everything is some 30 times slower (86 ospfds: over 30 s).  Daemons
    that exit are reported at once, so this only bounds a hang: 60 s plus 2 s
    per node."""
    return 60.0 + 2.0 * n_nodes


def timer_profile(name: str, n_nodes: int, emulated_cpu: bool = False) -> dict:
    """The :data:`TIMER_PROFILES` entry called ``name`` as a new dict.

    ``"auto"`` picks by network size: ``large`` above :data:`LARGE_NETWORK_NODES`
    nodes, or above :data:`LARGE_NETWORK_NODES_EMULATED` when the CPU is
    software-emulated (``emulated_cpu``: inside sgemu's VM without KVM,
    :func:`emulator.vm.software_emulated` says so).  There every process runs some 30
    times slower: with the ``fast`` timers the 86-node default scenario lost
    224 adjacencies to the 4 s dead interval in 60 s (tasks "ran for 7847ms
    (cpu time 115ms)") and its routes were never all right; with ``large``
    it lost none."""
    if name == "auto":
        limit = LARGE_NETWORK_NODES_EMULATED if emulated_cpu else LARGE_NETWORK_NODES
        name = "large" if n_nodes > limit else "fast"
    if name not in TIMER_PROFILES:
        raise ValueError(f"OSPF timers {name!r}; accepted: auto, {', '.join(TIMER_PROFILES)}")
    return dict(TIMER_PROFILES[name])
_SUN_PATH_MAX = 107          # unix socket paths: 108 bytes with the trailing NUL


class FrrError(RuntimeError):
    """An FRR daemon or vtysh failed; the message carries FRR's own words."""


class FrrConfigError(FrrError, ValueError):
    """FRR's parser rejected a configuration."""


def frr_missing(protocol: str = "ospf", bgp: bool = False) -> str | None:
    """Why FRR cannot run ``protocol`` (and bgpd, with ``bgp``) here (None when it can): binaries, user, root."""
    for exe in (FRR_SBIN / "zebra", FRR_SBIN / PROTOCOLS[protocol][0], *([FRR_SBIN / "bgpd"] if bgp else [])):
        if not os.access(exe, os.X_OK):
            return f"{exe} not found (install Debian's frr package)"
    if shutil.which(VTYSH) is None:
        return "vtysh not found (install Debian's frr package)"
    try:
        pwd.getpwnam(FRR_USER)
    except KeyError:
        return f"no user {FRR_USER!r}: FRR's daemons drop root to it"
    if os.geteuid() != 0:
        return "needs root (network namespaces, FRR daemons)"
    return None


# -- configuration text ---------------------------------------------------------


def cost_from_delay(delay_ms) -> np.ndarray:
    """OSPF cost of links with one-way delay ``delay_ms``: 10 per ms, at least 1.

    Works on scalars and arrays; capped at 65535 (6.5 s, far above any orbit).
    """
    return np.clip(np.rint(np.asarray(delay_ms, dtype=float) * 10.0), 1, MAX_COST).astype(np.int64)


@dataclass(frozen=True)
class OspfInterface:
    """One OSPF-speaking interface of a node: its name, outgoing cost and area."""

    ifname: str
    cost: int
    area: str | None = None   # None: the node's default area


def area_id(text: str) -> str:
    """An OSPF area ID in dotted form (an integer is accepted and converted)."""
    try:
        return str(ipaddress.IPv4Address(int(text) if str(text).isdigit() else text))
    except (ValueError, ipaddress.AddressValueError):
        raise ValueError(f"bad OSPF area {text!r}: use dotted form like 0.0.0.1") from None


def ospf_config(node_name: str, router_id: str, interfaces: Iterable, loopback_ip: str,
                hello_s: int = 10, dead_s: int = 40, area: str = BACKBONE, *,
                retransmit_s: int = 1, log_file: str | None = None, unnumbered: bool = False,
                lsa_interval_ms: int = 100, lsa_arrival_ms: int = 0,
                spf_ms: tuple[int, int, int] = (0, 50, 1000)) -> str:
    """``frr.conf`` text that makes one node an OSPFv2 router.

    ``interfaces`` are :class:`OspfInterface` or ``(ifname, cost)`` /
    ``(ifname, cost, area)`` tuples.  Every one is a point-to-point network
    (no DR election, no wait timer: an adjacency forms after one hello
    exchange), with its own outgoing ``cost`` and the ``hello_s`` /
    ``dead_s`` timers.  The loopback's ``loopback_ip`` /32 is advertised
    as a passive stub, and only that address: ``127.0.0.1/8`` on the same
    interface stays out of OSPF.

    ``area`` holds the loopback and every interface that names none, so
    per-layer areas are a matter of giving interfaces their own.

    ``unnumbered=True`` runs OSPF on each interface's copy of the loopback
    /32 only (the network must have put it there:
    ``EmulatedNetwork(loopback_on_links=True)``), leaving the link's /31
    out.  The router LSA then carries one entry per link instead of two (a
    point-to-point link plus a stub for its /31), and every router installs
    one route per node instead of one per node and per link: 500 nodes
    with 1,419 links make 499 routes instead of 1,918.  Routes point at
    the neighbour's loopback (``via 10.128.0.7 dev sl12 onlink``).

    Adjacencies going Full or Down are logged with millisecond timestamps.
    ``log_file`` adds a ``log file`` line; :class:`FrrNode` logs each
    daemon to its own file from the command line instead.

    The LSA and SPF timers are what make OSPF follow a moving network.
    FRR's defaults suit a stable one.  A router re-originates its LSA at
    most every 5 s (``timers throttle lsa all 5000``), and a neighbour
    discards any copy of an LSA that arrives within 1 s of the previous one
    (``timers lsa min-arrival 1000``).  When an adjacency comes up, the
    peer's LSA arrives twice within a millisecond (once in the database
    exchange, once re-originated with the new link); the second copy is
    dropped and only its retransmission 5-10 s later makes the route.
    Here a router re-originates at most every ``lsa_interval_ms``,
    neighbours accept copies ``lsa_arrival_ms`` apart (0: always; the
    origination throttle already bounds the rate), and SPF runs
    ``spf_ms = (delay, initial hold, maximum hold)`` after a change, the
    hold doubling while changes keep coming.  A 2-router adjacency then
    becomes a route in about one hello interval instead of 6-10 s.

    ``retransmit_s`` (FRR's default: 5 s) is how long a router waits for an
    acknowledgement before sending an LSA again.  While many adjacencies
    come up at once, updates sent to a neighbour that is not yet exchanging
    are dropped, and the retransmission is what delivers them: on the
    86-node default scenario the last route settles 6.3 s after the daemons
    are up with 5 s, 2.5 s with 1 s.
    """
    if not 1 <= hello_s <= 65535 or not 1 <= dead_s <= 65535:
        raise ValueError("hello and dead intervals are 1..65535 s")
    if dead_s <= hello_s:
        raise ValueError(f"dead interval {dead_s} s must exceed the hello interval {hello_s} s")
    if not 1 <= retransmit_s <= 65535:
        raise ValueError("the retransmit interval is 1..65535 s")
    ipaddress.IPv4Address(router_id), ipaddress.IPv4Address(loopback_ip)
    area = area_id(area)
    lines = [f"! {node_name}: OSPF (written by sgemu's emulator.frr)",
             f"hostname {node_name}",
             "log timestamp precision 3"]
    if log_file:
        lines.append(f"log file {log_file} informational")
    lines += ["!", "interface lo",
              f" ip ospf area {area} {loopback_ip}",
              f" ip ospf passive {loopback_ip}",
              "exit", "!"]
    for item in interfaces:
        itf = item if isinstance(item, OspfInterface) else OspfInterface(*item)
        if not 1 <= int(itf.cost) <= MAX_COST:
            raise ValueError(f"{itf.ifname}: OSPF cost {itf.cost} is outside 1..{MAX_COST}")
        on = f" {loopback_ip}" if unnumbered else ""
        lines += [f"interface {itf.ifname}",
                  f" ip ospf area {area_id(itf.area) if itf.area else area}{on}",
                  " ip ospf network point-to-point",
                  f" ip ospf cost {int(itf.cost)}",
                  f" ip ospf hello-interval {int(hello_s)}",
                  f" ip ospf dead-interval {int(dead_s)}",
                  f" ip ospf retransmit-interval {int(retransmit_s)}",
                  "exit", "!"]
    if lsa_arrival_ms >= lsa_interval_ms > 0:
        raise ValueError("lsa_arrival_ms must be below lsa_interval_ms, or neighbours drop every fresh LSA")
    delay, hold, max_hold = (int(x) for x in spf_ms)
    lines += ["router ospf",
              f" ospf router-id {router_id}",
              " log-adjacency-changes",
              f" timers throttle lsa all {int(lsa_interval_ms)}",
              f" timers lsa min-arrival {int(lsa_arrival_ms)}",
              f" timers throttle spf {delay} {hold} {max_hold}"]
    lines += ["exit", "!", ""]
    return "\n".join(lines)


def isis_zebra_config() -> str:
    """zebra's config with IS-IS: put only IS-IS's routes to loopbacks (/32s in 10.128.0.0/9) into the kernel.

    FRR 8.4's isisd advertises every address of every circuit (no
    ``advertise-passive-only``), so each node also learns a route to every
    link's /31: at 252 nodes 935 routes instead of the 251 OSPF installs
    with unnumbered links.  zebra keeps them in its RIB, but this
    ``ip protocol isis route-map`` keeps them out of the kernel, which is
    where zebra's data-plane thread spends its time (the overload OSPF
    showed at 500 nodes with its /31s advertised).  Neighbours' /31s stay
    reachable as connected routes; /31s further away are not routed, as
    with OSPF on unnumbered links."""
    loopbacks = f"{addr.loopback_ip(0).rsplit('.', 1)[0]}.0/9"
    return "\n".join(["! zebra with IS-IS (written by sgemu's emulator.frr)",
                      f"ip prefix-list sgemu-loopbacks seq 5 permit {loopbacks} ge 32",
                      "route-map sgemu-isis-fib permit 10",
                      " match ip address prefix-list sgemu-loopbacks",
                      "exit",
                      "ip protocol isis route-map sgemu-isis-fib", ""])


def isis_system_id(router_id: str) -> str:
    """The IS-IS system ID of the router with IPv4 ``router_id``: its four octets as 12 decimal digits,
    regrouped in fours (the usual convention: ``10.128.0.7`` -> ``0101.2800.0007``), so that system IDs
    are unique wherever loopbacks are."""
    digits = "".join(f"{int(o):03d}" for o in str(ipaddress.IPv4Address(router_id)).split("."))
    return ".".join(digits[i:i + 4] for i in range(0, 12, 4))


def isis_hello_multiplier(hello_s: int, dead_s: int) -> int:
    """IS-IS's hold time is ``hello_s`` times a multiplier (2..100): the one that makes it ``dead_s``
    (rounded up to a whole number of hellos)."""
    if not 1 <= hello_s <= 600:
        raise ValueError(f"IS-IS hello interval {hello_s} s is outside 1..600 s")
    if dead_s <= hello_s:
        raise ValueError(f"dead interval {dead_s} s must exceed the hello interval {hello_s} s")
    mult = -(-int(dead_s) // int(hello_s))
    if mult > 100:
        raise ValueError(f"IS-IS holds an adjacency at most 100 hellos: dead interval {dead_s} s is over "
                         f"100 x {hello_s} s")
    return max(2, mult)


def isis_config(node_name: str, router_id: str, interfaces: Iterable, hello_s: int = 10, dead_s: int = 40, *,
                retransmit_s: int = 1, lsa_interval_ms: int = 1000, lsa_arrival_ms: int = 0,
                spf_ms: tuple[int, int, int] = (0, 50, 1000), log_file: str | None = None) -> str:
    """``frr.conf`` text that makes one node an IS-IS router (level 2 only, one area, wide metrics).

    The IS-IS counterpart of :func:`ospf_config`, with the same arguments
    and the same cost model: ``interfaces`` are :class:`OspfInterface` or
    ``(ifname, metric)`` tuples (an area given there is ignored: all
    routers share area :data:`ISIS_AREA`); each is a point-to-point circuit
    with its own outgoing ``isis metric``.  The loopback is a passive
    circuit, so its address is advertised without hellos.  The system ID
    comes from ``router_id`` (:func:`isis_system_id`).

    IS-IS runs over the link layer (no IP subnet has to match between
    neighbours) and advertises every address of every circuit: the
    loopback /32, and the link /31s or, on unnumbered links, the copies of
    the loopback (FRR 8.4 has no ``advertise-passive-only``).  Routes point
    at the address the neighbour announces in its hellos.

    The OSPF timer keywords map onto IS-IS as closely as FRR 8.4 allows:

    - ``hello_s`` -> ``isis hello-interval``; ``dead_s`` -> the hold time
      ``hello-multiplier`` x ``hello_s`` (:func:`isis_hello_multiplier`).
    - ``lsa_interval_ms`` -> ``lsp-gen-interval``, rounded up to whole
      seconds, at least 1 s (isisd's floor; OSPF's ``fast`` profile
      re-originates every 100 ms).  A router that has not regenerated its
      LSP for that long does so 100 ms after a change.
    - ``spf_ms = (delay, hold, max_hold)`` -> RFC 8405 SPF back-off
      (``spf-delay-ietf``): ``delay`` after the first change, ``hold``
      while changes keep coming, ``max_hold`` once they have kept coming
      for ``max_hold`` ms, back to quiet after ``max_hold`` ms without one.
    - ``retransmit_s`` has no counterpart: FRR 8.4 sends an unacknowledged
      LSP again after a fixed 5 s on point-to-point circuits.  Behind that,
      every circuit sends a CSNP (a summary of the whole database, so a
      neighbour that missed an LSP asks for it by PSNP) every
      :data:`ISIS_CSNP_INTERVAL_S`; every second instead made the 86 isisds
      of the default scenario use 38 % of a core at rest instead of 16 %.
    - ``lsa_arrival_ms`` has no counterpart either (isisd takes every newer
      LSP).  Both are checked and accepted for the sake of the shared timer
      profiles.

    ``lsp-gen-interval`` comes first in the ``router isis`` block: FRR
    applies the lines in order, and ``is-type`` already schedules an LSP
    with the interval in force then (30 s by default), which would hold
    every initial route for half a minute.
    """
    mult = isis_hello_multiplier(int(hello_s), int(dead_s))
    if not 1 <= retransmit_s <= 65535:
        raise ValueError("the retransmit interval is 1..65535 s")
    gen_s = max(1, -(-int(lsa_interval_ms) // 1000))
    if gen_s > 120:
        raise ValueError(f"lsa_interval_ms {lsa_interval_ms}: IS-IS regenerates LSPs at most 120 s apart")
    delay, hold, max_hold = (int(x) for x in spf_ms)
    if not all(0 <= x <= 60000 for x in (delay, hold, max_hold)):
        raise ValueError(f"spf_ms {tuple(spf_ms)}: IS-IS SPF delays are 0..60000 ms")
    lines = [f"! {node_name}: IS-IS (written by sgemu's emulator.frr)",
             f"hostname {node_name}",
             "log timestamp precision 3"]
    if log_file:
        lines.append(f"log file {log_file} informational")
    lines += ["!", f"router isis {ISIS_TAG}",
              f" lsp-gen-interval {gen_s}",
              f" spf-delay-ietf init-delay {delay} short-delay {hold} long-delay {max_hold} "
              f"holddown {max_hold} time-to-learn {max_hold}",
              " is-type level-2-only",
              " metric-style wide",
              f" net {ISIS_AREA}.{isis_system_id(router_id)}.00",
              " log-adjacency-changes",
              "exit", "!",
              "interface lo", f" ip router isis {ISIS_TAG}", " isis passive", "exit", "!"]
    for item in interfaces:
        itf = item if isinstance(item, OspfInterface) else OspfInterface(*item)
        if not 1 <= int(itf.cost) <= MAX_COST:
            raise ValueError(f"{itf.ifname}: IS-IS metric {itf.cost} is outside 1..{MAX_COST}")
        lines += [f"interface {itf.ifname}",
                  f" ip router isis {ISIS_TAG}",
                  " isis network point-to-point",
                  f" isis metric {int(itf.cost)}",
                  f" isis hello-interval {int(hello_s)}",
                  f" isis hello-multiplier {mult}",
                  f" isis csnp-interval {ISIS_CSNP_INTERVAL_S}",
                  " isis psnp-interval 1",
                  "exit", "!"]
    return "\n".join(lines + [""])


def check_config(path) -> None:
    """Have FRR's own parser check a ``frr.conf``; raise :class:`FrrConfigError` with its message.

    ``vtysh --dryrun`` knows the commands of every daemon, prints each line
    it rejects (``line 7: % Unknown command[17]:  ip ospf cost 0``) and
    exits non-zero; ``ospfd --dryrun`` only logs them and exits 0.  It
    checks syntax and ranges, not meaning: a dead interval shorter than the
    hello interval passes here, which is why :func:`ospf_config` checks it.
    """
    check_configs([path])


def check_configs(paths: Sequence, parallel: int = 16) -> None:
    """:func:`check_config` for many files, ``parallel`` vtysh processes at a time."""
    paths = [str(p) for p in paths]
    results = _run_all([[VTYSH, "--dryrun", "--inputfile", p] for p in paths], parallel)
    errors = [f"{p}: {(err or out).strip() or f'vtysh exited {rc}'}"
              for p, (rc, out, err) in zip(paths, results) if rc != 0]
    if errors:
        raise FrrConfigError("FRR rejected the configuration:\n" + "\n".join(errors))


def _run_all(argvs: Sequence[Sequence[str]], parallel: int = 16,
             timeout_s: float = 60.0) -> list[tuple[int, str, str]]:
    """Run short commands ``parallel`` at a time; (returncode, stdout, stderr) of each, in order.

    Each runs in a process group of its own (see :func:`_own_group`); if the wait is cut short (Ctrl-C,
    a timeout) the commands still running are killed, not left behind."""
    results = []
    for start in range(0, len(argvs), parallel):
        procs = []
        try:
            for a in argvs[start:start + parallel]:
                procs.append(subprocess.Popen(list(a), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, **_own_group()))
            for proc in procs:
                out, err = proc.communicate(timeout=timeout_s)
                results.append((proc.returncode, out, err))
        except BaseException:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            raise
    return results


def _own_group() -> dict:
    """``subprocess`` keywords that put a child in a process group of its own (issue 11).

    A Ctrl-C at the terminal signals the terminal's foreground process group.  Children left in the
    emulator's group would get it too, and die or misbehave before the emulator could tear down in order
    (a vtysh checking configs exits 130 and the start ended in "FRR rejected the configuration"; daemons
    would stop behind the emulator's back).  In their own group only the emulator hears it and stops
    them itself.  Not a session of their own: with the kernel's autogroup scheduling every session is
    scheduled as one unit whatever its niceness, so 1,000 daemons in 1,000 sessions would each get as
    much CPU as the emulator; in the emulator's session their niceness counts."""
    return {"process_group": 0}


# -- one node -------------------------------------------------------------------


class FrrNode:
    """zebra and the routing daemon of one node (ospfd, or isisd with ``protocol="isis"``), running
    inside its network namespace ``ns``.

    FRR's files for the node live in ``/var/run/frr/<ns>/`` (see the module
    docstring); the logs ``zebra.log``, ``ospfd.log`` (``isisd.log``) and a copy of
    ``frr.conf`` go to ``log_dir``.  ``ipr`` is an optional pyroute2 socket
    already bound to ``ns`` (the emulator's own), used to read routes.
    The daemons run at niceness ``nice`` (``nice -n`` before ``ip netns
    exec``; see :data:`DAEMON_NICE`).
    """

    DAEMONS = ("zebra", "ospfd")  # with OSPF; an instance's own are ``self.daemons``

    def __init__(self, ns: str, name: str, log_dir, ipr=None, limit_fds: int = 1024, nice: int = 0,
                 protocol: str = "ospf", bgp: bool = False):
        if protocol not in PROTOCOLS:
            raise ValueError(f"routing protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
        self.protocol = protocol
        self.daemon, self.rtprot = PROTOCOLS[protocol]  # the routing daemon, its kernel route protocol
        self.daemons = ("zebra", self.daemon) + (("bgpd",) if bgp else ())  # bgp: emulator.bgp
        self.ns, self.name = ns, name
        self.nice = int(nice)
        self.log_dir = Path(log_dir)
        self.run_dir = FRR_STATE_DIR / ns
        self.config_path = self.run_dir / "frr.conf"
        self.zebra_config_path = self.run_dir / "zebra.conf"  # IS-IS (isis_zebra_config) and BGP (bgp_zebra_config)
        self.bgp_config_path = self.run_dir / "bgpd.conf"      # with bgp: emulator.bgp.bgp_config()
        self.limit_fds = limit_fds
        self.procs: dict[str, subprocess.Popen] = {}
        self._ipr = ipr
        self._vty = None  # persistent vty session with the routing daemon for cost changes (emulator.frrvty)
        if len(str(self.run_dir / "zserv.api")) > _SUN_PATH_MAX:
            raise ValueError(f"namespace name {ns!r} is too long for FRR's socket paths")

    def __repr__(self):
        return f"FrrNode({self.name!r}, running={sorted(self.running())})"

    # -- processes ---------------------------------------------------------------
    def argv(self, daemon: str) -> list[str]:
        """The command line that runs ``daemon`` in the node's namespace (foreground)."""
        config = str(self.bgp_config_path if daemon == "bgpd" else self.config_path)
        if daemon == "zebra":
            config = str(self.zebra_config_path) if self.zebra_config_path.exists() else "/dev/null"
        nice = ["nice", "-n", str(self.nice)] if self.nice else []
        return [*nice, "ip", "netns", "exec", self.ns, str(FRR_SBIN / daemon), "-N", self.ns, "-f", config,
                "-P", "0", "--limit-fds", str(self.limit_fds), "--log", "stdout", "--log-level", "info"]

    def write_config(self, text: str, bgp_text: str | None = None, zebra_text: str = "") -> None:
        """Put ``frr.conf`` where the routing daemon (user frr) can read it, and a copy next to the logs
        (``bgp_text``: bgpd's ``bgpd.conf`` likewise; ``zebra_text``: more of zebra's config, after
        IS-IS's own)."""
        if self.run_dir.exists():  # left by a killed run of the same name: its sockets would fool wait_ready
            shutil.rmtree(self.run_dir)
        user = pwd.getpwnam(FRR_USER)
        self.run_dir.mkdir(mode=0o755, parents=True)
        os.chown(self.run_dir, user.pw_uid, user.pw_gid)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        files = {self.config_path: text}
        zebra = (isis_zebra_config() if self.protocol == "isis" else "") + zebra_text
        if zebra:
            files[self.zebra_config_path] = zebra
        if bgp_text is not None:
            files[self.bgp_config_path] = bgp_text
        for path, content in files.items():
            path.write_text(content)
            os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(path, 0o640)
            (self.log_dir / path.name).write_text(content)

    def launch(self, daemon: str) -> None:
        """Start one daemon without waiting for it (see :meth:`wait_ready`)."""
        if daemon in self.procs and self.procs[daemon].poll() is None:
            raise FrrError(f"{self.name}: {daemon} is already running")
        # own process group: a Ctrl-C in the terminal reaches the emulator only, which then stops the
        # daemons (_own_group)
        with open(self.log_dir / f"{daemon}.log", "ab") as log:
            self.procs[daemon] = subprocess.Popen(self.argv(daemon), stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=subprocess.STDOUT, **_own_group())

    def wait_ready(self, daemon: str, timeout_s: float = 10.0) -> None:
        """Block until ``daemon`` accepts vtysh connections; raise (with its log) if it died or hangs.

        The daemon queues reading its config before it opens the socket, so
        commands sent from now on run after the config is in place.
        """
        sock = self.run_dir / f"{daemon}.vty"
        deadline = time.monotonic() + timeout_s
        while not sock.exists():
            proc = self.procs.get(daemon)
            if proc is None or proc.poll() is not None:
                raise FrrError(f"{self.name}: {daemon} exited ({proc.returncode if proc else 'never started'}): "
                               f"{self._log_tail(daemon)}")
            if time.monotonic() > deadline:
                raise FrrError(f"{self.name}: {daemon} not ready after {timeout_s} s: {self._log_tail(daemon)}")
            time.sleep(0.01)

    def start(self, config: str, timeout_s: float = 10.0, bgp_config: str | None = None) -> None:
        """Write ``config``, start zebra, wait for it, start the routing daemon (then bgpd), wait for it."""
        self.write_config(config, bgp_config)
        try:
            for daemon in self.daemons:
                self.launch(daemon)
                self.wait_ready(daemon, timeout_s)
        except BaseException:
            self.stop()
            raise

    def running(self) -> set[str]:
        return {d for d, p in self.procs.items() if p.poll() is None}

    def signal_stop(self) -> None:
        """Ask every daemon to exit (SIGTERM: zebra withdraws its routes) without waiting."""
        self.close_vty()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop both daemons (SIGTERM, then SIGKILL after ``timeout_s``) and remove the run directory."""
        self.signal_stop()
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _log_tail(self, daemon: str, lines: int = 5) -> str:
        try:
            text = (self.log_dir / f"{daemon}.log").read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def rss_kib(self) -> dict[str, int]:
        """Resident memory of each running daemon (KiB), from ``/proc/<pid>/status``."""
        out = {}
        for daemon, proc in self.procs.items():
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            out[daemon] = int(line.split()[1])
            except FileNotFoundError:
                continue
        return out

    def pss_kib(self) -> dict[str, int]:
        """Proportional memory of each running daemon (KiB): its private pages plus its share of
        pages it shares with other processes (libraries), from ``/proc/<pid>/smaps_rollup``.
        Summed over all daemons this is what they cost the machine, unlike summed RSS."""
        out = {}
        for daemon, proc in self.procs.items():
            try:
                with open(f"/proc/{proc.pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            out[daemon] = int(line.split()[1])
            except FileNotFoundError:
                continue
        return out

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) each running daemon has used, from ``/proc/<pid>/stat``."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for daemon, proc in self.procs.items():
            try:
                with open(f"/proc/{proc.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            out[daemon] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14, 15)
        return out

    #: What the routing daemon logs when an adjacency times out (FRR 8.4, with log-adjacency-changes).
    _EXPIRY = {"ospfd": "(InactivityTimer)", "isisd": "holding time expired"}

    def dead_interval_expiries(self) -> int:
        """How often one of this node's adjacencies went down because no hello came within the dead
        interval (ospfd logs "(InactivityTimer)", isisd "holding time expired").  The emulator sets links
        it cuts down at both ends, which the daemon sees at once, so this counts hellos that were lost: to
        a starved CPU, or on a link that stays up while it drops packets (a weather fade, a queue full
        under traffic)."""
        try:
            with open(self.log_dir / f"{self.daemon}.log", errors="replace") as f:
                return sum(self._EXPIRY[self.daemon] in line for line in f)
        except FileNotFoundError:
            return 0

    # -- talking to the daemons ------------------------------------------------------
    ROUTING = "routing"  # vtysh(daemon=ROUTING): the node's routing daemon (ospfd or isisd)

    def vtysh_argv(self, *commands: str, daemon: str | None = ROUTING) -> list[str]:
        """vtysh against this node's daemons only (its vty sockets), running ``commands`` in one session
        with ``daemon`` (default the routing daemon; None: every daemon)."""
        argv = [VTYSH, "--vty_socket", str(self.run_dir)]
        if daemon:
            argv += ["-d", self.daemon if daemon == self.ROUTING else daemon]
        for c in commands:
            argv += ["-c", c]
        return argv

    def vtysh(self, *commands: str, daemon: str | None = ROUTING, timeout_s: float = 30.0) -> str:
        """Run commands through vtysh; return its output, raise :class:`FrrError` on failure."""
        r = subprocess.run(self.vtysh_argv(*commands, daemon=daemon), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout_s, **_own_group())
        if r.returncode != 0:  # vtysh exits 1 on a rejected command, printing "% ..." on stdout
            raise FrrError(f"{self.name}: vtysh {' ; '.join(commands)}: {(r.stderr + r.stdout).strip()}")
        return r.stdout

    @staticmethod
    def cost_commands(costs: Mapping[str, int], protocol: str = "ospf") -> list[str]:
        """The vtysh commands that set each interface's outgoing cost (``ip ospf cost`` / ``isis metric``)."""
        command = {"ospf": "ip ospf cost", "isis": "isis metric"}[protocol]
        cmds = ["configure terminal"]
        for ifname, cost in costs.items():
            if not 1 <= int(cost) <= MAX_COST:
                raise ValueError(f"{ifname}: {protocol.upper()} cost {cost} is outside 1..{MAX_COST}")
            cmds += [f"interface {ifname}", f"{command} {int(cost)}", "exit"]
        return cmds + ["end"]

    def set_costs(self, costs: Mapping[str, int]) -> None:
        """Change several interfaces' outgoing OSPF cost (IS-IS metric) at once.

        The commands go over a persistent session with the routing daemon's vty socket
        (:class:`~emulator.frrvty.Vty`, ~0.05 ms per command) rather than a
        vtysh process (~30 ms each).
        """
        if costs:
            self._session(self.cost_commands(costs, self.protocol), f"setting {self.protocol.upper()} costs")

    def _session(self, cmds: Sequence[str], what: str) -> str:
        """Run commands over the persistent vty session with the routing daemon; raise :class:`FrrError`
        on refusal."""
        from .frrvty import Vty, VtyError

        try:
            if self._vty is None:
                self._vty = Vty(self.run_dir / f"{self.daemon}.vty")
                self._vty.command("enable")
            return self._vty.run(*cmds)
        except (OSError, VtyError) as exc:
            self.close_vty()  # a refused command leaves the session in config mode: start afresh next time
            raise FrrError(f"{self.name}: {what}: {exc}") from None

    def ospf_off(self, ifnames: Iterable[str]) -> list[str]:
        """The interfaces among ``ifnames`` on which the routing daemon does not route IPv4 now (or does
        not know yet).  ospfd says "OSPF not enabled" there; isisd lists no IPv4 prefix for the circuit
        (it advertises no address in its hellos, so the neighbour installs no route over it)."""
        if self.protocol == "isis":
            return [i for i in ifnames if not _isis_has_ipv4(
                self._session([f"show isis interface {i}"], "reading interfaces"), i)]
        return [i for i in ifnames
                if "OSPF not enabled" in self._session([f"show ip ospf interface {i}"], "reading interfaces")]

    protocol_off = ospf_off

    def close_vty(self) -> None:
        if self._vty is not None:
            self._vty.close()
            self._vty = None

    def set_cost(self, ifname: str, cost: int) -> None:
        """Change one interface's outgoing cost; the daemon floods a new router LSA (IS-IS: LSP)."""
        self.set_costs({ifname: cost})

    def full_neighbors(self) -> int:
        """How many neighbours are in state Full (OSPF: adjacencies complete) or Up (IS-IS)."""
        if self.protocol == "isis":
            return sum(1 for line in self.vtysh("show isis neighbor").splitlines() if re.search(r"\sUp\s", line))
        out = self.vtysh("show ip ospf neighbor")
        return sum(1 for line in out.splitlines() if "Full/" in line)

    def routes(self, proto: int | None = None) -> dict[str, list[tuple[str | None, str]]]:
        """The kernel's routes of the routing protocol (or of kernel protocol ``proto``: BGP's is 186) in the
        namespace:
        ``{"10.128.0.5/32": [(gateway, ifname), ...]}``.

        Read over netlink (routes with protocol 188 for OSPF, 187 for IS-IS),
        so this is what packets follow, not what the daemon believes.
        Equal-cost routes list every next hop.
        """
        from pyroute2 import NetNS

        ipr = self._ipr or NetNS(self.ns)
        try:
            names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
            routes: dict[str, list[tuple[str | None, str]]] = {}
            for r in ipr.get_routes(family=socket.AF_INET, proto=self.rtprot if proto is None else proto, table=254):
                dst = f"{r.get_attr('RTA_DST') or '0.0.0.0'}/{r['dst_len']}"
                hops = []
                multipath = r.get_attr("RTA_MULTIPATH")
                if multipath:
                    for nh in multipath:
                        hops.append((nh.get_attr("RTA_GATEWAY"), names.get(nh["oif"], str(nh["oif"]))))
                else:
                    oif = r.get_attr("RTA_OIF")
                    hops.append((r.get_attr("RTA_GATEWAY"), names.get(oif, str(oif))))
                routes[dst] = hops
            return routes
        finally:
            if self._ipr is None:
                ipr.close()

    ospf_routes = routes  # the name from before IS-IS


def _isis_has_ipv4(text: str, ifname: str) -> bool:
    """Whether ``show isis interface <ifname>`` output lists an IPv4 prefix for that circuit."""
    if f"Interface: {ifname}," not in text:
        return False
    block = text.split(f"Interface: {ifname},", 1)[1].split("Interface: ", 1)[0]
    prefixes = block.split("IP Prefix(es):", 1)[1] if "IP Prefix(es):" in block else ""
    return re.search(r"^\s+\d+\.\d+\.\d+\.\d+/\d+", prefixes, re.M) is not None


# -- the whole network ------------------------------------------------------------


class OspfPlan:
    """What every node of a link series should tell OSPF: interfaces, costs, areas (pure, no processes).

    Each node gets one interface per link it ever has in the series, so
    links that appear later are already configured (FRR keeps configuration
    for interfaces that do not exist yet).  ``costs="delay"`` sets each
    cost from the link's delay at a step (a link down then keeps the cost of
    its first step up); ``"hops"`` sets every cost to 1.

    With ``ground_transit=False`` ground stations do not forward, so no
    route may pass through one.  Their outgoing costs carry an extra
    :data:`NO_TRANSIT_COST` (50,000, i.e. 5,000 ms): a path that leaves a
    station it did not start at costs more than any real path, while the
    station's own choice among its uplinks still sees their delays (all
    its paths carry the same extra once).  OSPF's stub-router feature
    (RFC 6987, ``max-metric router-lsa``) looks made for this but is not
    usable here: it advertises *every* link of the station at 65,535, so
    the station's own SPF no longer sees its uplinks' delays, and Kashi
    picked a 70 ms MEO uplink over a 5 ms LEO one.

    ``layer_areas`` (optional) maps layer names to OSPF areas: a link
    between two nodes of the same layer joins that layer's area, every
    other link the backbone 0.0.0.0, and a node's loopback its layer's area.
    ``"per-layer"`` stands for :data:`PER_LAYER_AREAS` (LEO in area 1, the
    rest in the backbone), ``"single"`` (or None) for one backbone area.
    The backbone must stay connected; a mapping that splits it leaves some
    nodes without routes (and the route watch reports them).  With areas, OSPF prefers a path inside an
    area to a shorter one through the backbone (RFC 2328 16.2), so routes
    are no longer all delay-shortest.

    ``igp_links`` (bool, shape (link,); default all) are the links the
    protocol runs on: with BGP (:mod:`emulator.bgp`) only those inside one
    autonomous system.
    """

    def __init__(self, series, hello_s: int = 1, dead_s: int = 4, costs: str = "delay",
                 layer_areas: Mapping[str, str] | None = None, ground_transit: bool = False,
                 unnumbered: bool = False, igp_links=None, **timers):
        if costs not in ("delay", "hops"):
            raise ValueError(f"costs must be 'delay' or 'hops', not {costs!r}")
        self.series = series
        self.hello_s, self.dead_s, self.costs = hello_s, dead_s, costs
        if layer_areas == "per-layer":
            layer_areas = PER_LAYER_AREAS
        elif layer_areas in (None, "single"):
            layer_areas = {}
        elif not isinstance(layer_areas, Mapping):
            raise ValueError(f"layer_areas: 'single', 'per-layer' or a mapping layer -> area, not {layer_areas!r}")
        self.layer_areas = {str(k).upper(): area_id(v) for k, v in layer_areas.items()}
        self.ground_transit = ground_transit
        self.unnumbered = unnumbered
        self.igp_links = np.ones(series.n_links, bool) if igp_links is None else np.asarray(igp_links, bool)
        self.timers = timers  # retransmit_s, lsa_interval_ms, lsa_arrival_ms, spf_ms: see ospf_config

    def link_costs(self, k: int) -> dict[int, int]:
        """Cost of every link at step k (link -> cost)."""
        s = self.series
        if self.costs == "hops":
            return {l: 1 for l in range(s.n_links)}
        links, first = np.unique(s.link_id, return_index=True)
        out = dict(zip(links.tolist(), cost_from_delay(s.distance_km[first] * s.ms_per_km[links]).tolist()))
        ids, delay = s.active(k)
        out.update(zip(ids.tolist(), cost_from_delay(delay).tolist()))
        return out

    def link_area(self, link: int) -> str:
        s = self.series
        la, lb = s.node_layer[int(s.link_a[link])], s.node_layer[int(s.link_b[link])]
        return self.layer_areas.get(la, BACKBONE) if la == lb else BACKBONE

    def config(self, i: int, costs: Mapping[int, int]) -> str:
        """frr.conf of node i with the given link costs."""
        s = self.series
        links = self.links_of(i)
        interfaces = [OspfInterface(addr.ifname(l), self.interface_cost(i, costs.get(l, 1)), self.link_area(l))
                      for l in links]
        lo = addr.loopback_ip(i)
        return ospf_config(s.node_names[i], lo, interfaces, lo, self.hello_s, self.dead_s,
                           area=self.layer_areas.get(s.node_layer[i], BACKBONE), unnumbered=self.unnumbered,
                           **self.timers)

    def links_of(self, i: int) -> list[int]:
        """The links of node i the protocol runs on (every one it ever has in the series, among ``igp_links``)."""
        s = self.series
        return np.nonzero(((s.link_a == i) | (s.link_b == i)) & self.igp_links)[0].tolist()

    def transit(self, i: int) -> bool:
        """Whether node i may carry traffic between others."""
        return self.series.node_layer[i] != "GROUND" or self.ground_transit

    def interface_cost(self, i: int, link_cost: int) -> int:
        """The cost node i configures on an interface whose link costs ``link_cost``."""
        return int(link_cost) if self.transit(i) else min(MAX_COST, int(link_cost) + NO_TRANSIT_COST)

    def configs(self, k: int = 0) -> list[str]:
        """frr.conf of every node with the costs of step k, shape (node,)."""
        costs = self.link_costs(k)
        return [self.config(i, costs) for i in range(self.series.n_nodes)]


class IsisPlan(OspfPlan):
    """What every node of a link series should tell IS-IS (pure, no processes): the IS-IS twin of
    :class:`OspfPlan`, with the same interfaces, the same costs (as ``isis metric``, wide metrics) and
    the same stations that carry no transit.

    Every node is a level-2-only router of one area (:data:`ISIS_AREA`);
    ``layer_areas`` is refused: IS-IS areas are level-1 islands joined by
    level-1-2 routers, not OSPF's areas around a backbone, and nothing here
    models them yet.  The timer keywords are :class:`OspfPlan`'s (the
    :data:`TIMER_PROFILES` apply unchanged); :func:`isis_config` says how
    each maps onto IS-IS.
    """

    TIMERS = ("retransmit_s", "lsa_interval_ms", "lsa_arrival_ms", "spf_ms")

    def __init__(self, series, hello_s: int = 1, dead_s: int = 4, costs: str = "delay",
                 layer_areas: Mapping[str, str] | str | None = None, ground_transit: bool = False,
                 unnumbered: bool = False, igp_links=None, **timers):
        if layer_areas not in (None, "single"):
            raise ValueError(f"IS-IS areas: only 'single' (one level-2 area), not {layer_areas!r}")
        unknown = sorted(set(timers) - set(self.TIMERS))
        if unknown:
            raise ValueError(f"IS-IS timers: {', '.join(unknown)} unknown; accepted: hello_s, dead_s, "
                             f"{', '.join(self.TIMERS)}")
        super().__init__(series, hello_s, dead_s, costs, None, ground_transit, unnumbered, igp_links, **timers)
        isis_config("check", addr.loopback_ip(0), [], self.hello_s, self.dead_s, **self.timers)  # bad timers: now

    def config(self, i: int, costs: Mapping[int, int]) -> str:
        """frr.conf of node i with the given link costs."""
        s = self.series
        links = self.links_of(i)
        interfaces = [(addr.ifname(l), self.interface_cost(i, costs.get(l, 1))) for l in links]
        return isis_config(s.node_names[i], addr.loopback_ip(i), interfaces, self.hello_s, self.dead_s,
                           **self.timers)


class FrrNetwork:
    """OSPF (or IS-IS) on every node of a running :class:`~emulator.network.EmulatedNetwork`.

    The network must have been built with ``routing="none"``: the
    emulator's static routes (metric 0) would shadow OSPF's (metric 20).
    ``protocol`` is ``"ospf"`` (zebra + ospfd) or ``"isis"`` (zebra +
    isisd).  What each node is told comes from an :class:`OspfPlan` or
    :class:`IsisPlan` (keywords are passed on to it: the same for both);
    logs and configs go to ``log_dir/<node>/{frr.conf, zebra.log,
    ospfd.log or isisd.log}``.  Links are
    unnumbered when the network puts loopbacks on them
    (``EmulatedNetwork(loopback_on_links=True)``); the daemons run at
    niceness ``nice`` (default :data:`DAEMON_NICE`).  Costs, cost updates,
    link repairs, the cost matrix and route reading work alike for both
    protocols.
    """

    def __init__(self, net, log_dir, limit_fds: int = 1024, nice: int | None = None, protocol: str = "ospf",
                 bgp=None, **plan):
        if protocol not in PROTOCOLS:
            raise ValueError(f"routing protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
        if getattr(net, "routing", "none") != "none":
            raise ValueError(f'start the EmulatedNetwork with routing="none": its static routes would shadow '
                             f'{protocol.upper()}')
        self.net, self.series = net, net.series
        self.protocol = protocol
        self.bgp = bgp  # an emulator.bgp.BgpPlan: bgpd beside, the IGP only inside each AS
        self.plan = (IsisPlan if protocol == "isis" else OspfPlan)(
            net.series, ground_transit=bool(getattr(net, "ground_transit", False)),
            unnumbered=bool(getattr(net, "loopback_on_links", False)),
            igp_links=None if bgp is None else bgp.igp_link, **plan)
        self.log_dir = Path(log_dir)
        self.limit_fds = limit_fds
        self.nice = DAEMON_NICE if nice is None else int(nice)
        self.nodes: list[FrrNode] = []
        # link -> when repair_new_links first saw it up; None once OSPF ran at both ends
        self._new_links: dict[int, float | None] = {}
        self.repaired: list[tuple[str, str]] = []  # every (node, interface) repair_new_links fixed
        self.cost: dict[int, int] = {}     # link -> cost configured (same at both ends)
        self.timings_s: dict[str, float] = {}
        self.quiet = False  # set by quiesce(): run-time work (costs, repairs) stops at the next node
        self.errors: list[str] = []  # what run-time work in another thread could not do (experiments.run)

    # -- processes ---------------------------------------------------------------
    def start(self, k: int | None = None, check: bool = True, timeout_s: float | None = None,
              progress=None) -> float:
        """Start zebra then ospfd (isisd) on every node (costs of step k, default the network's); return
        seconds.

        All zebras are launched, then awaited, then all ospfds: daemons start
        side by side, and no ospfd looks for a zebra that is not there yet.
        A daemon that exits fails the start as soon as the wait reaches its
        node (nodes are awaited in order); ``timeout_s`` only bounds a hang,
        per daemon kind (default :func:`start_timeout_s`).
        ``progress(1)`` is called as each daemon becomes ready (:attr:`daemons`: 2 or 3 per node).
        On any failure everything started so far is stopped.
        """
        local = self._local()
        timeout_s = start_timeout_s(len(local)) if timeout_s is None else timeout_s
        self.quiet = False
        k = self.net.step if k is None else k
        k = 0 if k is None else k
        t0 = time.perf_counter()
        self.cost = self.plan.link_costs(k)
        self.nodes = [self._node_for(i) for i in range(self.series.n_nodes)]
        mine = [self.nodes[i] for i in local]
        try:
            for i in local:
                bgp = (None, "") if self.bgp is None else (self.bgp.config(i), self.bgp.zebra_config(i))
                self.nodes[i].write_config(self.plan.config(i, self.cost), *bgp)
            if self.protocol == "ospf":  # isisd speaks over one packet socket per circuit
                self._allow_memberships()
            t1 = time.perf_counter()
            if check and mine:
                check_configs([node.log_dir / "frr.conf" for node in mine]
                              + ([mine[0].log_dir / "zebra.conf"] if self.protocol == "isis" else [])
                              + ([node.log_dir / f for node in mine for f in ("bgpd.conf", "zebra.conf")]
                                 if self.bgp is not None else []))
            t2 = time.perf_counter()
            for daemon in self.daemons:
                for node in mine:
                    node.launch(daemon)
                deadline = time.monotonic() + timeout_s
                for node in mine:
                    node.wait_ready(daemon, max(0.1, deadline - time.monotonic()))
                    if progress:
                        progress(1)
            t3 = time.perf_counter()
        except BaseException:
            self.stop()
            raise
        self.timings_s = {"configs": t1 - t0, "check": t2 - t1, "daemons": t3 - t2, "total": t3 - t0}
        return t3 - t0

    @property
    def daemons(self) -> tuple[str, ...]:
        """The daemons every node runs, in starting order: zebra, the IGP's, bgpd with BGP."""
        return ("zebra", PROTOCOLS[self.protocol][0]) + (("bgpd",) if self.bgp is not None else ())

    def _allow_memberships(self) -> None:
        """Let each node's ospfd join AllSPFRouters on every one of its links.

        ospfd joins the OSPF multicast group once per interface on one
        socket, and a namespace allows 20 memberships per socket
        (``net.ipv4.igmp_max_memberships``): a satellite with more links
        silently never hears hellos on the rest ("can't setsockopt
        IP_ADD_MEMBERSHIP ... No buffer space available" in ospfd.log), so
        OSPF routes around links that are up.
        """
        from .namespaces import write_sysctl

        s = self.series
        links = np.bincount(np.concatenate([s.link_a, s.link_b]), minlength=s.n_nodes)
        for i in self._local():
            if links[i] > 16:
                write_sysctl(self.net.nodes[i].ns, "net.ipv4.igmp_max_memberships", str(int(links[i]) + 16))

    def _local(self) -> list[int]:
        """Indices of the nodes whose daemons this object runs: all of them (a cluster host: its own)."""
        return list(range(self.series.n_nodes))

    def _node_for(self, i: int):
        """The :class:`FrrNode` of node i (a cluster host: a stand-in for a node on another host)."""
        n = self.net.nodes[i]
        return FrrNode(n.ns, n.name, self.log_dir / n.name, ipr=n.ipr, limit_fds=self.limit_fds, nice=self.nice,
                       protocol=self.protocol, bgp=self.bgp is not None)

    def quiesce(self) -> None:
        """Have cost updates and repairs running in another thread give up at the next node (their
        vty sessions are about to close)."""
        self.quiet = True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop every daemon (all signalled first, then awaited) and remove FRR's run directories.

        ``timeout_s`` bounds the wait for all of them together; daemons still
        running after it are killed (an overloaded machine running hundreds of
        zebras would otherwise wait that long for each)."""
        self.quiesce()
        for node in self.nodes:
            node.signal_stop()
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            node.stop(max(0.0, deadline - time.monotonic()))
        self.nodes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- run time ---------------------------------------------------------------
    def node(self, name: str) -> FrrNode:
        return self.nodes[self.series.index(name)]

    def set_link_cost(self, link: int, cost: int) -> None:
        """Set one link's cost at both ends."""
        self._apply({link: int(cost)})

    def update_costs(self, k: int, min_change: int = 1) -> int:
        """Follow step k's delays: reset the costs of active links that moved by ``min_change`` or more.

        One batch of commands per node touched, over its persistent ospfd
        vty session; returns how many links changed.  Each change floods a router LSA from both ends, so a
        coarse ``min_change`` keeps a fast-moving constellation from
        flooding every step.
        """
        if self.plan.costs == "hops" or self.quiet:
            return 0
        ids, delay = self.series.active(k)
        igp = self.plan.igp_links[ids]
        new = {l: c for l, c in zip(ids[igp].tolist(), cost_from_delay(delay[igp]).tolist())
               if abs(c - self.cost.get(l, c)) >= min_change}
        self._apply(new)
        return len(new)

    def _apply(self, link_cost: Mapping[int, int]) -> None:
        s = self.series
        per_node: dict[int, dict[str, int]] = {}
        for link, cost in link_cost.items():
            for end in (int(s.link_a[link]), int(s.link_b[link])):
                per_node.setdefault(end, {})[addr.ifname(link)] = self.plan.interface_cost(end, cost)
        errors = []
        for i, costs in per_node.items():
            if self.quiet:
                return
            try:
                self.nodes[i].set_costs(costs)
            except FrrError as exc:
                errors.append(str(exc))
        if errors:
            raise FrrError("setting OSPF costs failed: " + "; ".join(errors))
        self.cost.update(link_cost)

    def repair_new_links(self, grace_s: float | None = None) -> list[tuple[str, str]]:
        """Make sure OSPF (IS-IS) runs on both ends of every link that came up since the last call.

        FRR 8.4's zebra drops the addresses of an interface when they reach
        its main thread before the interface itself does (it reads addresses
        on its dataplane thread; see :class:`~emulator.network.EmulatedNetwork`,
        ``create_ahead``), and ospfd then says "OSPF not enabled on this
        interface" for good: zebra never hears of those addresses again.
        Creating links a step ahead keeps that from happening unless zebra
        is more than a step behind; this check catches the rest.  Links up
        for at least ``grace_s`` (default two hello intervals) are checked
        at both ends over the vty sessions; where OSPF is off, that end's
        addresses are taken off and put back
        (:meth:`EmulatedNetwork.readdress`: zebra knows the interface by
        now and passes them on), and the link is checked again next time.
        Returns the (node, interface) pairs repaired.
        """
        grace_s = 2 * self.plan.hello_s if grace_s is None else grace_s
        now = time.monotonic()
        for link in self.net.up:
            if self.plan.igp_links[link]:  # inter-AS links carry eBGP only (emulator.bgp)
                self._new_links.setdefault(link, now)
        s = self.series
        repaired = []
        for link, t in list(self._new_links.items()):
            if self.quiet:
                break
            if t is None or link not in self.net.up or now - t < grace_s:
                continue
            ok = True
            for end in (int(s.link_a[link]), int(s.link_b[link])):
                node, ifname = self.nodes[end], addr.ifname(link)
                if node.ospf_off([ifname]):
                    self.net.readdress(link, end)
                    repaired.append((node.name, ifname))
                    ok = False
            if ok:
                self._new_links[link] = None
        self.repaired += repaired
        return repaired

    def cost_matrix(self, k: int):
        """OSPF's view of step k: (node, node) sparse costs of leaving i towards neighbour n.

        The active links of step k with the costs configured now (which
        trail the delays by up to ``min_change``), each end's outgoing cost
        as :meth:`OspfPlan.interface_cost` makes it.  Shortest paths on this
        graph are the routes OSPF should converge to.
        """
        from scipy.sparse import csr_matrix

        s = self.series
        ids, _ = s.active(k)
        ids = ids[self.plan.igp_links[ids]]
        a, b = s.link_a[ids].astype(np.int64), s.link_b[ids].astype(np.int64)
        cost = np.array([self.cost.get(l, 1) for l in ids.tolist()], dtype=np.float64)
        out_a = np.array([self.plan.interface_cost(i, c) for i, c in zip(a.tolist(), cost.tolist())], dtype=np.float64)
        out_b = np.array([self.plan.interface_cost(i, c) for i, c in zip(b.tolist(), cost.tolist())], dtype=np.float64)
        n = s.n_nodes
        return csr_matrix((np.concatenate([out_a, out_b]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                          shape=(n, n))

    def next_hops(self) -> np.ndarray:
        """(node, node) neighbour each node's kernel forwards to for each loopback (-1: no route of the
        protocol: OSPF's or IS-IS's).

        Comparable with :func:`topologies.routing.next_hops`; with equal-cost
        routes the first next hop counts.
        """
        s = self.series
        n = s.n_nodes
        nh = np.full((n, n), -1, dtype=np.int64)
        for i, node in enumerate(self.nodes):
            for dst, hops in node.routes().items():
                ip, plen = dst.split("/")
                if plen != "32" or not hops or hops[0][0] is None:
                    continue
                j = addr.node_of_address(ip, s.link_a, s.link_b)
                if j is None or ip != addr.loopback_ip(j):
                    continue
                nh[i, j] = addr.node_of_address(hops[0][0], s.link_a, s.link_b)
        return nh

    ospf_next_hops = next_hops  # the name from before IS-IS

    def bgp_states(self) -> dict[str, dict[str, str]]:
        """Every node's BGP sessions now: {node: {peer address: state}} (``Established``, ``Active``,
        ...), from bgpd (``show bgp neighbors json``), several vtysh at a time; {} without BGP."""
        import json

        if self.bgp is None:
            return {}
        mine = [self.nodes[i] for i in self._local()]
        results = _run_all([n.vtysh_argv("show bgp neighbors json", daemon="bgpd") for n in mine], 8)
        out = {}
        for node, (rc, text, _) in zip(mine, results):
            try:
                peers = json.loads(text) if rc == 0 else {}
            except ValueError:
                peers = {}
            out[node.name] = {a: p.get("bgpState", "?") for a, p in peers.items() if isinstance(p, dict)}
        return out

    def bgp_sessions(self) -> dict[str, int]:
        """Sessions established now, and those that could be: the iBGP ones and the eBGP ones over links up."""
        states = self.bgp_states()
        if not states:
            return {}
        s, up = self.series, set(self.net.up)
        live = {addr.link_ip(l, e) for l in up if not self.bgp.igp_link[l] for e in (0, 1)}
        out = {"ibgp_established": 0, "ibgp": 0, "ebgp_established": 0, "ebgp_links_up": 0}
        for i in self._local():
            for p in self.bgp.peers(i):
                kind = "ibgp" if p.internal else "ebgp"
                if kind == "ebgp" and p.address not in live:
                    continue
                out["ibgp" if p.internal else "ebgp_links_up"] += 1
                out[f"{kind}_established"] += states.get(s.node_names[i], {}).get(p.address) == "Established"
        return out

    def dead_interval_expiries(self) -> int:
        """Adjacencies lost to the dead interval on all nodes (:meth:`FrrNode.dead_interval_expiries`;
        each lost adjacency is usually counted at both ends)."""
        return sum(node.dead_interval_expiries() for node in self.nodes)

    def rss_kib(self) -> dict[str, dict[str, int]]:
        """Resident memory (KiB) of each node's daemons."""
        return {node.name: node.rss_kib() for node in self.nodes}
