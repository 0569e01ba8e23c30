"""The viewer's scene: what the page draws, as plain JSON built from a link series and its scene.

Pure functions, no server and no files.  :func:`scene_json` describes a run
once: every node (name, layer, shell, colour group), its ITRS positions at
*position frames* (every few steps; the page interpolates between them),
every link the run ever has (ends, kind, ms per km) and, step by step, the
links that come up and go down -- deltas, never whole states, so a
1,700-node network over a full orbit stays a few megabytes.
:func:`route_json` is one station pair's predicted route (RTT per step and
the hop list at every path change, from :func:`topologies.routing.route_pair`);
:func:`coverage_json` is a coverage overlay (satellites in view and PDOP on a
latitude/longitude grid at sampled instants).

Large arrays travel as base64 of little-endian typed arrays
(``{"dtype": "float32", "shape": [...], "b64": "..."}``), which the page
turns into ``Float32Array`` / ``Int32Array`` views without parsing numbers.
"""

from __future__ import annotations

import base64
import math

import numpy as np

from orbits.propagation import Propagator
from orbits.scene import Scene
from orbits.stations import geodetic_to_itrs_km, local_up
from orbits.timebase import TimeAxis
from topologies.geometry import sin_elevation_and_range
from topologies.routing import route_pair
from topologies.rules import KINDS
from topologies.series import LinkSeries

#: Colours of the BeiDou-style layers and of ground stations (as in the PNG figures).
LAYER_COLORS = {"MEO": "#2ca02c", "IGSO": "#ff7f0e", "GEO": "#9467bd", "GROUND": "#f5f5f5"}
#: One colour per LEO shell, in the order the shells appear.
LEO_SHELL_COLORS = ("#4fc3f7", "#ffd54f", "#f06292", "#aed581", "#ba68c8", "#4db6ac", "#ff8a65")
#: Colour of each link kind.
KIND_COLORS = {"isl": "#6baed6", "inter-layer": "#b39ddb", "ground": "#d7a86e", "fiber": "#e6e600"}
#: Colour of a highlighted route.
ROUTE_COLOR = "#ff1744"

#: Position frames are at most this many node positions in all (about 12 bytes each).
MAX_POSITION_VALUES = 400_000


