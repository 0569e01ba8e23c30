"""Events on top of the orbits: failures, and weather on ground links.

Events are declared in the scenario (``events:``) and applied to a built
:class:`~topologies.series.LinkSeries`.  A failure removes the affected
links from the steps it covers -- so predicted routes, the live network and
OSPF all see the same failure.  A weather fade with ``loss_pct`` leaves
the links up but gives the chosen stations' ground links a loss for its
window (per direction, as netem applies it on each end; the live network
changes the links' netem loss at the window's first and last step).  A
weather fade with ``rain_mm_h`` or ``exceedance_pct`` is physical: over
named stations or every station in a ``circle``, the ground links are
re-budgeted with that rain (ITU-R P.838/P.618 via the scenario's
``link_budget``), so their capacity drops, possibly to a lower MODCOD,
lossy or down (then routing sees it)::

    events:
      - {type: link-down, a: leo-0-01, b: leo-0-02, at_s: 60, until_s: 120}
      - {type: node-down, node: bds3-M05, at_s: 30}            # until the end
      - {type: random-failure, group: leo, share: 0.1, seed: 7, at_s: 200, until_s: 400}
      - {type: weather-fade, stations: [Beijing, Kashi], loss_pct: 20, at_s: 10, until_s: 40}
      - {type: weather-fade, stations: [Beijing], rain_mm_h: 25, at_s: 100, until_s: 300}
      - {type: weather-fade, circle: {lat_deg: 30, lon_deg: 114, radius_km: 500},
         exceedance_pct: 0.01, at_s: 0}

``until_s`` omitted means "to the end of the run".  Random failures pick
``round(share * n)`` nodes of the group with a seeded generator, so a run
is repeatable.  Routing ignores losses: a lossy link is still the shortest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .rules import KINDS
from .series import LinkSeries


class EventError(ValueError):
    """An event that does not fit the run (unknown node or link, time outside the run)."""


@dataclass
class Failure:
    """Nodes and/or node pairs that are down from step ``k0`` up to (not including) ``k1``."""

    k0: int
    k1: int
    nodes: tuple[int, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()
    label: str = ""


def _steps(series: LinkSeries, ev: dict, where: str) -> tuple[int, int]:
    dur = series.axis.duration_s
    at = ev.get("at_s")
    until = ev.get("until_s", None)
    if not isinstance(at, (int, float)) or isinstance(at, bool) or not 0 <= at <= dur:
        raise EventError(f"{where}.at_s: {at!r} is outside the run (0 to {dur:g} s)")
    if until is not None and (not isinstance(until, (int, float)) or not at < until <= dur + series.axis.step_s):
        raise EventError(f"{where}.until_s: {until!r} must be after at_s and within the run")
    k0 = int(np.ceil(at / series.axis.step_s - 1e-9))
    k1 = series.n_steps if until is None else int(np.ceil(until / series.axis.step_s - 1e-9))
    return k0, k1


def _node(series: LinkSeries, name, where: str) -> int:
    try:
        return series.index(str(name))
    except KeyError:
        raise EventError(f"{where}: unknown node {name!r}") from None


@dataclass
class Fade:
    """Weather over ``stations`` from step ``k0`` up to ``k1``: a set loss, or rain through the budget.

    Either ``loss_pct`` (per direction; the links keep their capacity) or
    ``rain`` = ("rain_mm_h", R) / ("exceedance_pct", p): the stations' ground
    links are re-budgeted with that rain (:mod:`topologies.linkbudget`), so
    their capacity falls, possibly to a lower MODCOD, lossy or down.
    """

    k0: int
    k1: int
    stations: tuple[int, ...]
    loss_pct: float | None = None
    label: str = ""
    rain: tuple[str, float] | None = None


KNOWN = {"link-down": {"a", "b"}, "node-down": {"node"}, "random-failure": {"group", "share", "seed"},
         "weather-fade": {"stations", "circle", "loss_pct", "rain_mm_h", "exceedance_pct"}}


def _number(ev: dict, key: str, lo: float, hi: float, w: str, what: str) -> float:
    v = ev.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi or (lo == 0 and v == 0):
        raise EventError(f"{w}.{key}: {what}, got {v!r}")
    return float(v)


def _fade_stations(series: LinkSeries, ev: dict, w: str) -> list[int]:
    """Ground nodes named by ``stations`` or lying in ``circle`` (exactly one of them)."""
    if ("stations" in ev) == ("circle" in ev):
        raise EventError(f"{w}.stations: give stations (names) or circle ({{lat_deg, lon_deg, radius_km}}), not both")
    if "circle" in ev:
        return _circle_stations(series, ev["circle"], f"{w}.circle")
    names = ev.get("stations")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        raise EventError(f"{w}.stations: a ground station name or a list of them, got {names!r}")
    nodes = []
    for j, name in enumerate(names):
        n = _node(series, name, f"{w}.stations[{j}]")
        if series.node_layer[n] != "GROUND":
            raise EventError(f"{w}.stations[{j}]: {name!r} is a satellite; weather fades apply to ground stations")
        nodes.append(n)
    return nodes


def _circle_stations(series: LinkSeries, circle, w: str) -> list[int]:
    from .geometry import great_circle_km

    if not isinstance(circle, dict) or set(circle) != {"lat_deg", "lon_deg", "radius_km"}:
        raise EventError(f"{w}: a mapping {{lat_deg, lon_deg, radius_km}}, got {circle!r}")
    lat = _number(circle, "lat_deg", -90, 90, w, "a latitude in degrees, -90 to 90")
    lon = _number(circle, "lon_deg", -180, 360, w, "a longitude in degrees, -180 to 360")
    radius = _number(circle, "radius_km", 0, 20_000, w, "a radius in km, 0 < radius_km <= 20000")
    if series.budget is None:
        raise EventError(f"{w}: a circle needs station positions, which the series has only with a "
                         "link_budget section; name the stations instead")
    sites = series.budget["stations"]
    nodes = [series.index(name) for name, (la, lo, _) in sites.items()
             if great_circle_km(lat, lon, la, lo) <= radius]
    if not nodes:
        raise EventError(f"{w}: no ground station within {radius:g} km of ({lat:g}, {lon:g})")
    return sorted(nodes)


def _fade(series: LinkSeries, ev: dict, k0: int, k1: int, w: str) -> Fade:
    nodes = _fade_stations(series, ev, w)
    where_names = ", ".join(series.node_names[n] for n in nodes)
    given = [k for k in ("loss_pct", "rain_mm_h", "exceedance_pct") if k in ev]
    if len(given) != 1:
        raise EventError(f"{w}.loss_pct: give exactly one of loss_pct (a set loss), rain_mm_h or exceedance_pct "
                         "(rain through the link budget)")
    if given[0] == "loss_pct":
        loss = _number(ev, "loss_pct", 0, 100, w, "a loss in percent, 0 < loss_pct <= 100")
        return Fade(k0, k1, tuple(nodes), loss, f"weather fade {loss:g} % at {where_names}")
    if series.budget is None:
        raise EventError(f"{w}.{given[0]}: rain goes through the link budget; the scenario needs a link_budget "
                         "section for ground links (or give loss_pct)")
    if given[0] == "rain_mm_h":
        value = _number(ev, "rain_mm_h", 0, 300, w, "a rain rate in mm/h, 0 < rain_mm_h <= 300")
        label = f"rain {value:g} mm/h at {where_names}"
    else:
        value = _number(ev, "exceedance_pct", 0.001, 5, w, "an exceedance percentage, 0.001 to 5 (ITU-R P.618)")
        label = f"rain exceeded {value:g} % of the year at {where_names}"
    return Fade(k0, k1, tuple(nodes), None, label, rain=(given[0], value))


def parse_events(series: LinkSeries, events: list, where: str = "events") -> list:
    """Check scenario events against the series; one :class:`Failure` or :class:`Fade` each."""
    out = []
    for i, ev in enumerate(events or []):
        w = f"{where}[{i}]"
        if not isinstance(ev, dict) or ev.get("type") not in KNOWN:
            got = ev.get("type") if isinstance(ev, dict) else ev
            raise EventError(f"{w}.type: unknown event {got!r}; accepted: {', '.join(KNOWN)}")
        allowed = KNOWN[ev["type"]] | {"type", "at_s", "until_s"}
        extra = sorted(set(ev) - allowed)
        if extra:
            raise EventError(f"{w}.{extra[0]}: unknown key; accepted: {', '.join(sorted(allowed))}")
        k0, k1 = _steps(series, ev, w)
        if ev["type"] == "link-down":
            a, b = _node(series, ev.get("a"), f"{w}.a"), _node(series, ev.get("b"), f"{w}.b")
            lo, hi = min(a, b), max(a, b)
            if not ((series.link_a == lo) & (series.link_b == hi)).any():
                raise EventError(f"{w}: there is no link {ev['a']}--{ev['b']} in this run")
            out.append(Failure(k0, k1, pairs=((lo, hi),), label=f"link {ev['a']}--{ev['b']} down"))
        elif ev["type"] == "weather-fade":
            out.append(_fade(series, ev, k0, k1, w))
        elif ev["type"] == "node-down":
            n = _node(series, ev.get("node"), f"{w}.node")
            out.append(Failure(k0, k1, nodes=(n,), label=f"node {ev['node']} down"))
        else:
            group = str(ev.get("group", ""))
            members = [j for j, (shell, layer) in enumerate(zip(series.node_shell, series.node_layer))
                       if group.lower() in (shell.lower(), layer.lower()) and layer != "GROUND"]
            if not members:
                raise EventError(f"{w}.group: no satellites in group {group!r}")
            share = ev.get("share")
            if not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise EventError(f"{w}.share: a fraction in (0, 1], got {share!r}")
            rng = np.random.default_rng(ev.get("seed", 0))
            chosen = rng.choice(members, size=max(1, int(round(share * len(members)))), replace=False)
            out.append(Failure(k0, k1, nodes=tuple(int(c) for c in sorted(chosen)),
                               label=f"{len(chosen)} of {len(members)} {group} satellites down"))
    return out


def apply_events(series: LinkSeries, events: list) -> LinkSeries:
    """A new series with the failures' links removed and the fades' losses set."""
    series = apply_failures(series, [e for e in events if isinstance(e, Failure)])
    return apply_fades(series, [e for e in events if isinstance(e, Fade)])


def apply_fades(series: LinkSeries, fades: list[Fade]) -> LinkSeries:
    """A new series with the fades: set losses in ``step_loss_pct`` (overlaps: the larger), rain re-budgeted."""
    for f in (f for f in fades if f.rain is not None):  # first: they may take entries out
        series = _rain(series, np.flatnonzero(_fade_hits(series, f)), f.rain)
    set_loss = [f for f in fades if f.rain is None]
    if set_loss:
        loss = (np.full(series.link_id.size, np.nan, dtype=np.float32) if series.step_loss_pct is None
                else series.step_loss_pct.copy())
        for f in set_loss:
            hit = _fade_hits(series, f)
            loss[hit] = np.fmax(loss[hit], f.loss_pct)
        series = replace(series, step_loss_pct=loss)
    return series


def _fade_hits(series: LinkSeries, f: Fade) -> np.ndarray:
    """(nnz,) bool: the ground-link entries of the fade's stations within its window."""
    step_of = series.step_of_entry()
    a, b = series.link_a[series.link_id], series.link_b[series.link_id]
    ground = series.link_kind[series.link_id] == KINDS.index("ground")
    return ground & (step_of >= f.k0) & (step_of < f.k1) & (np.isin(a, f.stations) | np.isin(b, f.stations))


