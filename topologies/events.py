"""Events on top of the orbits: failures, and weather on ground links.

Events are declared in the scenario (``events:``) and applied to a built
:class:`~topologies.series.LinkSeries`.  A failure removes the affected
links from the steps it covers -- so predicted routes, the live network and
OSPF all see the same failure.  A weather fade leaves the links up but
gives the chosen stations' ground links a loss for its window (per
direction, as netem applies it on each end; the live network changes the
links' netem loss at the window's first and last step)::

    events:
      - {type: link-down, a: leo-0-01, b: leo-0-02, at_s: 60, until_s: 120}
      - {type: node-down, node: bds3-M05, at_s: 30}            # until the end
      - {type: random-failure, group: leo, share: 0.1, seed: 7, at_s: 200, until_s: 400}
      - {type: weather-fade, stations: [Beijing, Kashi], loss_pct: 20, at_s: 10, until_s: 40}

``until_s`` omitted means "to the end of the run".  Random failures pick
``round(share * n)`` nodes of the group with a seeded generator, so a run
is repeatable.  Routing ignores fades: a lossy link is still the shortest.
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
    """Ground links of ``stations`` lose ``loss_pct`` % per direction from step ``k0`` up to ``k1``."""

    k0: int
    k1: int
    stations: tuple[int, ...]
    loss_pct: float
    label: str = ""


KNOWN = {"link-down": {"a", "b"}, "node-down": {"node"}, "random-failure": {"group", "share", "seed"},
         "weather-fade": {"stations", "loss_pct"}}


def _fade(series: LinkSeries, ev: dict, k0: int, k1: int, w: str) -> Fade:
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
    loss = ev.get("loss_pct")
    if not isinstance(loss, (int, float)) or isinstance(loss, bool) or not 0 < loss <= 100:
        raise EventError(f"{w}.loss_pct: a loss in percent, 0 < loss_pct <= 100, got {loss!r}")
    label = f"weather fade {loss:g} % at {', '.join(series.node_names[n] for n in nodes)}"
    return Fade(k0, k1, tuple(nodes), float(loss), label)


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
    """A new series whose ``step_loss_pct`` carries the fades (overlapping fades: the larger loss)."""
    if not fades:
        return series
    loss = (np.full(series.link_id.size, np.nan, dtype=np.float32) if series.step_loss_pct is None
            else series.step_loss_pct.copy())
    step_of = np.repeat(np.arange(series.n_steps), np.diff(series.indptr))
    a, b = series.link_a[series.link_id], series.link_b[series.link_id]
    ground = series.link_kind[series.link_id] == KINDS.index("ground")
    for f in fades:
        hit = ground & (step_of >= f.k0) & (step_of < f.k1) & (np.isin(a, f.stations) | np.isin(b, f.stations))
        loss[hit] = np.fmax(loss[hit], f.loss_pct)
    return replace(series, step_loss_pct=loss)


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
