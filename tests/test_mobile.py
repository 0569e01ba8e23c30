"""Moving ground users: tracks interpolated along great circles, linked to satellites like stations.

Positions are checked against an independent computation (the
navigator's destination-point formula from the initial bearing, and
Skyfield's own WGS84 -> ITRS conversion); a flight's ground links are
judged by the elevation Skyfield computes from where the aircraft really
is at each step.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from skyfield.api import wgs84

from orbits.mobile import EARTH_MEAN_RADIUS_KM, Track
from sgemu.scenario import parse_scenario
from sgemu.schema import ScenarioError

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
BEIJING, PARIS = (39.9042, 116.4074), (48.8566, 2.3522)


def destination(start, bearing_deg, angle_rad):
    """Point reached from ``start`` (lat, lon deg) along ``bearing_deg`` after a central angle (sphere)."""
    p1, l1, th = math.radians(start[0]), math.radians(start[1]), math.radians(bearing_deg)
    p2 = math.asin(math.sin(p1) * math.cos(angle_rad) + math.cos(p1) * math.sin(angle_rad) * math.cos(th))
    l2 = l1 + math.atan2(math.sin(th) * math.sin(angle_rad) * math.cos(p1),
                         math.cos(angle_rad) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def initial_bearing(a, b):
    p1, p2, dl = math.radians(a[0]), math.radians(b[0]), math.radians(b[1] - a[1])
    return math.degrees(math.atan2(math.sin(dl) * math.cos(p2),
                                   math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)))


def haversine_km(a, b):
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_KM * math.asin(math.sqrt(h))


def test_a_flight_follows_the_great_circle_at_its_speed():
    tr = Track.great_circle(EPOCH, BEIJING, PARIS, speed_kmh=900, alt_m=10000)
    total_km = haversine_km(BEIJING, PARIS)
    assert tr.t_s[-1] == pytest.approx(total_km / 900 * 3600, rel=1e-9)
    bearing = initial_bearing(BEIJING, PARIS)
    t = np.linspace(0, tr.t_s[-1], 13)
    lat, lon, alt = tr.geodetic(t)
    for ti, la, lo in zip(t, lat, lon):
        exp_lat, exp_lon = destination(BEIJING, bearing, 900 * ti / 3600 / EARTH_MEAN_RADIUS_KM)
        assert la == pytest.approx(exp_lat, abs=1e-7) and lo == pytest.approx(exp_lon, abs=1e-7)
    assert (alt == 10000).all()
    # the route crosses Siberia well north of both ends: not a straight line in lat/lon
    assert lat.max() > 60


def test_positions_are_itrs_as_skyfield_converts_wgs84():
    tr = Track.great_circle(EPOCH, BEIJING, PARIS, speed_kmh=900, alt_m=10000)
    t = np.array([0.0, 3600.0, 20000.0])
    lat, lon, _ = tr.geodetic(t)
    mine = tr.positions_km(t)
    theirs = np.array([wgs84.latlon(a, o, elevation_m=10000).itrs_xyz.km for a, o in zip(lat, lon)])
    assert np.abs(mine - theirs).max() < 1e-6


def test_a_csv_track_waits_at_its_ends_and_matches_its_gpx_twin(tmp_path):
    csv = tmp_path / "ship.csv"
    csv.write_text("t_s,lat_deg,lon_deg,alt_m\n60,30.0,122.0,0\n660,31.0,123.0,0\n1260,31.0,125.0,0\n")
    tr = Track.from_csv(csv, EPOCH)
    lat, lon, _ = tr.geodetic([0, 60, 1260, 5000])
    assert (lat[0], lon[0]) == pytest.approx((30.0, 122.0), abs=1e-9)
    assert (lat[-1], lon[-1]) == pytest.approx((31.0, 125.0), abs=1e-9)
    mid_lat, mid_lon, _ = tr.geodetic([360])
    b = initial_bearing((30.0, 122.0), (31.0, 123.0))
    half = haversine_km((30.0, 122.0), (31.0, 123.0)) / 2 / EARTH_MEAN_RADIUS_KM
    assert (mid_lat[0], mid_lon[0]) == pytest.approx(destination((30.0, 122.0), b, half), abs=1e-7)
    gpx = tmp_path / "ship.gpx"
    pts = "".join(f'<trkpt lat="{a}" lon="{o}"><ele>0</ele><time>2020-01-01T00:{m:02d}:00Z</time></trkpt>'
                  for a, o, m in ((30.0, 122.0, 1), (31.0, 123.0, 11), (31.0, 125.0, 21)))
    gpx.write_text(f'<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
                   f'<trk><trkseg>{pts}</trkseg></trk></gpx>')
    twin = Track.from_gpx(gpx, EPOCH, depart_s=60)
    t = np.linspace(0, 2000, 41)
    assert np.abs(twin.positions_km(t) - tr.positions_km(t)).max() < 1e-9


def _flight_scenario(extra_links=(), **mover):
    return parse_scenario({
        "start": "2024-07-16T00:00:00Z", "duration_s": 1800, "step_s": 10,
        "constellations": [{"name": "sl", "walker": {"planes": 24, "sats_per_plane": 22, "phasing": 1,
                                                     "inclination_deg": 53, "altitude_km": 550}}],
        "stations": ["Beijing"],
        "movers": [{"name": "Flight1", "from": "Beijing", "to": "Paris", "speed_kmh": 900, "alt_m": 10000,
                    **mover}],
        "links": [{"rule": "ground", "group": "sl", "policy": "highest-elevation", "min_elevation_deg": 25},
                  *extra_links],
    })


def test_a_flights_ground_links_follow_where_it_is_and_hand_over():
    from topologies.builder import build_series

    scen = _flight_scenario()
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis)
    handovers = [e for e in series.events() if e["event"] == "handover" and e["station"] == "Flight1"]
    assert len(handovers) >= 3
    flight = scene.stations[scene.movers[0]]
    me = series.index("Flight1")
    not_best_from_start = 0
    for k in range(0, series.n_steps, 5):
        ids, _ = series.active(k)
        sats = [int(series.link_a[i]) for i in ids.tolist() if series.link_b[i] == me]  # satellites number first
        assert len(sats) == 1, (k, sats)
        all_xyz = scene.propagator.positions_km(series.axis.skyfield(slice(k, k + 1)))[0]
        lat, lon, alt = (float(x[0]) for x in flight.track.geodetic([series.axis.t_s[k]]))
        here = [elevation_deg(lat, lon, alt, x) for x in all_xyz]
        assert here[sats[0]] >= 25 - 1e-6 and here[sats[0]] == pytest.approx(max(here), abs=1e-6), k
        from_start = [elevation_deg(*BEIJING, 10000, x) for x in all_xyz]
        not_best_from_start += int(np.argmax(from_start)) != sats[0]
    assert not_best_from_start > 0  # from where it took off, another satellite would have been the highest


def elevation_deg(lat, lon, alt_m, sat_xyz_km) -> float:
    """Elevation of a satellite (ITRS km) above the WGS84 horizon of a point, via Skyfield's position."""
    rel = sat_xyz_km - wgs84.latlon(lat, lon, elevation_m=alt_m).itrs_xyz.km
    p, l = math.radians(lat), math.radians(lon)
    up = np.array([math.cos(p) * math.cos(l), math.cos(p) * math.sin(l), math.sin(p)])
    return math.degrees(math.asin(rel @ up / np.linalg.norm(rel)))


def test_fibre_to_a_mover_is_refused_in_one_line():
    scen = _flight_scenario(extra_links=[{"rule": "fiber", "pairs": [["Beijing", "Flight1"]]}])
    with pytest.raises(ScenarioError) as err:
        scen.bind()
    assert str(err.value).startswith("links[1]") and "moves" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mover, field", [
    ({"speed": 3}, "movers[0].speed"),
    ({"to": "Atlantis"}, "movers[0].to"),
    ({"track": "nowhere.csv"}, "movers[0]"),
    ({"speed_kmh": "fast"}, "movers[0].speed_kmh"),
    ({"to": {"lat_deg": 95, "lon_deg": 0}}, "movers[0].to"),
])
def test_a_bad_mover_is_one_line_naming_the_field(mover, field):
    with pytest.raises(ScenarioError) as err:
        _flight_scenario(**mover).bind()
    assert str(err.value).startswith(field) and "\n" not in str(err.value)