def _rain(series: LinkSeries, hit: np.ndarray, rain: tuple[str, float]) -> LinkSeries:
    """Re-budget entries ``hit`` (indices into link_id) with ``rain``; the worse of old and new wins."""
    from .linkbudget import LinkBudget

    budget = LinkBudget.for_series(series)
    uniq, inv = np.unique(series.link_id[hit], return_inverse=True)
    spec = np.array([budget.spec_index("ground", int(series.link_a[i]), int(series.link_b[i]))
                     for i in uniq.tolist()], dtype=np.int64)[inv]
    a, b = series.link_a[series.link_id[hit]], series.link_b[series.link_id[hit]]
    hit, spec, a, b = hit[spec >= 0], spec[spec >= 0], a[spec >= 0], b[spec >= 0]
    res = budget.evaluate(spec, series.distance_km[hit].astype(np.float64),
                          series.step_elevation_deg[hit].astype(np.float64), np.maximum(a, b), rain=rain)
    cap, loss, mc = series.step_capacity_mbps.copy(), series.step_loss_pct.copy(), series.step_modcod.copy()
    worse = ~(res.capacity_mbps >= cap[hit])
    cap[hit] = np.where(worse, res.capacity_mbps, cap[hit])
    mc[hit] = np.where(worse, res.modcod, mc[hit])
    loss[hit] = np.fmax(loss[hit], res.loss_pct)
    series = replace(series, step_capacity_mbps=cap, step_loss_pct=loss, step_modcod=mc,
                     **_rain_by_end(series, hit, res, a > b))
    keep = np.ones(series.link_id.size, dtype=bool)
    keep[hit[~res.up]] = False
    return series if keep.all() else series.keep_entries(keep)


