"""Claims about coverage and navigation geometry.

Every expected value is computed here independently of the code under
test: visibility from Skyfield's own ``(sat - wgs84.latlon(...)).at(t).altaz()``,
PDOP from a least-squares solve (``numpy.linalg.lstsq``) on a geometry matrix
built from Skyfield's topocentric vectors, and simple facts of orbits (a
geostationary satellite is always over the same place).
"""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pytest
from skyfield.api import wgs84

from experiments.coverage import (FIELDS, GroundGrid, UnknownLayer, coverage, grid_coverage,
                                  satellite_groups)
from experiments.dop import dops, geometry_matrix, pdop_from_positions
from orbits.presets import PRESETS
from orbits.satellite import Satellite
from orbits.scene import Scene
from orbits.stations import builtin_station
from orbits.timebase import TimeAxis, timescale
from orbits.tle import load_tle_file
from sgemu.cli import main

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
BEIJING = builtin_station("Beijing")


@pytest.fixture(scope="module")
def bds3_scene() -> Scene:
    return Scene(PRESETS["bds3"].satellites("bds3", EPOCH), [])


def skyfield_elevations_deg(sats: list[Satellite], lat_deg: float, lon_deg: float, t) -> np.ndarray:
    """Elevation of each satellite from a place, straight from Skyfield, shape (sat,)."""
    place = wgs84.latlon(lat_deg, lon_deg)
    return np.array([(s.earth_satellite - place).at(t).altaz()[0].degrees for s in sats])


def lstsq_pdop(sats: list[Satellite], lat_deg: float, lon_deg: float, t, mask_deg: float) -> float:
    """PDOP from Skyfield topocentric vectors (GCRS) and a least-squares pseudo-inverse of G.

    With G rows [-e, 1], ``lstsq(G, I)`` returns the pseudo-inverse G+, and
    (G^T G)^-1 = G+ G+^T.  PDOP is frame-independent, so GCRS unit vectors
    do as well as Earth-fixed ones.
    """
    place = wgs84.latlon(lat_deg, lon_deg)
    rows = []
    for s in sats:
        topo = (s.earth_satellite - place).at(t)
        if topo.altaz()[0].degrees >= mask_deg:
            e = topo.position.km / np.linalg.norm(topo.position.km)
            rows.append([-e[0], -e[1], -e[2], 1.0])
    g = np.array(rows)
    if len(rows) < 4:
        return float("nan")
    pinv, *_ = np.linalg.lstsq(g, np.eye(len(rows)), rcond=None)
    q = pinv @ pinv.T
    return float(np.sqrt(np.trace(q[:3, :3])))


def instant(t_s: float):
    return timescale().from_datetime(EPOCH + dt.timedelta(seconds=t_s))


# --------------------------------------------------------------------------- visibility
def test_a_geo_at_110_5_east_is_always_in_beijings_sky_and_never_at_the_south_pole(bds3_scene):
    geo = next(i for i, s in enumerate(bds3_scene.satellites) if "110.5E" in s.name)
    axis = TimeAxis.from_duration(EPOCH, 86400, 1800)
    cov = coverage(bds3_scene, axis, {"geo": np.array([geo])}, [BEIJING.lat_deg, -90.0], [BEIJING.lon_deg, 0.0],
                   min_elevation_deg=10.0)
    g = cov.groups["geo"]
    assert g.pct_time_1plus[0] == 100.0 and g.visible_min[0] == 1
    assert g.visible_max[1] == 0 and g.pct_time_1plus[1] == 0.0
    # the same facts from Skyfield, at four instants through the day
    sat = bds3_scene.satellites[geo]
    for t_s in (0, 21600, 43200, 64800):
        assert skyfield_elevations_deg([sat], BEIJING.lat_deg, BEIJING.lon_deg, instant(t_s))[0] > 10.0
        assert skyfield_elevations_deg([sat], -90.0, 0.0, instant(t_s))[0] < 0.0


