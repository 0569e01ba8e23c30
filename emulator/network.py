"""The live network: a :class:`~topologies.series.LinkSeries` made real in the kernel.

:class:`EmulatedNetwork` turns every node into a Mininet host (its own
network namespace, forwarding IPv4), every link into a veth pair with a /31
and a netem qdisc on each end (delay = the link's one-way delay, so RTT =
2 x one-way), and the predicted delay-shortest paths into static /32
routes.  :meth:`EmulatedNetwork.apply_step` moves it to the next step of
the series:

- links that appear are created one step before they first come up
  (without addresses, down), given their addresses and set *up* when they
  do; links that disappear are set *down* (both ends), so the kernel stops
  forwarding on them at once and a veth is created only once per run;
- every active link's delay is changed in place (netem change, batched per
  namespace, loss and rate kept), and its loss where a weather fade starts
  or ends;
- only the routes that changed are replaced or deleted (batched netlink).

Everything is spoken over netlink from this one process: one socket per
namespace, no ``ip``/``tc`` subprocess per link or route.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError


from . import addressing as addr
from .namespaces import claim_run, make_host, ns_name, raise_fd_limit, write_sysctl
from .nlbatch import NetlinkBatch
from .routeplan import RoutePlanner
from .netem import NetemShaper, TbfShaper

_TBF_FLOOR_MBIT = 0.008  # a TBF rate for "carries nothing": 1,000 bytes/s


def _multipath(nh: np.ndarray, extra: np.ndarray) -> dict[tuple[int, int], tuple[int, ...]]:
    """``{(node, dst): next hops}`` where a strategy gave several (primary first, sorted rest)."""
    out: dict[tuple[int, int], set] = {}
    for i, j, h in np.asarray(extra).reshape(-1, 3).tolist():
        if nh[i, j] >= 0 and h != nh[i, j]:
            out.setdefault((i, j), set()).add(h)
    return {key: (int(nh[key]), *sorted(rest)) for key, rest in out.items()}


@dataclass
class StepStats:
    """What one step changed and how long it took (seconds)."""

    step: int
    links_created: int = 0
    links_up: int = 0
    links_down: int = 0
    delays_set: int = 0
    losses_set: int = 0
    rates_set: int = 0
    routes_changed: int = 0
    t_links_s: float = 0.0
    t_delays_s: float = 0.0
    t_routes_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.t_links_s + self.t_delays_s + self.t_routes_s


class _Node:
    """One node's namespace handles: pyroute2 socket, bulk socket, netem shaper."""

    def __init__(self, index: int, name: str, host, ns: str, shaping: str, queue_limit_pkts: int = 1000):
        self.index, self.name, self.host, self.ns = index, name, host, ns
        self.ipr = NetNS(ns)
        self.batch = NetlinkBatch(ns)
        self.shaper = (NetemShaper(self.ipr) if shaping == "netem" else
                       TbfShaper(queue_limit_pkts * 1514) if shaping == "tbf" else None)
        self.lo_index = self.ipr.link_lookup(ifname="lo")[0]

    def close(self):
        for s in (self.ipr, self.batch):
            try:
                s.close()
            except Exception:
                pass


class _LoopbackIntf:
    """What Mininet sees as a host's default interface: its loopback, carrying the node's /32.

    Mininet's CLI turns node names into addresses (``Beijing ping Kashi``) through
    ``defaultIntf().updateIP()``; our hosts have no Mininet links, so without this
    it fails on ``None``.  No command runs: the address is known."""

    def __init__(self, host, ip: str):
        self.node, self.name, self.ip, self.prefixLen, self.link = host, "lo", ip, 32, None
        host.intfs[0] = self
        host.ports[self] = 0
        host.nameToIntf["lo"] = self

    def updateIP(self) -> str:  # noqa: N802 - Mininet's name
        return self.ip

    def IP(self) -> str:  # noqa: N802 - Mininet's name
        return self.ip

    def MAC(self):  # noqa: N802 - Mininet's name
        return None

    def isUp(self, setUp=False) -> bool:  # noqa: N802 - Mininet's name
        return True

    def delete(self) -> None:
        """The loopback goes with the namespace."""

    def __str__(self) -> str:
        return self.name


