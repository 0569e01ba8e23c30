"""Claims about who is linked to whom, and at what delay.

Expected values come from Skyfield itself (``EarthSatellite.at(t)``,
``wgs84.latlon``, ``altaz``) or from formulas written out here, never from
re-running the rule under test.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from skyfield.api import wgs84
from skyfield.framelib import itrs

from orbits.presets import PRESETS
from orbits.satellite import Satellite
from orbits.scene import Scene
from orbits.stations import GroundStation, builtin_station
from orbits.timebase import TimeAxis
from orbits.tle import load_tle_file
from orbits.walker import WalkerShell
from topologies.builder import build_series
from topologies.fiber_links import Fiber
from topologies.geometry import clears_earth, elevation_and_range
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.rules import KINDS
from topologies.series import LinkSeries
from topologies.shell_links import NearestK, PlusGrid, Ring

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
C_KM_S = 299_792.458
WGS84_A, WGS84_B = 6378.137, 6356.752314245


# -- independent references ----------------------------------------------------------------------

def skyfield_xyz(scene: Scene, axis: TimeAxis) -> np.ndarray:
    """ITRS km of every node from Skyfield, (time, node, 3)."""
    t = axis.skyfield()
    sats = [s.earth_satellite.at(t).frame_xyz(itrs).km.T for s in scene.satellites]
    ground = [np.broadcast_to(wgs84.latlon(g.lat_deg, g.lon_deg, elevation_m=g.alt_m).at(t).frame_xyz(itrs).km.T,
                              (axis.n_steps, 3)) for g in scene.stations]
    return np.stack(sats + ground, axis=1)


def skyfield_altaz(sat: Satellite, station: GroundStation, t) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (deg) and slant range (km) of sat from station, by Skyfield's altaz."""
    topos = wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m)
    alt, _, dist = (sat.earth_satellite - topos).at(t).altaz()
    return alt.degrees, dist.km


def haversine_km(lat1, lon1, lat2, lon2, r_km=6371.0088):
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r_km * math.asin(math.sqrt(h))


def height_above_ellipsoid_km(p: np.ndarray) -> np.ndarray:
    """Height of ITRS points above WGS84, radially (within metres of geodetic height at these altitudes)."""
    r = np.linalg.norm(p, axis=-1)
    sin_lat = p[..., 2] / r
    cos_lat = np.sqrt(1 - sin_lat**2)
    surface = WGS84_A * WGS84_B / np.sqrt((WGS84_B * cos_lat) ** 2 + (WGS84_A * sin_lat) ** 2)
    return r - surface


def active_pairs(series: LinkSeries, k: int) -> dict[tuple[int, int], float]:
    """{(a, b): one-way delay ms} of the links up at step k."""
    ids, delay = series.active(k)
    return {(int(series.link_a[i]), int(series.link_b[i])): float(d) for i, d in zip(ids, delay)}


def ground_holdings(series: LinkSeries, station: str) -> list[set[int]]:
    """The satellites a station is linked to, step by step."""
    g = series.index(station)
    out = []
    for k in range(series.n_steps):
        ids, _ = series.active(k)
        held = set()
        for i in ids:
            if KINDS[series.link_kind[i]] == "ground" and g in (series.link_a[i], series.link_b[i]):
                held.add(int(series.link_a[i] + series.link_b[i] - g))
        out.append(held)
    return out


def walker(planes=6, sats=8, alt=1000.0, inc=53.0, **kw) -> list[Satellite]:
    return WalkerShell(planes=planes, sats_per_plane=sats, inclination_deg=inc, altitude_km=alt, **kw).satellites(
        "leo", EPOCH)


def stations(*names: str) -> list[GroundStation]:
    return [builtin_station(n) for n in names]


