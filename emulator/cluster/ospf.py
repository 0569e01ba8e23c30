"""OSPF (or IS-IS) across cluster hosts: FRR in every node, each host's agent running its own nodes' daemons.

:class:`HostFrr` (agent side) is :class:`emulator.frr.FrrNetwork` on a
:class:`~.agent.HostNetwork`: it starts zebra and ospfd only in the nodes
of its host; the nodes other hosts run are stand-ins that accept every call
and do nothing.  Every agent computes the same costs from the same series,
so both ends of a cross-host link are told the same cost without talking to
each other.  Adjacencies over cross-host links form over the VXLAN devices
(OSPF's multicast hellos go to the far host as any other frame: the device's
only remote is that host).

:class:`ClusterFrr` (driver side) offers what the emulation loop uses of an
``FrrNetwork`` -- ``start``, ``update_costs(k, min_change)``,
``repair_new_links``, ``quiesce``, ``stop``, ``dead_interval_expiries``,
``cost_matrix``, ``errors``, ``repaired``, ``plan`` -- by calling every
agent, plus :meth:`ClusterFrr.next_hops` (rows read on the nodes' hosts) and
:meth:`ClusterFrr.wait_converged` (seconds until packets between the
stations arrive hop by hop, or also all on shortest paths under the
configured costs).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..frr import PROTOCOLS, FrrError, FrrNetwork, FrrNode, IsisPlan, OspfPlan


class _AbsentFrrNode:
    """Stand-in for the FRR of a node another host runs: every call does nothing."""

    def __init__(self, name: str):
        self.name = name

    def set_costs(self, costs) -> None:
        pass

    def ospf_off(self, ifnames) -> list:
        return []

    def routes(self) -> dict:
        return {}

    def signal_stop(self) -> None:
        pass

    def stop(self, timeout_s: float = 0.0) -> None:
        pass

    def close_vty(self) -> None:
        pass

    def dead_interval_expiries(self) -> int:
        return 0

    def rss_kib(self) -> dict:
        return {}


class HostFrr(FrrNetwork):
    """FRR on the local nodes of a :class:`~.agent.HostNetwork` (routing="none"); see the module docstring."""

    def _local(self) -> list[int]:
        return sorted(self.net.local_nodes)

    def _node_for(self, i: int):
        return super()._node_for(i) if i in self.net.local_nodes else _AbsentFrrNode(self.net.nodes[i].name)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) this host's daemons have used."""
        return float(sum(sum(node.cpu_s().values()) for node in self.nodes if isinstance(node, FrrNode)))


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__


class _HostDaemons:
    """One host's daemons as :attr:`ClusterFrr.nodes` lists them: only their CPU time."""

    def __init__(self, cpu_s: float):
        self._cpu_s = cpu_s

    def cpu_s(self) -> dict[str, float]:
        return {"all": self._cpu_s}


