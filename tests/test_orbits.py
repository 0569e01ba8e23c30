"""Claims about where the satellites and stations are.

Every expected value is computed here, independently of the code under
test: positions come from Skyfield's own ``EarthSatellite.at(t)`` (or from
``sgp4`` directly), angles from plain vector algebra, TLE checksums from the
published rule.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sgp4.api import Satrec
from skyfield.api import wgs84
from skyfield.framelib import itrs

from orbits.planes import assign_planes
from orbits.presets import BDS3_GEO_LON_DEG, PRESETS
from orbits.propagation import Propagator
from orbits.satellite import Satellite
from orbits.stations import builtin_station, builtin_stations, station_positions_km
from orbits.timebase import TimeAxis, timescale
from orbits.tle import TLEError, format_tle_text, load_tle_file, parse_tle_text, select
from orbits.walker import WalkerShell

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
WGS72_RADIUS_KM = 6378.135


def seconds(t0: dt.datetime, s) -> "object":
    """Skyfield Time(s) ``s`` seconds after t0."""
    return timescale().utc(t0.year, t0.month, t0.day, t0.hour, t0.minute, t0.second + np.asarray(s, float))


def crossings(x: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Times where x goes from negative to non-negative, linearly interpolated."""
    k = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    return t_s[k] + (t_s[k + 1] - t_s[k]) * (-x[k]) / (x[k + 1] - x[k])


def node_and_u_deg(sat: Satellite, t) -> tuple[float, float]:
    """Right ascension of the ascending node and argument of latitude, from SGP4's TEME r and v.

    TEME's equator is the true equator of date, the one the elements refer to
    (in GCRS the nodes of differently oriented planes would shift unequally).
    """
    err, r, v = sat.satrec.sgp4(t.whole, t.tai_fraction - t._leap_seconds() / 86400.0)
    assert err == 0
    h = np.cross(r, v)
    node = np.cross([0.0, 0.0, 1.0], h)
    raan = np.degrees(np.arctan2(node[1], node[0])) % 360.0
    cos_u = np.dot(node, r) / np.linalg.norm(node) / np.linalg.norm(r)
    u = np.degrees(np.arccos(np.clip(cos_u, -1.0, 1.0)))
    return raan, (u if r[2] >= 0 else 360.0 - u)


def angle_diff_deg(a, b):
    """a - b wrapped into (-180, 180]."""
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