# -- plus-grid -------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, seam_cut", [("delta", False), ("delta", True), ("star", True)])
def test_plus_grid_gives_each_satellite_two_in_plane_and_two_cross_plane_neighbours(pattern, seam_cut):
    # 10 planes of 12 at 1,000 km: dense enough that no grid link ever dips into the atmosphere
    P, S = 10, 12
    sats = walker(P, S, inc=87.0 if pattern == "star" else 53.0, pattern=pattern)
    scene = Scene(sats, [])
    axis = TimeAxis.from_duration(EPOCH, 1200, 300)
    series = build_series(scene, [PlusGrid(group="leo", seam_cut=seam_cut)], axis)
    expected = 2 * P * S - (S if seam_cut else 0)
    assert series.n_links == expected
    assert (series.links_per_step() == expected).all()
    degree = np.bincount(np.concatenate([series.link_a, series.link_b]), minlength=P * S)
    for s, deg in zip(sats, degree):
        assert deg == (3 if seam_cut and s.plane in (0, P - 1) else 4)
    for a, b in zip(series.link_a, series.link_b):
        sa, sb = sats[a], sats[b]
        if sa.plane == sb.plane:  # in-plane: slot neighbours
            assert (sa.slot - sb.slot) % S in (1, S - 1)
        else:  # cross-plane: adjacent planes, across the seam only when it is not cut
            assert (sa.plane - sb.plane) % P in (1, P - 1)
            if seam_cut:
                assert abs(sa.plane - sb.plane) == 1


def test_plus_grid_links_across_the_seam_are_no_longer_than_between_other_planes():
    P, S = 10, 12
    sats = walker(P, S)
    scene = Scene(sats, [])
    axis = TimeAxis.from_duration(EPOCH, 6000, 600)
    series = build_series(scene, [PlusGrid(group="leo")], axis)
    pos = skyfield_xyz(scene, axis)
    seam = [i for i in range(series.n_links) if {sats[series.link_a[i]].plane, sats[series.link_b[i]].plane} == {0, P - 1}]
    other = [i for i in range(series.n_links)
             if abs(sats[series.link_a[i]].plane - sats[series.link_b[i]].plane) == 1]
    assert len(seam) == S and len(other) == (P - 1) * S
    length = np.linalg.norm(pos[:, series.link_a] - pos[:, series.link_b], axis=-1)  # (time, link)
    # across the seam (where Walker phasing wraps) each satellite still gets a near partner:
    # seam links are on average no longer than links between other adjacent planes
    assert length[:, seam].mean() <= length[:, other].mean() * 1.01
    assert length[:, seam].max() <= length[:, other].max() * 1.01


def test_max_lat_switches_off_only_cross_plane_links_above_that_latitude():
    max_lat = 40.0
    sats = walker(6, 8, inc=53.0)
    scene = Scene(sats, [])
    axis = TimeAxis.from_duration(EPOCH, 6000, 120)
    full = build_series(scene, [PlusGrid(group="leo")], axis)
    cut = build_series(scene, [PlusGrid(group="leo", max_lat_deg=max_lat)], axis)
    pos = skyfield_xyz(scene, axis)
    lat = np.degrees(np.arcsin(pos[..., 2] / np.linalg.norm(pos, axis=-1)))  # geocentric
    switched_off = kept_cross = 0
    for k in range(axis.n_steps):
        before, after = active_pairs(full, k), active_pairs(cut, k)
        assert set(after) <= set(before)
        for a, b in before:
            if sats[a].plane == sats[b].plane:
                assert (a, b) in after
                continue
            high = max(abs(lat[k, a]), abs(lat[k, b]))
            if abs(high - max_lat) < 0.01:
                continue
            assert ((a, b) in after) == (high <= max_lat)
            switched_off += (a, b) not in after
            kept_cross += (a, b) in after
    assert switched_off > 0 and kept_cross > 0


def test_a_ring_joins_the_geo_belt_in_longitude_order():
    sats = PRESETS["bds3"].satellites("bds3", EPOCH)
    scene = Scene(sats, [])
    series = build_series(scene, [Ring(group="geo")], TimeAxis.from_duration(EPOCH, 0, 1))
    names = sorted(series.link_name(i) for i in range(series.n_links))
    # three satellites at 80, 110.5 and 140 E: a triangle (80-140 is 60 deg, clear of the Earth)
    assert names == ["bds3-G1--bds3-G2", "bds3-G1--bds3-G3", "bds3-G2--bds3-G3"]


# -- delays ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed():
    """BDS-3 + a 6x8 LEO shell + four stations, every kind of link, 5 steps over 20 minutes."""
    sats = PRESETS["bds3"].satellites("bds3", EPOCH) + walker(6, 8)
    scene = Scene(sats, stations("Beijing", "Kashi", "Sanya", "Harbin"))
    rules = [
        PlusGrid(group="leo"),
        NearestK(group="bds3", k=3),
        InterLayer(lower="leo", upper="bds3", k=1),
        GroundAccess(group="leo", policy="nearest", min_elevation_deg=20),
        GroundAccess(group="bds3", policy="all-visible", min_elevation_deg=10),
        Fiber(pairs=[["Beijing", "Harbin"]], mesh=["Kashi", "Sanya", "Beijing"], route_factor=1.5),
    ]
    axis = TimeAxis.from_duration(EPOCH, 1200, 300)
    series = build_series(scene, rules, axis)
    return scene, axis, series