def test_visible_counts_match_skyfield_altaz_for_the_nominal_constellation(bds3_scene):
    places = [(BEIJING.lat_deg, BEIJING.lon_deg), (-33.87, 151.21), (64.1, -21.9), (0.0, -150.0)]
    axis = TimeAxis.from_duration(EPOCH + dt.timedelta(hours=5), 0, 60)
    idx = np.arange(bds3_scene.n_sats)
    cov = coverage(bds3_scene, axis, {"all": idx}, [p[0] for p in places], [p[1] for p in places], 10.0)
    t = axis.skyfield()[0]
    for i, (lat, lon) in enumerate(places):
        el = skyfield_elevations_deg(bds3_scene.satellites, lat, lon, t)
        assert np.min(np.abs(el - 10.0)) > 0.01  # no satellite sits on the mask here
        assert cov.groups["all"].visible_mean[i] == (el >= 10.0).sum()


def test_beidou_tle_snapshot_visible_count_matches_skyfield(tle_dir):
    sats = [Satellite.from_tle(t, "beidou") for t in load_tle_file(tle_dir / "beidou.txt")]
    sats = list({s.node: s for s in sats}.values())
    scene = Scene(sats, [])
    start = dt.datetime(2024, 7, 16, 6, 0, tzinfo=dt.timezone.utc)
    axis = TimeAxis.from_duration(start, 0, 60)
    places = [(BEIJING.lat_deg, BEIJING.lon_deg), (39.47, 75.99), (-35.28, 149.13)]
    cov = coverage(scene, axis, satellite_groups(scene, "all"), [p[0] for p in places], [p[1] for p in places],
                   min_elevation_deg=10.0)
    t = timescale().from_datetime(start)
    for i, (lat, lon) in enumerate(places):
        el = skyfield_elevations_deg(scene.satellites, lat, lon, t)
        on_mask = np.abs(el - 10.0) < 0.01
        expected = int((el >= 10.0).sum())
        assert abs(cov.groups["all"].visible_mean[i] - expected) <= on_mask.sum()
        if not on_mask.any():
            assert cov.groups["all"].visible_mean[i] == expected
    # over China a navigation fix is always possible with the real constellation
    assert cov.groups["all"].visible_min[0] >= 4


# --------------------------------------------------------------------------- DOP
def test_pdop_equals_a_least_squares_solve_with_skyfield_vectors(bds3_scene):
    places = [(BEIJING.lat_deg, BEIJING.lon_deg), (-33.87, 151.21), (51.5, -0.1), (-60.0, -70.0)]
    for t_s in (0.0, 7200.0):
        axis = TimeAxis.from_duration(EPOCH + dt.timedelta(seconds=t_s), 0, 60)
        cov = coverage(bds3_scene, axis, {"bds3": np.arange(bds3_scene.n_sats)},
                       [p[0] for p in places], [p[1] for p in places], 10.0)
        for i, (lat, lon) in enumerate(places):
            expected = lstsq_pdop(bds3_scene.satellites, lat, lon, axis.skyfield()[0], 10.0)
            assert cov.groups["bds3"].pdop_mean[i] == pytest.approx(expected, rel=1e-4)
            assert cov.groups["bds3"].pct_time_pdop_ok[i] == (100.0 if expected <= 6.0 else 0.0)


def test_closed_form_pdop_equals_explicit_inverse_of_gtg():
    rng = np.random.default_rng(7)
    rcv = rng.normal(size=(40, 3))
    rcv *= 6371.0 / np.linalg.norm(rcv, axis=1, keepdims=True)
    sat = rng.normal(size=(3, 20, 3))
    sat *= 27900.0 / np.linalg.norm(sat, axis=2, keepdims=True)
    los = sat[:, None, :, :] - rcv[None, :, None, :]
    rng_km = np.linalg.norm(los, axis=-1)
    unit = los / rng_km[..., None]
    visible = np.einsum("tpsk,pk->tps", unit, rcv / 6371.0) > np.sin(np.radians(5))
    fast = pdop_from_positions(rcv, sat, visible)
    for t in range(3):
        for p in range(40):
            rows = geometry_matrix(unit[t, p][visible[t, p]])
            if rows.shape[0] < 4:
                assert np.isnan(fast[t, p])
                continue
            q = np.linalg.inv(rows.T @ rows)
            assert fast[t, p] == pytest.approx(np.sqrt(np.trace(q[:3, :3])), rel=1e-9)
    assert np.allclose(dops(unit, visible)["pdop"], fast, rtol=1e-9, equal_nan=True)


