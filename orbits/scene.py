"""The :class:`Scene`: every satellite and ground station of a run, as numbered nodes.

Nodes are numbered satellites first (in the order given), then ground
stations.  Node groups let link rules name sets of nodes: a shell name
(``leo``, ``bds3``), a layer (``LEO``, ``MEO``, ``IGSO``, ``GEO``, any case),
or ``ground``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .propagation import Propagator
from .satellite import LAYERS, Satellite
from .stations import GroundStation, local_up, station_positions_km
from .timebase import TimeAxis


class UnknownGroup(KeyError):
    """A node or group name the scene does not have; ``name`` is the name asked for."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name

    def __str__(self):
        return self.args[0]


class Scene:
    """Satellites and ground stations as one numbered node set.

    ``positions_km(t)`` gives ITRS km positions of all nodes, shape
    (time, node, 3): satellites propagated, stations fixed.
    """

    def __init__(self, satellites: list[Satellite], stations: list[GroundStation]):
        self.satellites = list(satellites)
        self.stations = list(stations)
        self.propagator = Propagator(self.satellites)
        names = self.node_names
        if len(set(n.lower() for n in names)) != len(names):
            dup = sorted({n for n in names if sum(m.lower() == n.lower() for m in names) > 1})
            raise ValueError(f"duplicate node names: {', '.join(dup[:5])}")
        self._index = {n.lower(): i for i, n in enumerate(names)}

    @property
    def n_sats(self) -> int:
        return len(self.satellites)

    @property
    def n_nodes(self) -> int:
        return len(self.satellites) + len(self.stations)

    @cached_property
    def node_names(self) -> list[str]:
        return [s.node for s in self.satellites] + [g.name for g in self.stations]

    @cached_property
    def node_layer(self) -> list[str]:
        """LEO/MEO/IGSO/GEO for satellites, GROUND for stations."""
        return [s.layer for s in self.satellites] + ["GROUND"] * len(self.stations)

    @cached_property
    def node_shell(self) -> list[str]:
        return [s.shell for s in self.satellites] + ["ground"] * len(self.stations)

    @cached_property
    def ground_indices(self) -> np.ndarray:
        return np.arange(self.n_sats, self.n_nodes)

    @cached_property
    def station_positions_km(self) -> np.ndarray:
        """ITRS km of the stations, shape (station, 3)."""
        return station_positions_km(self.stations)

    @cached_property
    def station_up(self) -> np.ndarray:
        """Unit local vertical of each station, ITRS, shape (station, 3)."""
        lat = np.radians([g.lat_deg for g in self.stations])
        lon = np.radians([g.lon_deg for g in self.stations])
        return local_up(lat, lon).reshape(-1, 3)

    def index(self, name: str) -> int:
        """Node index of a satellite node name or station name (case ignored)."""
        try:
            return self._index[name.lower()]
        except KeyError:
            raise UnknownGroup(f"unknown node {name!r}", name) from None

    def shells(self) -> list[str]:
        return list(dict.fromkeys(s.shell for s in self.satellites))

    def group_names(self) -> list[str]:
        """Every name a link rule may use for a group of nodes."""
        layers = [l.lower() for l in LAYERS if l in set(self.node_layer)]
        return list(dict.fromkeys(self.shells() + layers + ["ground"]))  # a shell may be named like a layer

    def group(self, name: str) -> np.ndarray:
        """Node indices of a group: a shell, a layer, ``ground``, ``shell:LAYER``, or explicitly
        ``shell:NAME`` / ``layer:NAME``.  A bare name that is both a shell and a layer with
        different satellites is refused as ambiguous."""
        key = name.lower()
        shells = [s.lower() for s in self.node_shell]
        layers = [l.lower() for l in self.node_layer]
        in_shell = lambda k: [i for i in range(self.n_sats) if shells[i] == k]  # noqa: E731
        in_layer = lambda k: [i for i in range(self.n_sats) if layers[i] == k]  # noqa: E731
        explicit, _, rest = key.partition(":")
        shell, _, layer = key.partition(":")
        if explicit in ("shell", "layer") and rest:  # shell:NAME, layer:NAME say which one is meant
            idx = in_shell(rest) if explicit == "shell" else in_layer(rest)
        elif layer:
            idx = [i for i in range(self.n_nodes) if shells[i] == shell and layers[i] == layer]
        elif key == "ground":
            idx = list(self.ground_indices)
        elif key in (l.lower() for l in LAYERS):
            idx = in_layer(key)
            if key in shells and in_shell(key) != idx:  # a shell named like a layer that is not all of it
                raise UnknownGroup(
                    f"{name!r} is both a shell ({len(in_shell(key))} satellites) and the {key.upper()} layer "
                    f"({len(idx)} satellites); write 'shell:{key}' or 'layer:{key}'", name)
        else:
            idx = in_shell(key)
        if not idx:
            raise UnknownGroup(
                f"unknown or empty node group {name!r}; groups here: {', '.join(self.group_names())}", name
            )
        return np.array(idx, dtype=np.int64)

    def positions_km(self, t) -> np.ndarray:
        """ITRS km of all nodes at Skyfield Time t, shape (time, node, 3)."""
        sat = self.propagator.positions_km(t)
        ground = np.broadcast_to(self.station_positions_km, (sat.shape[0],) + self.station_positions_km.shape)
        if self.movers.size:
            ground = self.station_positions_at(t)
        return np.concatenate([sat, ground], axis=1)

    @cached_property
    def movers(self) -> np.ndarray:
        """Indices into ``stations`` of the ground nodes that move (:mod:`orbits.mobile`), shape (mover,)."""
        return np.array([i for i, g in enumerate(self.stations) if getattr(g, "track", None) is not None],
                        dtype=np.int64)

    def station_positions_at(self, t) -> np.ndarray:
        """ITRS km of the stations at Skyfield Time t, movers on their tracks, shape (time, station, 3)."""
        n = np.atleast_1d(t.tt).size
        out = np.repeat(self.station_positions_km[None], n, axis=0)
        for i in self.movers.tolist():
            track = self.stations[i].track
            out[:, i] = track.positions_km(track.seconds(t))
        return out

    def station_up_at(self, t) -> np.ndarray:
        """Unit local vertical of the stations at Skyfield Time t, ITRS, shape (time, station, 3)."""
        n = np.atleast_1d(t.tt).size
        out = np.repeat(self.station_up[None], n, axis=0)
        for i in self.movers.tolist():
            track = self.stations[i].track
            out[:, i] = track.up(track.seconds(t))
        return out

    def chunks(self, axis: TimeAxis, chunk_steps: int = 128):
        """Yield (steps slice, positions (len, node, 3) km) over the axis."""
        for sl in axis.chunks(chunk_steps):
            yield sl, self.positions_km(axis.skyfield(sl))