def packed(array: np.ndarray, dtype: str) -> dict:
    """A numpy array as ``{"dtype", "shape", "b64"}`` (little-endian bytes, base64)."""
    a = np.ascontiguousarray(np.asarray(array), dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def unpacked(obj: dict) -> np.ndarray:
    """Inverse of :func:`packed`."""
    raw = base64.b64decode(obj["b64"])
    return np.frombuffer(raw, dtype=np.dtype(obj["dtype"]).newbyteorder("<")).reshape(obj["shape"])


def node_groups(series: LinkSeries) -> tuple[list[dict], np.ndarray]:
    """Colour groups (one per shell and layer, plus ground) and each node's group, shape (node,)."""
    groups: list[dict] = []
    index: dict[tuple[str, str], int] = {}
    leo_shells: list[str] = []
    of_node = np.zeros(series.n_nodes, dtype=np.int32)
    for i, (layer, shell) in enumerate(zip(series.node_layer, series.node_shell)):
        key = (shell, layer)
        if key not in index:
            if layer == "LEO":
                leo_shells.append(shell)
                color = LEO_SHELL_COLORS[(len(leo_shells) - 1) % len(LEO_SHELL_COLORS)]
            else:
                color = LAYER_COLORS.get(layer, "#cccccc")
            label = "ground stations" if layer == "GROUND" else f"{shell} {layer}"
            index[key] = len(groups)
            groups.append({"shell": shell, "layer": layer, "label": label, "color": color, "count": 0})
        of_node[i] = index[key]
        groups[index[key]]["count"] += 1
    return groups, of_node


def position_steps(n_steps: int, n_nodes: int, step_s: float, every_s: float = 10.0) -> np.ndarray:
    """Steps at which positions are sent: about every ``every_s`` seconds, first and last included.

    The stride grows so that frames x nodes stays under
    :data:`MAX_POSITION_VALUES`.  Linear interpolation between frames 30 s
    apart is off by under 1 km for a LEO satellite (the chord's sag).
    """
    stride = max(1, int(round(every_s / step_s)))
    max_frames = max(2, MAX_POSITION_VALUES // max(1, n_nodes))
    stride = max(stride, math.ceil((n_steps - 1) / (max_frames - 1)) if n_steps > 1 else 1)
    steps = np.arange(0, n_steps, stride)
    if steps[-1] != n_steps - 1:
        steps = np.append(steps, n_steps - 1)
    return steps


def positions_km(scene: Scene, axis: TimeAxis, steps: np.ndarray) -> np.ndarray:
    """ITRS km of every node at the given steps, shape (frame, node, 3)."""
    return scene.positions_km(axis.skyfield(np.asarray(steps)))


def link_deltas(series: LinkSeries) -> dict:
    """Links up at step 0 and, for each later step, the ids that came up and went down (CSR)."""
    up_ptr, down_ptr, ups, downs = [0], [0], [], []
    prev = series.link_id[series.indptr[0]:series.indptr[1]]
    first = prev
    for k in range(1, series.n_steps):
        cur = series.link_id[series.indptr[k]:series.indptr[k + 1]]
        up = np.setdiff1d(cur, prev, assume_unique=True)
        down = np.setdiff1d(prev, cur, assume_unique=True)
        ups.append(up)
        downs.append(down)
        up_ptr.append(up_ptr[-1] + up.size)
        down_ptr.append(down_ptr[-1] + down.size)
        prev = cur
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int32)  # noqa: E731
    return {
        "initial": packed(first, "int32"),
        "up_ptr": packed(up_ptr, "int32"), "up": packed(cat(ups), "int32"),
        "down_ptr": packed(down_ptr, "int32"), "down": packed(cat(downs), "int32"),
    }


def scene_json(series: LinkSeries, scene: Scene, name: str = "scenario", pings: list[dict] | None = None,
               route: tuple[str, str] | None = None, t_s: float = 0.0, every_s: float = 10.0) -> dict:
    """Everything the page needs about a run (see the module docstring).

    ``scene`` must hold the series' nodes in the same order (satellites,
    then stations).  ``pings`` are measured samples (``t_s``, ``src``,
    ``dst``, ``rtt_ms_measured``, ``rtt_ms_predicted``) from a run's
    results.csv; ``route`` is the pair the page opens with; ``t_s`` the
    time it opens at.
    """
    if list(scene.node_names) != list(series.node_names):
        raise ValueError("the scene's nodes differ from the link series' nodes")
    groups, of_node = node_groups(series)
    steps = position_steps(series.n_steps, series.n_nodes, series.axis.step_s, every_s)
    pos = positions_km(scene, series.axis, steps)
    stations = [series.node_names[i] for i in series.ground_indices]
    return {
        "format": "sgemu-view-scene/1",
        "static": False,
        "name": name,
        "start": series.axis.start.isoformat().replace("+00:00", "Z"),
        "step_s": series.axis.step_s,
        "n_steps": series.n_steps,
        "duration_s": series.axis.duration_s,
        "initial_t_s": float(t_s),
        "nodes": {
            "names": list(series.node_names),
            "layer": list(series.node_layer),
            "shell": list(series.node_shell),
            "group": of_node.tolist(),
            "n_satellites": int(sum(l != "GROUND" for l in series.node_layer)),
            "n_stations": len(stations),
        },
        "groups": groups,
        "stations": stations,
        "frames": {"steps": steps.tolist(), "t_s": (steps * series.axis.step_s).tolist(),
                   "positions_km": packed(pos, "float32")},
        "kinds": [{"name": k, "color": KIND_COLORS[k]} for k in KINDS],
        "route_color": ROUTE_COLOR,
        "links": {
            "a": packed(series.link_a, "int32"), "b": packed(series.link_b, "int32"),
            "kind": packed(series.link_kind, "int8"), "ms_per_km": packed(series.ms_per_km, "float32"),
            **link_deltas(series),
        },
        "route": list(route) if route else None,
        "coverage_groups": coverage_groups(scene),
        "pings": [_ping_record(p) for p in (pings or [])],
    }


def _ping_record(p: dict) -> dict:
    def num(v):
        return None if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) else float(v)
    return {"t_s": float(p["t_s"]), "src": p["src"], "dst": p["dst"],
            "rtt_ms": num(p.get("rtt_ms_measured")), "predicted_rtt_ms": num(p.get("rtt_ms_predicted"))}