def _rain_by_end(series: LinkSeries, hit: np.ndarray, res, a_is_station: np.ndarray) -> dict:
    """The per-end capacities (each end's own direction) after rain on entries ``hit``: the worse of
    old and new per end; {} when the series carries none."""
    from .linkbudget import egress_by_end

    if series.step_capacity_a_mbps is None or series.step_capacity_b_mbps is None:
        return {}
    out = {}
    for name, new in zip(("step_capacity_a_mbps", "step_capacity_b_mbps"), egress_by_end(res, a_is_station)[:2]):
        arr = getattr(series, name).copy()
        old = arr[hit]
        arr[hit] = np.where(np.isnan(old) | (new < old), new, old)
        out[name] = arr
    return out


def apply_failures(series: LinkSeries, failures: list[Failure]) -> LinkSeries:
    """A new series without the links that the failures take down at each step."""
    if not failures:
        return series
    keep = np.ones(series.link_id.size, dtype=bool)
    step_of = np.repeat(np.arange(series.n_steps), np.diff(series.indptr))
    a, b = series.link_a[series.link_id], series.link_b[series.link_id]
    for f in failures:
        in_window = (step_of >= f.k0) & (step_of < f.k1)
        hit = np.isin(a, f.nodes) | np.isin(b, f.nodes)
        for lo, hi in f.pairs:
            hit |= (a == lo) & (b == hi)
        keep &= ~(in_window & hit)
    return series.keep_entries(keep)