class ClusterFrr:
    """FRR in every node of a :class:`~.driver.ClusterNetwork`, each host's agent running its own.

    The network must be built with ``routing="none"`` (and, for unnumbered
    links, ``loopback_on_links=True``).  Keywords as for
    :class:`~emulator.frr.FrrNetwork` (``protocol``, timers, ``costs``,
    ``layer_areas`` ...); logs go to ``log_dir/<node>/`` on the node's host.
    """

    def __init__(self, net, log_dir, limit_fds: int = 1024, nice: int | None = None, protocol: str = "ospf",
                 bgp=None, **plan):
        if protocol not in PROTOCOLS:
            raise ValueError(f"routing protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
        if net.options.get("routing") != "none":
            raise ValueError(f'build the ClusterNetwork with routing="none": its static routes would shadow '
                             f'{protocol.upper()}')
        self.net, self.series, self.protocol = net, net.series, protocol
        self.bgp = bgp  # an emulator.bgp.BgpPlan; each agent rebuilds it from its spec() on its own series
        # checked here (bad keywords fail on the driver, once), then sent to every agent
        self.plan = (IsisPlan if protocol == "isis" else OspfPlan)(
            net.series, ground_transit=bool(net.options.get("ground_transit")),
            unnumbered=bool(net.options.get("loopback_on_links")),
            igp_links=None if bgp is None else bgp.igp_link, **plan)
        self.log_dir = Path(log_dir)
        self.options = dict(plan, limit_fds=limit_fds, nice=nice, protocol=protocol,
                            bgp=None if bgp is None else bgp.spec())
        self.cost: dict[int, int] = {}
        self.errors: list[str] = []
        self.repaired: list[tuple[str, str]] = []
        self.timings_s: dict = {}
        self.quiet = False
        self.started = False
        self.adjacencies_lost: int | None = None

    # -- calls to every agent ---------------------------------------------------
    def _call(self, method: str, *args, what: str, progress=None) -> list:
        """``agent.<method>(*args)`` on every host; an agent's FRR failure becomes one FrrError line."""
        from ray.exceptions import RayTaskError

        agents = self.net.agents
        if not agents:
            return []
        refs = [getattr(a, method).remote(*args) for a in agents]
        try:
            return self.net._gather(refs, what, progress=progress)
        except RayTaskError as exc:
            raise FrrError(f"{what}: {_one_line(exc)}") from None

    def start(self, k: int | None = None, progress=None, **_) -> float:
        """Start zebra and the routing daemon in every node, each host its own, at step k's costs;
        seconds (the slowest host).  ``progress(n)`` as each host is done (n: its nodes)."""
        k = self.net.step if k is None else k
        t0 = time.perf_counter()
        self.quiet = False
        self.cost = self.plan.link_costs(k)
        self.started = True
        try:
            res = self._call("ospf_start", str(self.log_dir), k, self.options, what="the FRR start",
                             progress=progress)
        except BaseException:
            self.stop()
            raise
        total = time.perf_counter() - t0
        self.timings_s = {"total": total, "hosts": [r["timings"] for r in res]}
        return total

    def update_costs(self, k: int, min_change: int = 1) -> int:
        """Every host sets step k's costs on its own nodes (links that moved by ``min_change``); how many
        links changed (the same on every host: they all compute from the same series and costs)."""
        if self.plan.costs == "hops" or self.quiet:
            return 0
        res = self._call("ospf_costs", k, min_change, what=f"the OSPF costs of step {k}")
        from ..frr import cost_from_delay

        ids, delay = self.series.active(k)
        self.cost.update({l: c for l, c in zip(ids.tolist(), cost_from_delay(delay).tolist())
                          if abs(c - self.cost.get(l, c)) >= min_change})
        return max(res, default=0)

    def repair_new_links(self, grace_s: float | None = None) -> list[tuple[str, str]]:
        """:meth:`FrrNetwork.repair_new_links` on every host; the (node, interface) pairs repaired."""
        if self.quiet:
            return []
        res = self._call("ospf_repair", grace_s, what="the OSPF link check")
        out = [tuple(p) for r in res for p in r]
        self.repaired += out
        return out

    def quiesce(self) -> None:
        self.quiet = True

    def dead_interval_expiries(self) -> int:
        """Adjacencies lost to the dead interval on all hosts (see :meth:`FrrNode.dead_interval_expiries`)."""
        if self.adjacencies_lost is not None:
            return self.adjacencies_lost
        return sum(self._call("ospf_expiries", what="reading the FRR logs"))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Every live host stops its daemons (idempotent; a lost host's are killed by its cleanup)."""
        self.quiet = True
        if not self.started:
            return
        self.started = False
        try:
            res = self._call("ospf_stop", timeout_s, what="the FRR stop")
            self.adjacencies_lost = sum(res)
        except FrrError as exc:
            self.errors.append(str(exc))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    daemons = FrrNetwork.daemons  # uses only protocol and bgp, both kept here

    def bgp_sessions(self) -> dict[str, int]:
        """:meth:`FrrNetwork.bgp_sessions` summed over the hosts (each counts its own nodes' sessions)."""
        if self.bgp is None:
            return {}
        out: dict[str, int] = {}
        for part in self._call("bgp_sessions", what="reading the BGP sessions"):
            for key, n in part.items():
                out[key] = out.get(key, 0) + n
        return out

    @property
    def nodes(self) -> list[_HostDaemons]:
        """Per host, its daemons' CPU seconds (``.cpu_s()``): what a run's control-plane figure sums."""
        if not self.started:
            return []
        return [_HostDaemons(s) for s in self._call("ospf_cpu_s", what="reading the daemons' CPU time")]

    # -- what the nodes forward by ----------------------------------------------
    cost_matrix = FrrNetwork.cost_matrix  # uses only series, plan and cost, all kept here

    def next_hops(self, rows=None) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """``(nh, extra)`` as :meth:`emulator.fib.FibReader.next_hops`, read on the hosts for the nodes
        ``rows`` (default all; other rows -1)."""
        n = self.series.n_nodes
        rows = list(range(n)) if rows is None else [int(r) for r in rows]
        nh = np.full((n, n), -1, dtype=np.int64)
        extra: list[tuple[int, int, int]] = []
        for part in self._call("fib_rows", rows, what="reading routes"):
            for i, routes in part.items():
                for j, hops in routes.items():
                    nh[i, j] = hops[0] if hops else -1
                    extra += [(i, j, h) for h in hops[1:]]
        return nh, extra

    def wrong_station_routes(self, k: int, shortest: bool = True) -> int:
        """Station-to-station pairs reachable at step k whose packets would not arrive (a node along
        the way without its route) or, with ``shortest``, would not take a shortest path under the
        costs configured now."""
        from scipy.sparse.csgraph import dijkstra

        from emulator.fib import paths_arrive
        from topologies.routing import on_shortest_paths

        g = np.asarray(self.series.ground_indices)
        w = self.cost_matrix(k)
        nh, extra = self.next_hops()
        if self.bgp is None:
            reach = np.isfinite(dijkstra(w, directed=True, indices=g))[:, g]
        else:  # across ASes BGP carries the packets, by its own choice: arrival alone counts
            reach, shortest = self.bgp.deliverable(k, g), False
        np.fill_diagonal(reach, False)
        if not shortest:
            return int((reach & ~paths_arrive(self.series, k, nh, g)).sum())
        # the stations' own hops (equal-cost ones too), and the whole path arriving as short as the shortest
        ok = on_shortest_paths(w, nh, [e for e in extra if e[0] in set(g.tolist())])[np.ix_(g, g)]
        return int((reach & ~(ok & self._whole_paths_shortest(w, nh, g))).sum())

    @staticmethod
    def _whole_paths_shortest(w, nh: np.ndarray, g: np.ndarray) -> np.ndarray:
        """(station, station) bool: following every node's first next hop from one station reaches the
        other at the shortest cost under ``w`` (so no hop is missing, looping or off a shortest path)."""
        from scipy.sparse.csgraph import dijkstra

        from topologies.strategies import follow_cost

        dense = w.toarray()
        dense[dense == 0] = np.inf
        src, dst = np.repeat(g, g.size), np.tile(g, g.size)
        cost = follow_cost(nh, dense, np.ones(nh.shape[0], bool), src, dst).reshape(g.size, g.size)
        return cost <= dijkstra(w, directed=True, indices=g)[:, g] + 1e-6

    def wait_converged(self, k: int | None = None, timeout_s: float = 60.0, shortest: bool = False,
                       check=None, pause_s: float = 0.2) -> float:
        """Seconds until packets from every station reach every station it can reach at step k -- every
        node along each path has its route, first next hops followed (with ``shortest``: and each path
        is a shortest one under the configured costs; with BGP ``shortest`` is ignored and the pairs are
        :meth:`emulator.bgp.BgpPlan.deliverable`'s); NaN after ``timeout_s``."""
        k = self.net.step if k is None else k
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout_s:
            if check:
                check()
            if self.wrong_station_routes(k, shortest) == 0:
                return time.perf_counter() - t0
            time.sleep(pause_s)
        return float("nan")