def test_four_satellites_in_a_tetrahedron_have_the_textbook_dops():
    # one at the zenith and three at -19.47 deg elevation, 120 deg apart: a regular tetrahedron
    el = np.radians(-19.4712206)
    az = np.radians([0.0, 120.0, 240.0])
    low = np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.full(3, np.sin(el))], axis=1)
    e = np.vstack([[0.0, 0.0, 1.0], low])
    d = dops(e, up=np.array([0.0, 0.0, 1.0]))
    # G^T G = diag(4/3, 4/3, 4/3, 4) -> PDOP = sqrt(9/4) = 1.5, TDOP = 0.5, HDOP = sqrt(1.5), VDOP = sqrt(0.75)
    assert d["pdop"] == pytest.approx(1.5)
    assert d["tdop"] == pytest.approx(0.5)
    assert d["hdop"] == pytest.approx(np.sqrt(1.5))
    assert d["vdop"] == pytest.approx(np.sqrt(0.75))
    assert np.isnan(dops(e[:3])["pdop"])  # three satellites: no fix


# --------------------------------------------------------------------------- groups, grid, files
def test_layer_names_select_layers_shells_and_combinations():
    scen_sats = PRESETS["bds3"].satellites("bds3", EPOCH) + PRESETS["iridium"].satellites("iri", EPOCH, 95001)
    scene = Scene(scen_sats, [builtin_station("Beijing")])
    groups = satellite_groups(scene, "all")
    assert list(groups) == ["bds3", "iri", "meo", "igso", "geo", "all"]  # iri == the LEO layer, kept once
    assert groups["all"].size == 30 + 66 and groups["meo"].size == 24
    assert list(satellite_groups(scene, "bds3")) == ["bds3", "bds3:meo", "bds3:igso", "bds3:geo"]
    assert list(satellite_groups(scene, "GEO")) == ["geo"]
    assert satellite_groups(scene, "meo,geo")["meo,geo"].size == 27
    for bad in ("xyz", "ground", ""):
        with pytest.raises(UnknownLayer):
            satellite_groups(scene, bad)


def test_a_two_degree_grid_has_16200_cell_centres():
    g = GroundGrid.global_grid(2.0)
    assert g.shape == (90, 180)
    assert g.lat_deg[0] == -89.0 and g.lat_deg[-1] == 89.0 and g.lon_deg[0] == -179.0 and g.lon_deg[-1] == 179.0
    lat, lon = g.points_deg()
    assert lat.size == 16200 and (lat[1], lon[1]) == (-89.0, -177.0)


def test_a_walker_meo_shell_covers_north_and_south_alike_over_a_day():
    # a 24/3/1 Walker at 55 deg: mean counts mirror about the equator, and four are always in view
    sats = PRESETS["bds3"].satellites("bds3", EPOCH)[:24]
    scene = Scene(sats, [])
    axis = TimeAxis.from_duration(EPOCH, 86400, 1800)
    cov = grid_coverage(scene, axis, {"meo": np.arange(24)}, 30.0, 10.0)
    mean = cov.on_grid("meo", "visible_mean")
    assert mean.shape == (6, 12)
    assert np.allclose(mean, mean[::-1], atol=0.6)  # north-south symmetric
    assert (cov.on_grid("meo", "visible_min") >= 4).all()


def test_the_coverage_command_writes_a_grid_csv_a_summary_and_maps(tmp_path):
    out = tmp_path / "cov"
    rc = main(["coverage", "--layer", "all", "--duration", "3600", "--step", "900", "--grid-deg", "30",
               "--out", str(out), "-q"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "coverage.csv")))
    assert list(rows[0]) == ["lat_deg", "lon_deg", "group", *FIELDS]
    groups = {r["group"] for r in rows}
    assert groups == {"bds3", "leo", "meo", "igso", "geo", "all"}
    assert len(rows) == 6 * 12 * 6
    assert all(r["pdop_mean"] == "" for r in rows if r["group"] in ("leo", "all"))
    assert all(float(r["pdop_mean"]) >= 1.0 for r in rows if r["group"] == "bds3")
    for name in groups:
        assert (out / f"coverage-{name}.png").stat().st_size > 20_000
    assert (out / "coverage.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["coverage", "--layer", "mars"], "--layer"),
    (["coverage", "--grid-deg", "0"], "--grid-deg"),
    (["coverage", "--min-elevation", "91"], "--min-elevation"),
    (["coverage", "--duration", "-1"], "duration"),
])
def test_bad_coverage_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