class EmulatedNetwork:
    """The series' network in namespaces; build with :meth:`start`, move with :meth:`apply_step`.

    ``shaping=False`` skips netem (kernels without sch_netem: topology and
    routes only, no delays); ``shaping="tbf"`` carries only each link's
    per-step capacity, with a TBF qdisc (such kernels usually have sch_tbf).
    ``queue_limit_pkts`` is the queue behind the rate (netem ``limit``; TBF:
    that many 1,514-byte frames).  ``delay_offset_ms`` configures every netem
    delay that much shorter (never below zero) to cancel the platform's own
    lateness per netem traversal (:mod:`emulator.calibrate`).  ``routing="static"`` installs the predicted
    shortest paths; ``"none"`` installs no routes (another daemon does).

    ``loopback_on_links=True`` also puts each node's loopback /32 on every
    one of its link interfaces, with a permanent neighbour entry for the
    peer's loopback: what unnumbered OSPF runs on
    (:class:`~emulator.frr.OspfPlan`).  The /31s stay, so link ends still
    answer pings and traceroute still names them.

    ``create_ahead=True`` (the default) creates each link's veth pair one
    step before the link first comes up and adds its addresses only then.
    A routing daemon must learn a new interface before its addresses, and
    FRR 8.4's zebra does not guarantee that: it reads interfaces on its main
    thread but addresses on its dataplane thread, and an address whose
    interface the main thread has not read yet is dropped without a word
    (``zebra_if_dplane_result``: "can't find ifp"), so ospfd never runs on
    it.  That happens when zebra is busy as the link appears (a 500-node
    network on two cores; a 4-node test reproduces it by keeping zebra
    busy).  Created a step early, the interface is known long before its
    addresses arrive.  ``create_ahead=False`` creates and addresses a link
    in the step it comes up.

    ``strategy`` (with ``routing="static"``): the routing strategy whose
    decisions are installed (:func:`topologies.strategies.parse_routing`:
    a name, a mapping or a callable; default ``shortest-delay``), multipath
    next hops as kernel multipath routes, and with its
    ``controller_delay_ms`` each step's routes that long after the step.
    """

    def __init__(self, series, shaping: bool = True, routing: str = "static",
                 ground_transit: bool = False, run_tag: str | None = None, delay_offset_ms: float = 0.0,
                 loopback_on_links: bool = False, create_ahead: bool = True, queue_limit_pkts: int = 1000,
                 local_nodes=None, strategy=None):
        from topologies.strategies import parse_routing

        self.series = series
        # routing="static": the routes this strategy decides (topologies.strategies), installed its
        # controller_delay_ms after each step is due (a thread; see apply_step and wait_routes)
        self.strategy = parse_routing(strategy)
        self.mp: dict[tuple[int, int], tuple[int, ...]] = {}  # (node, dst) -> multipath next hops installed
        self.route_installs: list[dict] = []  # late installs: step, due_s, installed_s, routes_changed
        self._lock = threading.RLock()  # netlink sockets are shared by the step and the installer thread
        self._installer = None
        # cluster runs: only these node indices live here; the others are _absent_node stand-ins
        self.local_nodes = None if local_nodes is None else set(local_nodes)
        self.create_ahead = create_ahead
        self.shaping = {True: "netem", False: "", None: "", "none": ""}.get(shaping, shaping)
        if self.shaping not in ("netem", "tbf", ""):
            raise ValueError(f"shaping={shaping!r}; accepted: True/'netem', 'tbf', False/'none'")
        self.queue_limit_pkts = int(queue_limit_pkts)
        # netem is configured this much below each link's delay (never below 0): the platform's
        # own lateness per netem traversal, measured by emulator.calibrate
        self.delay_offset_ms = float(delay_offset_ms)
        self.routing = routing
        self.ground_transit = ground_transit
        self.loopback_on_links = loopback_on_links
        # namespaces are named sgemu-<run_tag>-<node>; SGEMU_RUN_TAG fixes the tag
        self.run_tag = run_tag or os.environ.get("SGEMU_RUN_TAG") or uuid.uuid4().hex[:6]
        self.net = None
        self.nodes: list[_Node] = []
        self.created: dict[int, tuple[int, int]] = {}   # link -> (ifindex at a, ifindex at b)
        self.addressed: set[int] = set()                # links whose ends carry their addresses
        self.up: set[int] = set()
        self.delay_ms: dict[int, float] = {}   # link -> one-way delay installed
        self.loss_pct: dict[int, float] = {}   # link -> loss % per direction installed
        self.rate_mbit: dict[tuple[int, int], float | None] = {}   # (link, end) -> rate installed (None = unpaced)
        self.nh = None  # (node, node) next hops installed
        self.step = None
        self._owner_pid = os.getpid()
        self._planner = None
        is_ground = np.array([l == "GROUND" for l in series.node_layer])
        self.is_ground = is_ground

    def planning_ms(self) -> dict[int, float]:
        """Wall time (ms) the routing strategy took to decide each step planned so far, by step."""
        return dict(self._planner.plan_ms) if self._planner is not None else {}

    # -- build / teardown ----------------------------------------------------
    def start(self, k: int = 0, progress=None) -> StepStats:
        """Create every node and the links, delays and routes of step k (and, with ``create_ahead``,
        the links step k + 1 brings up, down and without addresses)."""
        from mininet.net import Mininet

        raise_fd_limit()
        claim_run(self.run_tag)
        self.net = Mininet(topo=None, build=False, controller=None, autoSetMacs=False,
                           autoStaticArp=False, waitConnected=False)
        for i, name in enumerate(self.series.node_names):
            if self.local_nodes is not None and i not in self.local_nodes:
                self.nodes.append(self._absent_node(i, name))
                continue
            host = make_host(self.net, name, self.run_tag)
            ns = ns_name(self.run_tag, name)
            node = _Node(i, name, host, ns, self.shaping, self.queue_limit_pkts)
            self.nodes.append(node)
            forward = "1" if (not self.is_ground[i] or self.ground_transit) else "0"
            write_sysctl(ns, "net.ipv4.ip_forward", forward)
            for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
                write_sysctl(ns, key, "0")
            # no ICMP rate limit: a traceroute right after another must not find silent hops
            write_sysctl(ns, "net.ipv4.icmp_ratelimit", "0")
            node.ipr.link("set", index=node.lo_index, state="up")
            node.ipr.addr("add", index=node.lo_index, address=addr.loopback_ip(i), prefixlen=32)
            _LoopbackIntf(host, addr.loopback_ip(i))
            if progress:
                progress(1)
        return self.apply_step(k)

    def _absent_node(self, index: int, name: str):
        """Stand-in for a node another host runs (``local_nodes``); :mod:`emulator.cluster.agent` has one."""
        raise NotImplementedError("local_nodes needs a subclass that provides _absent_node")

    def stop(self) -> None:
        """Kill every node's processes and remove the namespaces (veths go with them)."""
        from .cleanup import clean

        if os.getpid() != self._owner_pid:
            return  # a forked child (library helper) must never tear down the parent's network
        if self._installer is not None:
            self._installer[0].put(None)
            self._installer[1].join(timeout=10)
            self._installer = None
        if self._planner is not None:
            self._planner.close()
        for node in self.nodes:
            node.close()
        clean(prefix=ns_name(self.run_tag, ""), force=True)
        self.nodes = []
        self.net = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- one step ------------------------------------------------------------
    def apply_step(self, k: int, due_s: float | None = None) -> StepStats:
        """Move to step k.  With a strategy's ``controller_delay_ms`` D > 0, step k's routes are
        installed by a thread at ``due_s + D`` (``due_s``: wall time step k was due, default now;
        the first step built installs at once); :meth:`wait_routes` waits for them."""
        with self._lock:
            return self._apply_step(k, due_s)

    def _apply_step(self, k: int, due_s: float | None) -> StepStats:
        st = StepStats(k)
        ids, delay = self.series.active(k)
        t0 = time.perf_counter()
        self._links(ids, st)
        t1 = time.perf_counter()
        self._shaping(ids, delay, self.series.loss_at(k), st, np.vstack(self.series.capacity_by_end_at(k)))
        t2 = time.perf_counter()
        if self.routing == "static" and self.strategy.controller_delay_ms > 0 and self.step is not None:
            self._install_later(k, (time.time() if due_s is None else due_s) + self.strategy.controller_delay_ms / 1e3)
        elif self.routing == "static":
            self._routes(k, st)
        t3 = time.perf_counter()
        if self.create_ahead and k + 1 < self.series.n_steps:
            self._create_upcoming(k + 1, st)
        t4 = time.perf_counter()
        st.t_links_s, st.t_delays_s, st.t_routes_s = t1 - t0 + t4 - t3, t2 - t1, t3 - t2
        self.step = k
        return st

    def _install_later(self, k: int, at_s: float) -> None:
        """Queue step k's routes for the installer thread, to go in at wall time ``at_s``."""
        if self._installer is None:
            q: queue.Queue = queue.Queue()
            t = threading.Thread(target=self._install_loop, args=(q,), name="sgemu-route-installer", daemon=True)
            t.start()
            self._installer = (q, t)
        self._installer[0].put((k, at_s))

    def _install_loop(self, q: queue.Queue) -> None:
        """Installer thread: each queued step's routes at their time, in order (errors recorded)."""
        while True:
            item = q.get()
            try:
                if item is None:
                    return
                k, at_s = item
                time.sleep(max(0.0, at_s - time.time()))
                st = StepStats(k)
                with self._lock:
                    self._routes(k, st)
                self.route_installs.append({"step": k, "due_s": at_s - self.strategy.controller_delay_ms / 1e3,
                                            "installed_s": time.time(), "routes_changed": st.routes_changed})
            except Exception as exc:  # noqa: BLE001 - a teardown closing the sockets, or a netlink error
                self.route_installs.append({"step": item[0], "error": f"{type(exc).__name__}: {exc}"})
            finally:
                q.task_done()

    def wait_routes(self) -> None:
        """Return once every late (controller-delayed) route install queued so far is done."""
        if self._installer is not None:
            self._installer[0].join()

    def _create_upcoming(self, k: int, st: StepStats) -> None:
        """Create (down, without addresses) the links that step k brings up for the first time."""
        for i in self._create_missing(self.series.active(k)[0].tolist(), st):
            self.nodes[i].batch.flush()

    def _create_missing(self, links, st: StepStats) -> set[int]:
        """Create those of ``links`` not created yet; return the nodes whose batches they queued to."""
        touched: set[int] = set()
        for link in links:
            if link not in self.created:
                self._create_link(link)
                st.links_created += 1
                touched.update((int(self.series.link_a[link]), int(self.series.link_b[link])))
        return touched

    def _create_link(self, link: int) -> None:
        """veth pair sl<link> between the two nodes, down and without addresses (:meth:`_address_link`
        adds them): fixed MACs, permanent neighbour entries, and a netem qdisc on each end."""
        s = self.series
        a, b = int(s.link_a[link]), int(s.link_b[link])
        na, nb = self.nodes[a], self.nodes[b]
        name = addr.ifname(link)
        mac_a, mac_b = addr.link_mac(link, 0), addr.link_mac(link, 1)
        na.ipr.link("add", ifname=name, kind="veth", address=addr.mac_text(mac_a),
                    peer={"ifname": name, "net_ns_fd": nb.ns, "address": addr.mac_text(mac_b)})
        ia = na.ipr.link_lookup(ifname=name)[0]
        ib = nb.ipr.link_lookup(ifname=name)[0]
        na.batch.neighbour_permanent(ia, addr.link_u32(link, 1), mac_b)
        nb.batch.neighbour_permanent(ib, addr.link_u32(link, 0), mac_a)
        if self.loopback_on_links:
            na.batch.neighbour_permanent(ia, addr.loopback_u32(b), mac_b)
            nb.batch.neighbour_permanent(ib, addr.loopback_u32(a), mac_a)
        self.created[link] = (ia, ib)
        self.rate_mbit[(link, 0)] = self.rate_mbit[(link, 1)] = None  # the step's rates follow in _shaping
        if self.shaping == "netem":
            loss = s.loss_pct[link]
            kw = {"loss_pct": 0.0 if np.isnan(loss) else float(loss), "limit_pkts": self.queue_limit_pkts}
            self.loss_pct[link] = kw["loss_pct"]
            # delay 0 for now: the step's delay follows in _shaping
            na.shaper.add(ia, delay_ms=0.0, **kw)
            nb.shaper.add(ib, delay_ms=0.0, **kw)

    def _address_link(self, link: int) -> None:
        """Give both ends of a created link their addresses (:meth:`_end_addresses`)."""
        s = self.series
        for end, node in enumerate((int(s.link_a[link]), int(s.link_b[link]))):
            nd, index = self.nodes[node], self.created[link][end]
            for ip, plen in self._end_addresses(link, end):
                nd.ipr.addr("add", index=index, address=ip, prefixlen=plen)
        self.addressed.add(link)

    def _end_addresses(self, link: int, end: int) -> list[tuple[str, int]]:
        """(address, prefix length) of one end of a link (0: its a node, 1: b), in the order to add them.

        With ``loopback_on_links`` the node's loopback /32 comes first, so it is the interface's
        first address: what zebra reads as "unnumbered" (and the source of ICMP errors, so
        traceroute names nodes by their loopbacks)."""
        node = int((self.series.link_a, self.series.link_b)[end][link])
        lo = [(addr.loopback_ip(node), 32)] if self.loopback_on_links else []
        return lo + [(addr.link_ip(link, end), 31)]

    def readdress(self, link: int, node: int) -> None:
        """Take the addresses off ``node``'s end of ``link`` and put them back in creation order
        (the routing daemons see them go and come; neighbour entries stay)."""
        if link not in self.addressed:
            raise ValueError(f"link {link} has no addresses yet (created ahead, not up)")
        end = 0 if int(self.series.link_a[link]) == node else 1
        nd, index = self.nodes[node], self.created[link][end]
        ips = self._end_addresses(link, end)
        for ip, plen in reversed(ips):
            try:
                nd.ipr.addr("del", index=index, address=ip, prefixlen=plen)
            except NetlinkError as exc:
                if exc.code != errno.EADDRNOTAVAIL:  # already gone: put it back below
                    raise
        for ip, plen in ips:
            nd.ipr.addr("add", index=index, address=ip, prefixlen=plen)

    def _links(self, ids: np.ndarray, st: StepStats) -> None:
        want = set(ids.tolist())
        going_up = [l for l in want if l not in self.up]
        going_down = [l for l in self.up if l not in want]
        touched = self._create_missing(going_up, st)
        for link in going_up:
            if link not in self.addressed:
                self._address_link(link)
        for link, state in [(l, True) for l in going_up] + [(l, False) for l in going_down]:
            ia, ib = self.created[link]
            a, b = int(self.series.link_a[link]), int(self.series.link_b[link])
            self.nodes[a].batch.link_state(ia, state)
            self.nodes[b].batch.link_state(ib, state)
            touched.update((a, b))
        for i in touched:
            self.nodes[i].batch.flush()
        st.links_up, st.links_down = len(going_up), len(going_down)
        self.up = want
        if going_down and self.nh is not None:
            # the kernel drops routes through a link that goes down: forget them so they are re-added
            a = self.series.link_a[going_down]
            b = self.series.link_b[going_down]
            self.nh[a] = np.where(self.nh[a] == b[:, None], -2, self.nh[a])
            self.nh[b] = np.where(self.nh[b] == a[:, None], -2, self.nh[b])
            if self.mp:  # a multipath route over such a link: replace it whole
                gone = {(int(x), int(y)) for x, y in zip(a, b)} | {(int(y), int(x)) for x, y in zip(a, b)}
                for key in [key for key, hops in self.mp.items() if any((key[0], h) in gone for h in hops)]:
                    del self.mp[key]
                    self.nh[key] = -2

    def _shaping(self, ids: np.ndarray, delay: np.ndarray, loss: np.ndarray, st: StepStats,
                 capacity: np.ndarray | None = None) -> None:
        """Change what changed in the active links' shaping, both ends, batched per namespace:
        netem delay, loss and rate (``shaping="netem"``) or the TBF rate (``"tbf"``).

        ``capacity`` is Mbit/s per link, shape (up,) for both ends or (2, up) for what end a and
        end b send at (a ground link's uplink and downlink); NaN = unpaced.  A link up with
        capacity 0 carries nothing (netem: 100 % loss; TBF: 8 kbit/s, its queue overflows)."""
        if not self.shaping:
            return
        netem = self.shaping == "netem"
        capacity = np.full((2, ids.size), np.nan) if capacity is None else np.broadcast_to(capacity, (2, ids.size))
        per_node: dict[int, list[tuple[int, dict]]] = {}
        for link, d, p, c_a, c_b in zip(ids.tolist(), delay.tolist(), loss.tolist(), *capacity.tolist()):
            common = {}
            old = self.delay_ms.get(link)
            if netem and (old is None or abs(old - d) >= 1e-4):
                common["delay_ms"] = max(0.0, d - self.delay_offset_ms)
                self.delay_ms[link] = d
                st.delays_set += 1
            if netem and (c_a <= 0 or c_b <= 0):
                p = 100.0  # a link up with no capacity (netem: lost; TBF: paced to a trickle below)
            if netem and abs(self.loss_pct.get(link, 0.0) - p) > 1e-6:
                common["loss_pct"] = p
                self.loss_pct[link] = p
                st.losses_set += 1
            nodes = (int(self.series.link_a[link]), int(self.series.link_b[link]))
            rate_changed = False
            for end, c in enumerate((c_a, c_b)):
                rate = self._rate_change(link, end, c, netem)
                rate_changed |= bool(rate)
                if common or rate:
                    per_node.setdefault(nodes[end], []).append((self.created[link][end], {**common, **rate}))
            st.rates_set += rate_changed
        for i, items in per_node.items():
            node = self.nodes[i]
            node.shaper.queue_changes(node.batch, items)
            node.batch.flush()

    def _rate_change(self, link: int, end: int, capacity_mbps: float, netem: bool) -> dict:
        """``{"rate_mbit": R}`` when the rate end ``end`` of ``link`` sends at must change, else {}."""
        c = capacity_mbps
        rate = c if c > 0 else (None if netem or not c <= 0 else _TBF_FLOOR_MBIT)  # NaN compares False
        old = self.rate_mbit.get((link, end))
        if (old is None) == (rate is None) and (rate is None or abs(old - rate) <= 1e-4 * rate):
            return {}
        self.rate_mbit[(link, end)] = rate
        # netem keeps a rate it is not told about: unpaced is an explicit rate 0
        return {"rate_mbit": rate if rate is not None or not netem else 0.0}

    def _routes(self, k: int, st: StepStats) -> None:
        s = self.series
        if self._planner is None:
            self._planner = RoutePlanner(s, self.ground_transit, strategy=self.strategy)
        nh = self._planner.plan(k)
        mp = _multipath(nh, self._planner.extra)
        old = self.nh if self.nh is not None else np.full_like(nh, -1)
        ci, cj = np.nonzero(nh != old)
        changed = list(zip(ci.tolist(), cj.tolist()))
        if mp or self.mp:  # multipath sets that changed while the primary next hop stayed
            moved = (mp.keys() ^ self.mp.keys()) | {key for key in mp if mp[key] != self.mp.get(key)}
            changed += sorted(moved - set(changed))
        if changed:
            link_of = self._link_lookup()
            touched = set()
            for i, j in changed:
                hop = nh[i, j]
                node = self.nodes[i]
                if hop < 0:
                    if old[i, j] >= 0:
                        node.batch.route_delete(addr.loopback_u32(j))
                        touched.add(i)
                    continue
                via = []
                for h in mp.get((i, j), (hop,)):
                    link = link_of[(min(i, h), max(i, h))]
                    end = 0 if s.link_a[link] == i else 1
                    via.append((addr.link_u32(link, 1 - end), self.created[link][end]))
                if len(via) > 1:
                    node.batch.route_replace_multipath(addr.loopback_u32(j), via, src_u32=addr.loopback_u32(i))
                else:
                    node.batch.route_replace(addr.loopback_u32(j), *via[0], src_u32=addr.loopback_u32(i))
                touched.add(i)
            for i in touched:
                self.nodes[i].batch.flush(ignore_errno=(errno.ESRCH, errno.ENOENT))
        st.routes_changed = len(changed)
        self.nh, self.mp = nh.copy(), mp  # what is installed (the planner keeps updating its own copy)

    def _link_lookup(self) -> dict[tuple[int, int], int]:
        if getattr(self, "_pair_to_link", None) is None:
            s = self.series
            self._pair_to_link = {(int(a), int(b)): l for l, (a, b) in enumerate(zip(s.link_a, s.link_b))}
        return self._pair_to_link

    # -- access --------------------------------------------------------------
    def host(self, name: str):
        return self.nodes[self.series.index(name)].host

    def address(self, name: str) -> str:
        return addr.loopback_ip(self.series.index(name))

    def popen(self, name: str, argv: list[str], **kwargs):
        """Start ``argv`` (a list, never a shell string) in node ``name``'s namespace; a Popen."""
        return self.host(name).popen(list(argv), **kwargs)

    def node_of_address(self, ip: str) -> str | None:
        """The name of the node owning an address (loopback or link end), else None."""
        i = addr.node_of_address(ip, self.series.link_a, self.series.link_b)
        return None if i is None or not 0 <= i < self.series.n_nodes else self.series.node_names[i]