def tle_checksum(line: str) -> int:
    """The published TLE rule, written out: digits count their value, minus signs 1, mod 10."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


# -- BeiDou-3 nominal constellation -------------------------------------------------------------

@pytest.fixture(scope="module")
def bds3():
    return PRESETS["bds3"].satellites("bds3", EPOCH)


def test_bds3_preset_has_24_meo_3_igso_3_geo(bds3):
    layers = [s.layer for s in bds3]
    assert (layers.count("MEO"), layers.count("IGSO"), layers.count("GEO")) == (24, 3, 3)


@pytest.mark.parametrize("k, slot_lon", list(enumerate(BDS3_GEO_LON_DEG)))
def test_a_geo_satellite_stays_within_0_1_deg_of_its_slot_over_a_day(bds3, k, slot_lon):
    geo = [s for s in bds3 if s.layer == "GEO"][k]
    t = seconds(EPOCH, np.arange(0, 86400 + 1, 600))
    sub = wgs84.subpoint_of(geo.earth_satellite.at(t))
    assert np.abs(angle_diff_deg(sub.longitude.degrees, slot_lon)).max() < 0.1
    assert np.abs(sub.latitude.degrees).max() < 0.1


def test_bds3_igso_ground_track_is_a_figure_eight_crossing_the_equator_near_118E(bds3):
    t_s = np.arange(0, 2 * 86400 + 1, 120.0)
    t = seconds(EPOCH, t_s)
    for igso in [s for s in bds3 if s.layer == "IGSO"]:
        sub = wgs84.subpoint_of(igso.earth_satellite.at(t))
        lat, lon = sub.latitude.degrees, sub.longitude.degrees
        # the track is closed and symmetric: it reaches about +-55 deg and its
        # crossings of the equator (northbound and southbound) are all near 118 E
        assert lat.max() == pytest.approx(55.0, abs=1.0)
        assert lat.min() == pytest.approx(-55.0, abs=1.0)
        for sign in (1, -1):
            k = np.flatnonzero((sign * lat[:-1] < 0) & (sign * lat[1:] >= 0))
            assert k.size >= 2
            f = -lat[k] / (lat[k + 1] - lat[k])
            lon_x = lon[k] + f * angle_diff_deg(lon[k + 1], lon[k])
            assert np.abs(angle_diff_deg(lon_x, 118.0)).max() < 1.0
        # a figure eight, not a line: the loops swing east and west of the node
        assert lon.min() < 118.0 - 5.0 < 118.0 + 5.0 < lon.max()


# -- Walker shells -------------------------------------------------------------------------------

SHELLS = {
    "starlink-like 550 km delta": WalkerShell(planes=6, sats_per_plane=5, inclination_deg=53.0, altitude_km=550.0),
    "oneweb-like 1200 km star": WalkerShell(planes=6, sats_per_plane=5, inclination_deg=87.9, altitude_km=1200.0,
                                            pattern="star"),
    "bds3-like MEO 21528 km": WalkerShell(planes=3, sats_per_plane=8, inclination_deg=55.0, altitude_km=21528.0),
}


@pytest.mark.parametrize("label", list(SHELLS))
def test_walker_altitude_and_period_match_the_configured_orbit(label):
    shell = SHELLS[label]
    sat = shell.satellites("w", EPOCH)[0]
    period_s = 86400.0 / shell.n_rev_day
    t_s = np.arange(0.0, 3.2 * period_s, period_s / 1500)
    r = sat.earth_satellite.at(seconds(EPOCH, t_s)).position.km
    one_orbit = t_s < period_s
    mean_alt_km = np.linalg.norm(r[:, one_orbit], axis=0).mean() - WGS72_RADIUS_KM
    assert mean_alt_km == pytest.approx(shell.altitude_km, abs=3.0)
    nodal_periods = np.diff(crossings(r[2], t_s))
    assert nodal_periods.size >= 2
    assert np.abs(nodal_periods / period_s - 1.0).max() < 0.005


def test_delta_planes_spread_their_nodes_over_360_deg_and_star_planes_over_180():
    t = seconds(EPOCH, 0.0)
    for pattern, spread in (("delta", 360.0), ("star", 180.0)):
        shell = WalkerShell(planes=6, sats_per_plane=4, inclination_deg=80.0, altitude_km=800.0, pattern=pattern)
        sats = shell.satellites("w", EPOCH)
        raan = np.array([node_and_u_deg(s, t)[0] for s in sats if s.slot == 0])
        # consecutive planes are spread / P apart ...
        assert np.allclose(angle_diff_deg(np.roll(raan, -1)[:-1], raan[:-1]), spread / 6, atol=0.05)
        # ... and the last plane is that far from the first only in a delta pattern
        wrap = angle_diff_deg(raan[0], raan[-1]) % 360.0
        assert wrap == pytest.approx(360.0 - spread + spread / 6, abs=0.05)
        # satellites of one plane share its node
        for p in range(6):
            plane = np.array([node_and_u_deg(s, t)[0] for s in sats if s.plane == p])
            assert np.abs(angle_diff_deg(plane, plane[0])).max() < 0.05


@pytest.mark.parametrize("phasing", [0, 1, 3])
def test_walker_phasing_offsets_adjacent_planes_by_360F_over_T(phasing):
    shell = WalkerShell(planes=5, sats_per_plane=6, inclination_deg=53.0, altitude_km=550.0, phasing=phasing)
    sats = shell.satellites("w", EPOCH)
    t = seconds(EPOCH, 0.0)
    u = {(s.plane, s.slot): node_and_u_deg(s, t)[1] for s in sats}
    total = shell.planes * shell.sats_per_plane
    # osculating u carries SGP4's short-period J2 terms (~0.1 deg); one phasing unit is 12 deg
    for p in range(shell.planes - 1):
        assert angle_diff_deg(u[p + 1, 0], u[p, 0]) == pytest.approx(360.0 * phasing / total, abs=0.25)
    for s in range(shell.sats_per_plane - 1):
        assert angle_diff_deg(u[2, s + 1], u[2, s]) == pytest.approx(360.0 / shell.sats_per_plane, abs=0.25)


def test_every_preset_builds_distinct_nodes_in_its_layer():
    for name, preset in PRESETS.items():
        sats = preset.satellites(name, EPOCH)
        assert len({s.node for s in sats}) == len(sats)
        if name != "bds3":
            assert {s.layer for s in sats} == {"LEO"}


# -- positions -------------------------------------------------------------------------------------

def test_propagated_itrs_positions_agree_with_skyfield_to_a_metre(bds3):
    sats = bds3[::5] + PRESETS["iridium"].satellites("irid", EPOCH)[::7]
    axis = TimeAxis.from_duration(EPOCH, 6 * 3600, 1800)
    pos = Propagator(sats).positions_km(axis.skyfield())
    t = axis.skyfield()
    for j, s in enumerate(sats):
        ref = s.earth_satellite.at(t).frame_xyz(itrs).km.T
        assert np.linalg.norm(pos[:, j] - ref, axis=1).max() < 1e-3


def test_station_positions_agree_with_skyfield_wgs84_to_a_metre():
    stations = list(builtin_stations().values())
    pos = station_positions_km(stations)
    t = timescale().utc(2024, 7, 16)
    for st, p in zip(stations, pos):
        ref = wgs84.latlon(st.lat_deg, st.lon_deg, elevation_m=st.alt_m).at(t).frame_xyz(itrs).km
        assert np.linalg.norm(p - ref) < 1e-3


def test_builtin_stations_include_the_chinese_sites_and_unknown_names_get_a_hint():
    for name in ("Beijing", "Kashi", "Sanya", "Harbin", "Lhasa", "Urumqi", "Xian", "Shanghai"):
        assert builtin_station(name.upper()).name == name
    with pytest.raises(KeyError, match="Beijing"):
        builtin_station("Bejing")


def test_time_axis_spans_start_to_end_inclusive_in_utc():
    axis = TimeAxis.from_duration("2024-07-16T00:00:00Z", 60, 7.5)
    assert axis.n_steps == 9 and axis.duration_s == 60
    t = axis.skyfield()
    got = np.array([(x - EPOCH).total_seconds() for x in t.utc_datetime()])
    assert np.allclose(got, np.arange(9) * 7.5, atol=1e-4)
    assert axis.utc(8) == EPOCH + dt.timedelta(seconds=60)
    assert axis.index_of(59.9) == 7 and axis.index_of(1e9) == 8


# -- TLE text ---------------------------------------------------------------------------------------

def test_generated_tle_text_reloads_to_the_same_orbit_within_a_km(bds3):
    sats = WalkerShell(planes=3, sats_per_plane=4, inclination_deg=53.0, altitude_km=550.0).satellites(
        "w", EPOCH + dt.timedelta(hours=3, minutes=17, seconds=12)) + bds3
    text = format_tle_text([s.tle() for s in sats])
    back = parse_tle_text(text)
    assert [t.name for t in back] == [s.name for s in sats]
    for sat, tle in zip(sats, back):
        for line in (tle.line1, tle.line2):
            assert len(line) == 69 and int(line[68]) == tle_checksum(line)
        reread = Satrec.twoline2rv(tle.line1, tle.line2)
        for hours in (0.0, 4.0):
            jd, fr = sat.satrec.jdsatepoch, sat.satrec.jdsatepochF + hours / 24.0
            e1, r1, _ = sat.satrec.sgp4(jd, fr)
            e2, r2, _ = reread.sgp4(jd, fr)
            assert e1 == e2 == 0
            assert np.linalg.norm(np.subtract(r1, r2)) < 1.0


def test_a_tle_with_a_bad_checksum_is_rejected_naming_its_line():
    tle = WalkerShell(planes=1, sats_per_plane=1, inclination_deg=53.0, altitude_km=550.0,
                      phasing=0).satellites("w", EPOCH)[0].tle()
    bad2 = tle.line2[:68] + str((int(tle.line2[68]) + 1) % 10)
    with pytest.raises(TLEError, match=r"x\.txt:3: checksum of line 2"):
        parse_tle_text(f"{tle.name}\n{tle.line1}\n{bad2}\n", "x.txt")
    # a corrupted digit (the checksum left alone) is caught the same way
    bad1 = tle.line1[:20] + str((int(tle.line1[20]) + 1) % 10) + tle.line1[21:]
    with pytest.raises(TLEError, match=r"x\.txt:1: checksum of line 1"):
        parse_tle_text(f"{bad1}\n{tle.line2}\n", "x.txt")


def test_tle_files_with_and_without_name_lines_hold_the_same_sets(tle_dir, tmp_path):
    three = load_tle_file(tle_dir / "beidou.txt")
    lines = [ln for ln in (tle_dir / "beidou.txt").read_text().splitlines() if ln.strip()]
    assert len(three) == len(lines) // 3 == 52
    two_path = tmp_path / "beidou-2line.txt"
    two_path.write_text("\n".join(ln for ln in lines if ln[:2] in ("1 ", "2 ")) + "\n")
    two = load_tle_file(two_path)
    assert [(t.line1, t.line2) for t in two] == [(t.line1, t.line2) for t in three]
    assert [t.name for t in two] == [str(int(t.line1[2:7])) for t in three]
    assert three[0].name == "BEIDOU-2 IGSO-1 (C06)" and three[0].norad_id == 36828


def test_a_missing_tle_file_is_a_tle_error(tmp_path):
    with pytest.raises(TLEError, match="no such TLE file"):
        load_tle_file(tmp_path / "nope.txt")


def test_select_keeps_the_sets_whose_names_match(tle_dir):
    tles = load_tle_file(tle_dir / "beidou.txt")
    names = [t.name for t in tles]
    meo3 = select(tles, "beidou-3 m*")
    assert [t.name for t in meo3] == [n for n in names if n.startswith("BEIDOU-3 M")]
    assert len(meo3) >= 24
    c2x = select(tles, ["*(C2?)", "*(C3?)"])
    assert sorted(int(t.name[-3:-1]) for t in c2x) == sorted(
        int(n[-3:-1]) for n in names if n.endswith(")") and n[-4:-2] in ("C2", "C3"))
    assert [t.name for t in select(tles, r"re:IGSO-\d+S")] == [n for n in names if "IGSO-" in n and "S (" in n]
    assert select(tles, None) == tles


def test_real_beidou_snapshot_classifies_geo_igso_and_meo_by_name(tle_dir):
    sats = [Satellite.from_tle(t, "beidou") for t in load_tle_file(tle_dir / "beidou.txt")]
    for s in sats:
        kind = s.name.split()[1]
        if kind.startswith("G"):
            assert s.layer == "GEO", s.name
        elif kind.startswith("IGSO"):
            assert s.layer == "IGSO", s.name
        elif kind.startswith("M"):
            assert s.layer == "MEO", s.name


@pytest.mark.parametrize("pattern", ["delta", "star"])
def test_planes_of_a_walker_shell_written_to_tle_are_recovered(pattern):
    shell = WalkerShell(planes=6, sats_per_plane=8, inclination_deg=53.0, altitude_km=550.0,
                        pattern=pattern, raan_offset_deg=5.0)
    sats = shell.satellites("w", EPOCH)
    back = [Satellite.from_tle(t, "x") for t in parse_tle_text(format_tle_text([s.tle() for s in sats]))]
    assert assign_planes(back) == 6
    # the same planes, numbered in node order from some first plane ...
    shift = (back[0].plane - sats[0].plane) % 6
    assert all(b.plane == (s.plane + shift) % 6 for s, b in zip(sats, back))
    # ... and, inside each plane, the same satellites in the same cyclic order
    for p in range(6):
        members = [(s.slot, b.slot) for s, b in zip(sats, back) if s.plane == p]
        offsets = {(bs - ss) % 8 for ss, bs in members}
        assert len(offsets) == 1 and sorted(bs for _, bs in members) == list(range(8))