def route_json(series: LinkSeries, src: str, dst: str, ground_transit: bool = False) -> dict:
    """Predicted route src -> dst: RTT per step (null = unreachable) and the path at each change.

    ``paths`` lists ``{"step": k, "path": [node index, ...]}`` at step 0
    and at every step where the node sequence changes; the path in force
    at step k is the last entry with ``step <= k``.  Raises ``KeyError``
    for an unknown node.
    """
    i, j = series.index(src), series.index(dst)
    route = route_pair(series, i, j, ground_transit)
    changes = [0] + route.change_steps().tolist()
    rtt = [None if not np.isfinite(v) else round(float(v), 6) for v in route.rtt_ms]
    return {
        "src": series.node_names[i], "dst": series.node_names[j],
        "rtt_ms": rtt,
        "paths": [{"step": int(k), "path": [int(n) for n in route.paths[k]]} for k in changes],
        "summary": route.summary(),
    }


def grid_points(step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a global grid: latitudes (lat,) south to north and longitudes (lon,) west to east."""
    lat = np.arange(-90.0 + step_deg / 2, 90.0, step_deg)
    lon = np.arange(-180.0 + step_deg / 2, 180.0, step_deg)
    return lat, lon


def coverage_json(scene: Scene, axis: TimeAxis, group: str, step_deg: float = 5.0,
                  min_elevation_deg: float = 10.0, max_frames: int = 60) -> dict:
    """Satellites in view and PDOP of one satellite group on a lat/lon grid at sampled instants.

    ``group`` is anything :func:`experiments.coverage.satellite_groups`
    accepts (``bds3``, ``meo``, ``leo``, ...).  Returns ``visible``
    (frame, lat, lon) uint16 counts and, for navigation groups (no LEO;
    :func:`experiments.coverage.is_navigation`), ``pdop`` (frame, lat, lon)
    float32 with NaN where no fix is possible; the same elevation rule and
    PDOP as ``sgemu coverage``.  Raises
    :class:`experiments.coverage.UnknownLayer` for an unknown group.
    """
    from experiments.coverage import is_navigation, satellite_groups
    from experiments.dop import pdop_from_positions

    if "," in group:
        raise ValueError("give one group, not a list")
    idx = satellite_groups(scene, group)[group.strip().lower()]
    nav = is_navigation(scene, idx) and idx.size >= 4
    stride = max(1, math.ceil(axis.n_steps / max_frames))
    steps = np.arange(0, axis.n_steps, stride)
    lat, lon = grid_points(step_deg)
    glat, glon = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    rcv = geodetic_to_itrs_km(glat.ravel(), glon.ravel(), np.zeros(glat.size))
    up = local_up(glat.ravel(), glon.ravel())
    prop = Propagator([scene.satellites[i] for i in idx])
    sin_mask = math.sin(math.radians(min_elevation_deg))
    visible = np.zeros((steps.size, rcv.shape[0]), dtype=np.uint16)
    pdop = np.full((steps.size, rcv.shape[0]), np.nan, dtype=np.float32) if nav else None
    per_block = max(1, 2_000_000 // max(1, rcv.shape[0] * idx.size))
    for b0 in range(0, steps.size, per_block):
        block = steps[b0:b0 + per_block]
        sat = prop.positions_km(axis.skyfield(block))               # (time, sat, 3)
        sin_el, range_km = sin_elevation_and_range(rcv, up, sat)   # (time, point, sat)
        vis = sin_el >= sin_mask
        visible[b0:b0 + block.size] = vis.sum(-1)
        if nav:
            pdop[b0:b0 + block.size] = pdop_from_positions(rcv, sat, vis, range_km)
    shape = [steps.size, lat.size, lon.size]
    return {
        "group": group.lower(), "satellites": int(idx.size), "navigation": bool(nav),
        "min_elevation_deg": float(min_elevation_deg), "step_deg": float(step_deg),
        "lat_deg": lat.tolist(), "lon_deg": lon.tolist(),
        "steps": steps.tolist(), "t_s": (steps * axis.step_s).tolist(),
        "visible": packed(visible.reshape(shape), "uint16"),
        "pdop": packed(pdop.reshape(shape), "float32") if nav else None,
    }


def coverage_groups(scene: Scene) -> list[str]:
    """The groups an overlay can be asked for: each shell, then each layer present."""
    from experiments.coverage import satellite_groups

    return [g for g in satellite_groups(scene, "all") if g != "all"] if scene.n_sats else []