def test_space_and_ground_link_delay_is_distance_over_c(mixed):
    scene, axis, series = mixed
    pos = skyfield_xyz(scene, axis)
    seen = set()
    for k in range(axis.n_steps):
        ids, delay = series.active(k)
        for i, d in zip(ids, delay):
            kind = KINDS[series.link_kind[i]]
            if kind == "fiber":
                continue
            a, b = series.link_a[i], series.link_b[i]
            expected_ms = np.linalg.norm(pos[k, a] - pos[k, b]) / C_KM_S * 1000.0
            assert d == pytest.approx(expected_ms, abs=1e-4)  # 30 m
            seen.add(kind)
    assert seen == {"isl", "inter-layer", "ground"}


def test_fibre_delay_is_great_circle_times_route_factor_at_c_over_1_468(mixed):
    scene, axis, series = mixed
    fibre = [i for i in range(series.n_links) if KINDS[series.link_kind[i]] == "fiber"]
    names = sorted(series.link_name(i) for i in fibre)
    assert names == ["Beijing--Harbin", "Beijing--Kashi", "Beijing--Sanya", "Kashi--Sanya"]
    for k in range(axis.n_steps):
        delay = series.delay_ms(k)
        for i in fibre:
            ga = builtin_station(series.node_names[series.link_a[i]])
            gb = builtin_station(series.node_names[series.link_b[i]])
            expected = haversine_km(ga.lat_deg, ga.lon_deg, gb.lat_deg, gb.lon_deg) * 1.5 * 1.468 / C_KM_S * 1e3
            assert delay[i] == pytest.approx(expected, rel=1e-6)
    # Beijing-Harbin is about 1,060 km: about 7.8 ms one way
    bh = next(i for i in fibre if series.link_name(i) == "Beijing--Harbin")
    assert 7.0 < series.delay_ms(0)[bh] < 8.5


def test_elevation_matches_skyfield_altaz_for_random_samples():
    rng = np.random.default_rng(7)
    sats = walker(6, 8, alt=550.0) + PRESETS["bds3"].satellites("bds3", EPOCH)
    sample = rng.choice(len(sats), 12, replace=False)
    sites = [GroundStation(f"s{i}", float(rng.uniform(-70, 70)), float(rng.uniform(-180, 180)),
                           float(rng.uniform(0, 3000))) for i in range(6)]
    scene = Scene([sats[i] for i in sample], sites)
    axis = TimeAxis.from_duration(EPOCH + dt.timedelta(seconds=float(rng.uniform(0, 86400))), 3600, 600)
    pos = scene.positions_km(axis.skyfield())
    elev, rng_km = elevation_and_range(scene.station_positions_km, scene.station_up, pos[:, :scene.n_sats])
    t = axis.skyfield()
    for g, site in enumerate(sites):
        for j, sat in enumerate(scene.satellites):
            alt, dist = skyfield_altaz(sat, site, t)
            assert np.abs(elev[:, g, j] - alt).max() < 0.01
            assert np.abs(rng_km[:, g, j] - dist).max() < 0.01


def test_all_visible_ground_access_links_exactly_the_satellites_above_the_mask():
    sats = walker(8, 10, alt=550.0)
    site_list = stations("Beijing", "Kashi", "Sanya", "Singapore", "Nairobi")
    scene = Scene(sats, site_list)
    axis = TimeAxis.from_duration(EPOCH, 3600, 60)
    series = build_series(scene, [GroundAccess(group="leo", policy="all-visible", min_elevation_deg=15)], axis)
    t = axis.skyfield()
    linked = total = 0
    for site in site_list:
        held = ground_holdings(series, site.name)
        for j, sat in enumerate(sats):
            alt, _ = skyfield_altaz(sat, site, t)
            for k in range(axis.n_steps):
                if abs(alt[k] - 15) < 0.01:
                    continue
                assert (j in held[k]) == (alt[k] >= 15)
                linked += j in held[k]
                total += 1
    assert 0 < linked < total


