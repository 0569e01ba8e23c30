"""What the kernels actually forward: every node's routes to every other node, read back.

The emulator installs routes (static mode) or lets OSPF install them; either
way the truth is in each namespace's forwarding table.  :class:`FibReader`
reads the /32 routes to the nodes' loopbacks from every namespace over
netlink -- with its own sockets, so a measuring thread never shares a socket
with the thread that changes the network -- and turns them into a next-hop
matrix comparable with :func:`topologies.routing.next_hops`::

    fib = FibReader(net)
    nh, extra = fib.next_hops()   # nh[i, j]: the neighbour node i forwards to for j, -1 none
    fib.close()

A gateway is a link-end address, and the link numbering maps it back to the
neighbour node (see :mod:`emulator.addressing`), or, with unnumbered links,
the neighbour's loopback.
"""

from __future__ import annotations

import numpy as np

from . import addressing as addr
from .nlbatch import NetlinkBatch


class FibReader:
    """Reads the forwarding tables of all nodes of an :class:`~emulator.network.EmulatedNetwork`."""

    def __init__(self, net):
        s = net.series
        self.n = s.n_nodes
        self._a = np.asarray(s.link_a, dtype=np.int64)
        self._b = np.asarray(s.link_b, dtype=np.int64)
        self._socks = [NetlinkBatch(node.ns) for node in net.nodes]

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _node_of_gateway(self, gw: np.ndarray) -> np.ndarray:
        return gateway_nodes(gw, self._a, self._b, self.n)

    def next_hops(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """``(nh, extra)``: nh shape (node, node), the first next hop node i uses for node j's loopback
        (-1: no route); ``extra`` lists further equal-cost next hops as ``(i, j, hop)``."""
        n = self.n
        nh = np.full((n, n), -1, dtype=np.int64)
        extra: list[tuple[int, int, int]] = []
        for i, sock in enumerate(self._socks):
            routes = sock.host_routes()
            if not routes:
                continue
            dst = np.fromiter(routes.keys(), dtype=np.int64, count=len(routes)) - addr.LOOPBACK_BASE - 1
            first = np.fromiter((g[0] for g in routes.values()), dtype=np.int64, count=len(routes))
            keep = (dst >= 0) & (dst < n)
            nh[i, dst[keep]] = self._node_of_gateway(first[keep])
            for d, gws in routes.items():
                if len(gws) > 1:
                    j = d - addr.LOOPBACK_BASE - 1
                    if 0 <= j < n:
                        hops = self._node_of_gateway(np.array(gws[1:], dtype=np.int64))
                        extra += [(i, j, int(h)) for h in hops]
        return nh, extra


def gateway_nodes(gw: np.ndarray, link_a: np.ndarray, link_b: np.ndarray, n_nodes: int) -> np.ndarray:
    """The neighbour node of each gateway address (a link end, or with unnumbered links the
    neighbour's loopback), -1 when it is neither; shapes as ``gw``."""
    off = gw - addr.LINK_BASE
    link = off // 2
    ok = (off >= 0) & (link < link_a.size)
    link = np.where(ok, link, 0)
    node = np.where(ok, np.where(off % 2 == 1, link_b[link], link_a[link]), -1)
    lo = gw - addr.LOOPBACK_BASE - 1
    return np.where((lo >= 0) & (lo < n_nodes), lo, node)


def node_routes(net, i: int) -> dict[int, list[int]]:
    """Node i's kernel routes to other nodes' loopbacks: ``{destination node: [next hop node, ...]}``."""
    s = net.series
    sock = NetlinkBatch(net.nodes[i].ns)
    try:
        routes = sock.host_routes()
    finally:
        sock.close()
    a, b = np.asarray(s.link_a, dtype=np.int64), np.asarray(s.link_b, dtype=np.int64)
    out = {}
    for dst, gws in routes.items():
        j = dst - addr.LOOPBACK_BASE - 1
        if 0 <= j < s.n_nodes:
            out[int(j)] = [int(h) for h in gateway_nodes(np.array(gws, dtype=np.int64), a, b, s.n_nodes)]
    return out


def paths_arrive(series, k: int, nh: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(row, row) bool: following the first next hops ``nh`` (node, node) hop by hop over the links
    up at step k leads from node ``rows[p]`` to node ``rows[q]`` -- no hop missing, down or looping.
    ``rows`` (m,) node indices.  The diagonal is False.  Further equal-cost next hops are not
    followed: a flow the kernel hashes onto one of them is not vouched for."""
    from topologies.strategies import follow_cost

    n = series.n_nodes
    ids, _ = series.active(k)
    up = np.full((n, n), np.inf)
    up[series.link_a[ids], series.link_b[ids]] = 1.0
    up[series.link_b[ids], series.link_a[ids]] = 1.0
    rows = np.asarray(rows, dtype=np.int64)
    src, dst = np.repeat(rows, rows.size), np.tile(rows, rows.size)
    ok = np.isfinite(follow_cost(nh, up, np.ones(n, bool), src, dst)).reshape(rows.size, rows.size)
    np.fill_diagonal(ok, False)
    return ok
