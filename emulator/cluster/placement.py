"""Which host runs which node: whole orbital planes per host, the rest where it cuts fewest links.

Pure computation (no Ray, no root).  Nodes are grouped into *units*:
every orbital plane (satellites sharing shell, layer and plane number) is
one unit, so the links inside a plane never cross hosts; every other node
(ground stations, satellites without a plane) is a unit of its own.

1. The planes of the LEO shells, in shell then plane order, are cut into
   ``n_hosts`` contiguous runs of about equal node count: neighbouring
   planes (joined by the cross-plane ISLs of a +Grid) share a host, so only
   the planes at the ends of each run have links leaving it.
2. Every other unit (BDS planes, GEOs, ground stations), largest first,
   then heaviest first,
   goes to the host it has most link weight to, among hosts that stay
   within the node cap ``ceil(nodes / n_hosts) + slack`` (or, when no host
   has room for a whole plane, to the least loaded); ties go to the
   least loaded host, then the lowest index.  Then single units move while
   a move lowers the cut weight and keeps the cap.

A link's weight is the number of steps it is up over the run (from the
link series), so a station's ground links pull it to the hosts of the
satellites it talks to most.  Deterministic: same series, same placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Placement:
    """host[i] = the host index of node i, shape (node,)."""

    host: np.ndarray            # (node,) int
    n_hosts: int
    cross_links: int            # distinct links whose ends are on different hosts
    cross_link_steps: int       # sum over steps of the cross-host links up
    local_links: int

    def nodes_on(self, h: int) -> list[int]:
        return np.flatnonzero(self.host == h).tolist()

    def counts(self) -> list[int]:
        return np.bincount(self.host, minlength=self.n_hosts).tolist()

    def describe(self, series) -> str:
        """A few lines: nodes and layers per host, and the cross-host link count."""
        lines = []
        for h in range(self.n_hosts):
            idx = self.nodes_on(h)
            layers: dict[str, int] = {}
            for i in idx:
                layers[series.node_layer[i]] = layers.get(series.node_layer[i], 0) + 1
            what = ", ".join(f"{n} {lay}" for lay, n in sorted(layers.items()))
            lines.append(f"host {h}: {len(idx)} nodes ({what})")
        lines.append(f"cross-host links: {self.cross_links} of {self.cross_links + self.local_links} "
                     f"({self.cross_link_steps} link-steps)")
        return "\n".join(lines)


def link_weights(series) -> np.ndarray:
    """Steps each link is up over the run, shape (link,)."""
    return np.bincount(series.link_id, minlength=series.n_links).astype(np.int64)


def units_of(series, planes: list) -> tuple[list[list[int]], list[bool]]:
    """Node groups (planes, then single nodes) and whether each is a LEO plane.

    ``planes[i]`` is node i's plane number or None (ground, no plane)."""
    groups: dict[tuple, list[int]] = {}
    singles: list[list[int]] = []
    for i, p in enumerate(planes):
        if p is None or series.node_layer[i] == "GROUND":
            singles.append([i])
        else:
            groups.setdefault((series.node_shell[i], series.node_layer[i], int(p)), []).append(i)
    keys = sorted(groups, key=lambda k: (k[0], k[1], k[2]))
    units = [groups[k] for k in keys] + singles
    leo = [k[1] == "LEO" and len(groups[k]) > 1 for k in keys] + [False] * len(singles)
    return units, leo


def evaluate(series, host: np.ndarray, n_hosts: int) -> Placement:
    """Count the cross-host links of an assignment."""
    cross = host[series.link_a] != host[series.link_b]
    w = link_weights(series)
    return Placement(host=host, n_hosts=n_hosts, cross_links=int(cross.sum()),
                     cross_link_steps=int(w[cross].sum()), local_links=int((~cross).sum()))


def round_robin(series, n_hosts: int) -> Placement:
    """The naive placement (node i on host i mod n), for comparison."""
    return evaluate(series, np.arange(series.n_nodes) % n_hosts, n_hosts)