def test_real_beidou_satellites_visible_from_beijing_match_skyfield(tle_dir):
    tles = load_tle_file(tle_dir / "beidou.txt")
    sats = [Satellite.from_tle(t, "beidou") for t in tles]
    beijing = builtin_station("Beijing")
    scene = Scene(sats, [beijing])
    axis = TimeAxis.from_duration("2024-07-15T12:00:00Z", 36 * 3600, 4 * 3600)
    series = build_series(scene, [GroundAccess(group="beidou", policy="all-visible", min_elevation_deg=10)], axis)
    t = axis.skyfield()
    alt = np.array([skyfield_altaz(s, beijing, t)[0] for s in sats])  # (sat, time)
    counts = [len(h) for h in ground_holdings(series, "Beijing")]
    assert counts == list((alt >= 10).sum(axis=0))
    assert min(counts) >= 15  # Beijing sees most of BeiDou's GEO/IGSO and several MEO at any time


# -- no link through the Earth ---------------------------------------------------------------------

def test_no_space_link_ever_passes_through_the_earth():
    grazing_km = 80.0
    sats = PRESETS["starlink-550"].satellites("starlink", EPOCH) + PRESETS["bds3"].satellites("bds3", EPOCH, 95001)
    scene = Scene(sats, [])
    rules = [NearestK(group="starlink", k=4), NearestK(group="bds3", k=4),
             InterLayer(lower="starlink", upper="bds3", k=2), PlusGrid(group="starlink")]
    axis = TimeAxis.from_duration(EPOCH, 2400, 1200)
    series = build_series(scene, rules, axis, grazing_km=grazing_km)
    t = axis.skyfield()
    pos = np.stack([s.earth_satellite.at(t).frame_xyz(itrs).km.T for s in sats], axis=1)
    f = np.linspace(0.0, 1.0, 201)[None, :, None]
    lowest = []
    for k in range(axis.n_steps):
        ids, _ = series.active(k)
        a, b = pos[k, series.link_a[ids]], pos[k, series.link_b[ids]]
        points = a[:, None] + f * (b - a)[:, None]
        lowest.append(height_above_ellipsoid_km(points).min(axis=1))
    lowest = np.concatenate(lowest)
    assert lowest.size > 3 * len(sats)
    assert lowest.min() > grazing_km - 0.5
    # the rule is doing work: some links skim the atmosphere at a few hundred km
    assert lowest.min() < 500


def test_earth_clearance_agrees_with_sampling_the_segment():
    rng = np.random.default_rng(11)
    n = 3000
    r = rng.uniform(6500, 30000, (2, n))
    v = rng.normal(size=(2, n, 3))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    a, b = v[0] * r[0][:, None], v[1] * r[1][:, None]
    f = np.linspace(0.0, 1.0, 1001)[None, :, None]  # <= 60 km apart: the minimum is off by < 0.1 km
    lowest = height_above_ellipsoid_km(a[:, None] + f * (b - a)[:, None]).min(axis=1)
    clear = clears_earth(a, b, 80.0)
    decided = np.abs(lowest - 80.0) > 0.5  # the grown ellipsoid is 80 km at the equator, 79.7 at the poles
    assert (clear[decided] == (lowest[decided] > 80.0)).all()
    assert 0.2 < clear.mean() < 0.8


# -- ground access policies ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def leo_sites():
    sats = walker(12, 12)  # 144 satellites at 1,000 km: several in view at once
    sites = stations("Beijing", "Kashi", "Sanya", "Singapore")
    return sats, sites, Scene(sats, sites)


def handovers(series: LinkSeries) -> int:
    return sum(e["event"] == "handover" for e in series.events())


@pytest.mark.parametrize("antennas", [1, 2])
def test_sticky_antennas_hand_over_less_and_only_when_their_satellite_sets(leo_sites, antennas):
    sats, sites, scene = leo_sites
    axis = TimeAxis.from_duration(EPOCH, 7200, 30)
    mask = 15.0
    kw = dict(group="leo", policy="nearest", antennas=antennas, min_elevation_deg=mask)
    sticky = build_series(scene, [GroundAccess(sticky=True, **kw)], axis, chunk_steps=50)
    eager = build_series(scene, [GroundAccess(sticky=False, **kw)], axis)
    assert 0 < handovers(sticky) < handovers(eager)
    t = axis.skyfield()
    drops = 0
    for site in sites:
        held = ground_holdings(sticky, site.name)
        assert all(len(h) <= antennas for h in held)
        alt = {j: skyfield_altaz(sats[j], site, t)[0] for j in set().union(*held)}
        for k in range(1, axis.n_steps):
            for j in held[k - 1] - held[k]:
                assert alt[j][k] < mask + 0.01, f"{site.name} left {sats[j].node} at step {k} while it was up"
                drops += 1
            for j in held[k]:
                assert alt[j][k] >= mask - 0.01
    assert drops > 0


