"""A scenario's overview for teaching: one self-contained HTML page that puts the pictures side by side.

An educator showing a constellation wants, for one scenario and on one
page: how the network moves (the snapshot animation with a route), where
on Earth a position fix is possible and how good it is (coverage maps),
what one station sees of the sky (a sky plot) and where the satellites go
(ground tracks), each with a few sentences that say what to look at.
:func:`overview_page` builds that page from things computed elsewhere in
this package; ``sgemu overview`` gathers them for a scenario.

Windows: coverage, sky plots and ground tracks use the *orbit window*
(by default a day, which is what the navigation layers repeat over); a
shell made only of LEO satellites is covered and drawn over one of its
orbital periods at one-minute steps instead (:func:`shell_window`).  The
animation uses the scenario's own window.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from orbits.scene import Scene
from orbits.stations import GroundStation
from orbits.timebase import TimeAxis

from .coverage import Coverage
from .coveragemap import coverage_figure
from .figures import duration_text, plural
from .groundtrack import ground_tracks, groundtrack_map
from .report import Section, file_image_tag, html_table, image_tag, page, scenario_html, when_text
from .skyplot import sky_tracks, skyplot

#: Minutes per turn of a satellite's orbit from its SGP4 mean motion (radians per minute).
_TWO_PI = 2.0 * np.pi


def orbital_period_s(scene: Scene, idx: np.ndarray) -> float:
    """The longest orbital period (s) among satellites ``idx`` of the scene (SGP4 mean motion)."""
    no = [scene.satellites[i].earth_satellite.model.no_kozai for i in idx]
    return float(60.0 * _TWO_PI / min(no))


def shell_window(scene: Scene, shell: str, day: TimeAxis) -> TimeAxis:
    """The window a shell is drawn and covered over: ``day``, or for an all-LEO shell one orbital period
    at steps of at most a minute.

    A LEO satellite crosses a 3-degree cell in well under a minute, so a
    10-minute step samples a LEO shell's repeating pattern at a few phases
    only and draws dashed stripes that are not there; and a day of LEO
    tracks covers the map in lines.
    """
    idx = scene.group(shell)
    if any(scene.satellites[i].layer != "LEO" for i in idx):
        return day
    period = orbital_period_s(scene, idx)
    step = min(day.step_s, 60.0)
    return TimeAxis.from_duration(day.start, min(period, day.duration_s), step)


def headline_order(covs: dict[str, Coverage]) -> list[str]:
    """Shells to show first: those that give a position fix alone, then by number of satellites."""
    names = list(covs)

    def key(n):
        g = covs[n].groups[n]
        return (not (g.navigation and g.fix_alone), -g.n_sats, names.index(n))
    return sorted(names, key=key)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def coverage_section(covs: dict[str, Coverage], dpi: int) -> Section:
    """Coverage maps of each shell (navigation shells first) and a table of every group.

    ``covs`` maps a shell name to its coverage (the shell and its layers as groups).
    """
    order = headline_order(covs)
    first = covs[order[0]]
    parts = [f"<p>Each cell of a {first.grid.step_deg:g}° grid counts the satellites above the "
             f"{first.min_elevation_deg:g}° mask for {duration_text(first.axis.duration_s)} from "
             f"{_e(when_text(first.axis.start))}. A receiver needs four satellites for a position fix; PDOP says "
             "how much their geometry magnifies ranging errors (1 is ideal, below 2 excellent, above 6 hardly "
             "usable). The maps show what holds 95 % of the time, so a rare moment does not paint the map.</p>"]
    rows = []
    for shell in order:
        cov = covs[shell]
        s = cov.summary()
        g = s["groups"][shell]
        if g.get("fix_alone"):
            parts.append(f"<p><b>{_e(shell)}</b>: PDOP ≤ {cov.pdop_limit:g} between "
                         f"{g['pct_time_pdop_ok_min']:.0f} % and {g['pct_time_pdop_ok_max']:.0f} % of the time "
                         f"depending on the place; a usable fix (PDOP ≤ {s['usable_pdop']:g}) "
                         f"{g['pct_time_fix_mean']:.1f} % of the time on average over the globe.</p>")
        for name, rec in s["groups"].items():
            pdop = "–" if not rec.get("fix_alone") else ("no fix" if rec.get("pdop_median") is None
                                                         else rec["pdop_median"])
            rows.append([name, rec["satellites"], duration_text(cov.axis.step_s), rec["visible_mean"],
                         rec["visible_min"], rec["visible_max"], pdop, rec.get("fix_note", "")])
    for shell in order:
        parts.append(f"<h3>{_e(shell)}</h3>" + image_tag(coverage_figure(covs[shell], shell), f"coverage of {shell}",
                                                    dpi=dpi))
    parts.append(html_table(["group", "satellites", "every", "in view mean", "min", "max", "PDOP median", "note"], rows))
    return Section("Where a position fix is possible", "\n".join(parts), "coverage")


def sky_section(scene: Scene, station: GroundStation, windows: dict[str, TimeAxis], min_elevation_deg: float,
                dpi: int) -> Section:
    """One sky plot per shell over the station."""
    parts = [f"<p>The sky over {_e(station.name)} ({station.lat_deg:.2f}°, {station.lon_deg:.2f}°): "
             "the centre is the zenith, the outer circle the horizon, north up and east to the right. "
             "Each line is a satellite's path across the sky, solid above the elevation mask (dashed ring). "
             "GEO satellites stand still, IGSO ones trace a narrow figure eight, MEO and LEO ones cross.</p>"]
    for shell, axis in windows.items():
        tracks = sky_tracks(scene, station, axis, scene.group(shell))
        parts.append(f"<h3>{_e(shell)}, {duration_text(axis.duration_s)}</h3>"
                     + image_tag(skyplot(tracks, min_elevation_deg), f"sky over {station.name}: {shell}", dpi=dpi))
    return Section(f"The sky over {station.name}", "\n".join(parts), "sky")


def track_section(scene: Scene, windows: dict[str, TimeAxis], dpi: int) -> Section:
    """One ground-track map per shell."""
    parts = ["<p>The point on the ground directly below each satellite, over time. Tracks wind westwards "
             "because the Earth turns under the orbits; a GEO satellite is a dot over the equator.</p>"]
    for shell, axis in windows.items():
        tracks = ground_tracks(scene, axis, scene.group(shell))
        parts.append(f"<h3>{_e(shell)}, {duration_text(axis.duration_s)}</h3>"
                     + image_tag(groundtrack_map(tracks, scene.stations), f"ground tracks of {shell}", dpi=dpi))
    return Section("Where the satellites go", "\n".join(parts), "tracks")


def animation_section(path: Path, caption: str) -> Section:
    """The network animation (WebP or GIF file) with a caption."""
    return Section("The network, step by step",
                   f"<p>{_e(caption)}</p>" + file_image_tag(path, "network animation"), "network")


def overview_page(name: str, raw_scenario: dict, sections: list[Section]) -> str:
    """The overview page: the given sections, then the scenario itself."""
    parts = list(sections) + [Section("Scenario", scenario_html(raw_scenario), "scenario")]
    n_sats = sum(1 for _ in raw_scenario.get("constellations", []) or [])
    return page(f"sgemu overview: {name}", f"{plural(n_sats, 'constellation')}, "
                f"{plural(len(raw_scenario.get('stations', []) or []), 'ground station')}", parts)