def place(series, n_hosts: int, planes: list, slack: int = 1) -> Placement:
    """Place every node of ``series`` on one of ``n_hosts`` hosts (see the module docstring)."""
    if n_hosts < 1:
        raise ValueError(f"n_hosts: {n_hosts}; accepted >= 1")
    if len(planes) != series.n_nodes:
        raise ValueError(f"planes: {len(planes)} entries for {series.n_nodes} nodes")
    units, is_leo = units_of(series, planes)
    host = np.full(series.n_nodes, -1, dtype=np.int64)
    cap = math.ceil(series.n_nodes / n_hosts) + slack
    cap = max(cap, max(len(u) for u in units))
    _split_contiguous([u for u, leo in zip(units, is_leo) if leo], n_hosts, host)
    rest = [u for u, leo in zip(units, is_leo) if not leo]
    adj = _unit_graph(series, units)
    unit_of = np.empty(series.n_nodes, dtype=np.int64)
    for j, u in enumerate(units):
        unit_of[u] = j
    rest_ids = [j for j, leo in enumerate(is_leo) if not leo]
    total_w = {j: sum(adj[j].values()) for j in rest_ids}
    for j in sorted(rest_ids, key=lambda j: (-len(units[j]), -total_w[j], units[j][0])):
        _put(j, units, adj, host, unit_of, n_hosts, cap)
    for _ in range(4):
        if not any(_improve(j, units, adj, host, unit_of, n_hosts, cap) for j in rest_ids):
            break
    return evaluate(series, host, n_hosts)


def _split_contiguous(planes: list[list[int]], n_hosts: int, host: np.ndarray) -> None:
    """Planes in order into n_hosts runs of about equal node count."""
    total = sum(len(p) for p in planes)
    done = 0
    for p in planes:
        h = min(n_hosts - 1, int((done + len(p) / 2) * n_hosts // max(total, 1)))
        host[p] = h
        done += len(p)


def _unit_graph(series, units) -> list[dict[int, int]]:
    """adj[u][v] = total weight of the links between units u and v (u != v)."""
    unit_of = np.empty(series.n_nodes, dtype=np.int64)
    for j, u in enumerate(units):
        unit_of[u] = j
    w = link_weights(series)
    ua, ub = unit_of[series.link_a], unit_of[series.link_b]
    adj: list[dict[int, int]] = [dict() for _ in units]
    for a, b, x in zip(ua.tolist(), ub.tolist(), w.tolist()):
        if a != b and x:
            adj[a][b] = adj[a].get(b, 0) + x
            adj[b][a] = adj[b].get(a, 0) + x
    return adj


def _affinity(j, adj, host, units, n_hosts) -> np.ndarray:
    """Link weight from unit j to each host (only to units already placed)."""
    aff = np.zeros(n_hosts, dtype=np.int64)
    for v, x in adj[j].items():
        h = host[units[v][0]]
        if h >= 0:
            aff[h] += x
    return aff


def _put(j, units, adj, host, unit_of, n_hosts, cap) -> None:
    load = np.bincount(host[host >= 0], minlength=n_hosts)
    aff = _affinity(j, adj, host, units, n_hosts)
    size = len(units[j])
    ok = [h for h in range(n_hosts) if load[h] + size <= cap] or [int(np.argmin(load))]
    best = min(ok, key=lambda h: (-aff[h], load[h], h))
    host[units[j]] = best


def _improve(j, units, adj, host, unit_of, n_hosts, cap) -> bool:
    """Move unit j where its affinity is higher, if the cap allows; True when moved."""
    cur = int(host[units[j][0]])
    aff = _affinity(j, adj, host, units, n_hosts)
    load = np.bincount(host, minlength=n_hosts)
    size = len(units[j])
    better = [h for h in range(n_hosts) if h != cur and aff[h] > aff[cur] and load[h] + size <= cap]
    if not better:
        return False
    host[units[j]] = max(better, key=lambda h: (aff[h], -h))
    return True


def node_planes(scene) -> list:
    """Plane number of every node of a bound scene (satellites first, then stations: None)."""
    return [s.plane for s in scene.satellites] + [None] * (scene.n_nodes - len(scene.satellites))