@pytest.mark.parametrize("lookahead", [1800.0, 300.0])
def test_longest_visible_takes_the_satellite_that_stays_in_view_longest(leo_sites, lookahead):
    """Remaining time in view counts up to the lookahead; among equals the highest satellite wins."""
    sats, sites, scene = leo_sites
    step, mask = 30.0, 10.0
    axis = TimeAxis.from_duration(EPOCH, 600, step)
    series = build_series(scene, [GroundAccess(group="leo", policy="longest-visible", lookahead_s=lookahead,
                                               min_elevation_deg=mask)], axis)
    # visibility on the same grid, continued past the run's end by the lookahead
    ahead = TimeAxis.from_duration(EPOCH, 600 + lookahead, step)
    t = ahead.skyfield()
    cap = int(lookahead / step)
    checked = 0
    for site in sites:
        alt = np.array([skyfield_altaz(s, site, t)[0] for s in sats])  # (sat, time)
        vis = alt >= mask
        held = ground_holdings(series, site.name)
        for k in range(axis.n_steps):
            remaining = np.zeros(len(sats), int)
            for j in np.flatnonzero(vis[:, k]):
                gaps = np.flatnonzero(~vis[j, k:])
                remaining[j] = min(gaps[0] if gaps.size else vis.shape[1] - k, cap)
            if remaining.max() == 0:
                assert held[k] == set()
                continue
            longest = np.flatnonzero(remaining == remaining.max())
            assert held[k] == {longest[np.argmax(alt[longest, k])]}, (site.name, k)
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("policy", ["nearest", "highest-elevation"])
def test_nearest_and_highest_policies_take_the_best_satellite_in_view(leo_sites, policy):
    sats, sites, scene = leo_sites
    axis = TimeAxis.from_duration(EPOCH, 1800, 60)
    series = build_series(scene, [GroundAccess(group="leo", policy=policy, min_elevation_deg=10)], axis)
    t = axis.skyfield()
    for site in sites:
        alt, dist = np.array([skyfield_altaz(s, site, t) for s in sats]).transpose(1, 0, 2)  # (sat, time)
        for k, held in enumerate(ground_holdings(series, site.name)):
            up = np.flatnonzero(alt[:, k] >= 10)
            if up.size == 0:
                assert held == set()
                continue
            best = up[np.argmin(dist[up, k])] if policy == "nearest" else up[np.argmax(alt[up, k])]
            assert held == {best}


def test_a_station_mask_overrides_the_rule_mask_and_layers_can_differ():
    sats = PRESETS["bds3"].satellites("bds3", EPOCH)
    strict = builtin_station("Beijing").with_overrides(min_elevation_deg=40.0)
    lax = builtin_station("Sanya")
    scene = Scene(sats, [strict, lax])
    axis = TimeAxis.from_duration(EPOCH, 3600, 900)
    rule = GroundAccess(group="bds3", policy="all-visible", min_elevation_deg={"GEO": 5, "IGSO": 5, "default": 30})
    series = build_series(scene, [rule], axis)
    t = axis.skyfield()
    for site, held in ((strict, ground_holdings(series, "Beijing")), (lax, ground_holdings(series, "Sanya"))):
        for j, sat in enumerate(sats):
            alt, _ = skyfield_altaz(sat, site, t)
            mask = 40.0 if site is strict else (5.0 if sat.layer in ("GEO", "IGSO") else 30.0)
            assert [j in h for h in held] == list(alt >= mask), (site.name, sat.node)


# -- inter-layer -----------------------------------------------------------------------------------

def test_each_leo_satellite_relays_through_its_nearest_bds3_satellite_in_sight():
    leo = walker(6, 8)
    bds = PRESETS["bds3"].satellites("bds3", EPOCH, 95001)
    scene = Scene(leo + bds, [])
    axis = TimeAxis.from_duration(EPOCH, 600, 300)
    series = build_series(scene, [InterLayer(lower="leo", upper="bds3", k=1)], axis)
    pos = skyfield_xyz(scene, axis)
    f = np.linspace(0, 1, 400)[:, None]
    for k in range(axis.n_steps):
        pairs = active_pairs(series, k)
        for i in range(len(leo)):
            linked = [b for a, b in pairs if a == i]
            assert len(linked) == 1
            d = np.linalg.norm(pos[k, len(leo):] - pos[k, i], axis=1)
            in_sight = [j for j in range(len(bds))
                        if height_above_ellipsoid_km(pos[k, i] + f * (pos[k, len(leo) + j] - pos[k, i])).min() > 80.5]
            assert linked[0] - len(leo) == min(in_sight, key=lambda j: d[j])


# -- the series as data ----------------------------------------------------------------------------

def test_link_series_survives_save_and_load_unchanged(mixed, tmp_path):
    _, _, series = mixed
    back = LinkSeries.load(series.save(tmp_path / "links.npz"))
    for name in ("link_a", "link_b", "link_kind", "ms_per_km", "capacity_mbps", "loss_pct",
                 "indptr", "link_id", "distance_km"):
        before, after = getattr(series, name), getattr(back, name)
        assert before.dtype == after.dtype and np.array_equal(before, after, equal_nan=before.dtype.kind == "f")
    assert back.axis == series.axis
    assert (back.node_names, back.node_layer, back.node_shell) == (
        series.node_names, series.node_layer, series.node_shell)
    assert back.events() == series.events()
    # numpy appends .npz to a bare name; save says where the file really is
    assert LinkSeries.load(series.save(tmp_path / "bare")).n_links == series.n_links


def test_replaying_the_events_reproduces_the_links_up_at_every_step(leo_sites):
    _, _, scene = leo_sites
    axis = TimeAxis.from_duration(EPOCH, 1800, 30)
    series = build_series(scene, [PlusGrid(group="leo", max_lat_deg=50),
                                  GroundAccess(group="leo", policy="nearest", sticky=True, antennas=2)], axis)
    events = series.events()
    up = {series.link_name(i) for i in series.active(0)[0]}
    by_step = {}
    for e in events:
        by_step.setdefault(e["step"], []).append(e)
    for k in range(1, axis.n_steps):
        for e in by_step.get(k, []):
            if e["event"] == "up":
                assert f"{e['a']}--{e['b']}" not in up
                up.add(f"{e['a']}--{e['b']}")
            elif e["event"] == "down":
                up.remove(f"{e['a']}--{e['b']}")
        assert up == {series.link_name(i) for i in series.active(k)[0]}
    assert any(e["event"] == "handover" for e in events)


def test_the_series_does_not_depend_on_how_time_is_chunked(leo_sites):
    _, _, scene = leo_sites
    axis = TimeAxis.from_duration(EPOCH, 1800, 30)

    def rules():
        return [PlusGrid(group="leo", max_lat_deg=50), NearestK(group="leo", k=3),
                GroundAccess(group="leo", policy="nearest", sticky=True, antennas=2),
                GroundAccess(group="leo", policy="longest-visible", stations=["Kashi"], lookahead_s=600)]

    whole = build_series(scene, rules(), axis)
    pieces = build_series(scene, rules(), axis, chunk_steps=7)
    assert np.array_equal(whole.indptr, pieces.indptr)
    for k in range(axis.n_steps):
        assert ({whole.link_name(i) for i in whole.active(k)[0]} ==
                {pieces.link_name(i) for i in pieces.active(k)[0]})


def test_nearest_k_over_a_full_starlink_shell_is_built_in_bounded_memory():
    import tracemalloc

    scene = Scene(PRESETS["starlink-550"].satellites("starlink", EPOCH), [])
    axis = TimeAxis(EPOCH, 10.0, 4)
    tracemalloc.start()
    try:
        series = build_series(scene, [NearestK(group="starlink", k=4)], axis)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert series.links_per_step().min() >= 1584 * 4 / 2
    # one step of 1,584 x 1,584 distances is 20 MB; a chunk must not hold many of them at once
    assert peak_mb < 400


def test_a_scene_with_no_rules_has_no_links():
    scene = Scene(walker(2, 3), stations("Beijing"))
    series = build_series(scene, [], TimeAxis.from_duration(EPOCH, 60, 30))
    assert series.n_links == 0 and (series.links_per_step() == 0).all()
    assert series.events() == []
