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

from experiments.coverage import (FIELDS, PDOP_BINS, GroundGrid, UnknownLayer, coverage, grid_coverage,
                                  satellite_groups)
from experiments.coveragemap import coverage_figure
from experiments.dop import dops, geometry_matrix, pdop_from_positions
from orbits.presets import PRESETS
from orbits.satellite import Satellite
from orbits.scene import Scene
from orbits.stations import builtin_station
from orbits.timebase import TimeAxis, timescale
from orbits.tle import load_tle_file
from sgemu.cli import main

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
#: Relative width of one PDOP histogram bin: percentiles are good to this.
BIN_REL = float(PDOP_BINS[1] / PDOP_BINS[0] - 1)
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
            g = cov.groups["bds3"]
            assert g.pdop_median[i] == pytest.approx(expected, rel=BIN_REL)  # one instant: its own median
            assert g.pct_time_pdop_ok[i] == (100.0 if expected <= 2.0 else 0.0)
            assert g.pct_time_fix[i] == (100.0 if expected <= 6.0 else 0.0)


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
    for field in ("pdop_median", "pdop_p95", "pct_time_pdop_ok", "pct_time_fix"):
        assert all(r[field] == "" for r in rows if r["group"] in ("leo", "all", "igso", "geo"))
    assert all(1.0 <= float(r["pdop_median"]) <= float(r["pdop_p95"]) for r in rows if r["group"] == "bds3")
    for name in groups:
        assert (out / f"coverage-{name}.png").stat().st_size > 20_000
    assert (out / "coverage.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["coverage", "--layer", "mars"], "--layer"),
    (["coverage", "--grid-deg", "0"], "--grid-deg"),
    (["coverage", "--min-elevation", "91"], "--min-elevation"),
    (["coverage", "--pdop-limit", "0"], "--pdop-limit"),
    (["coverage", "--duration", "-1"], "duration"),
])
def test_bad_coverage_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "x"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


# --------------------------------------------------------------------------- robust PDOP statistics
def pdop_series(scene: Scene, idx, lat_deg: float, lon_deg: float, axis: TimeAxis, mask_deg: float) -> np.ndarray:
    """PDOP at one place at every instant (time,), inf without a fix; from Skyfield vectors and lstsq."""
    out = []
    for t in axis.skyfield():
        p = lstsq_pdop([scene.satellites[i] for i in idx], lat_deg, lon_deg, t, mask_deg)
        out.append(p if np.isfinite(p) and p <= 100.0 else np.inf)
    return np.array(out)


def test_one_near_degenerate_instant_moves_neither_the_median_nor_the_95th_percentile(bds3_scene):
    # At 15 N 37 W, 50 minutes in, exactly four BDS-3 MEO satellites stand above 10 degrees, all within
    # 3 degrees of 56 degrees elevation: four lines of sight on one cone around the vertical.
    meo = np.arange(24)
    el = skyfield_elevations_deg([bds3_scene.satellites[i] for i in meo], 15.0, -37.0, instant(3000))
    high = el[el >= 10.0]
    assert high.size == 4 and np.ptp(high) < 3.0
    axis = TimeAxis.from_duration(EPOCH, 86400, 1800)
    series = pdop_series(bds3_scene, meo, 15.0, -37.0, axis, 10.0)
    assert lstsq_pdop([bds3_scene.satellites[i] for i in meo], 15.0, -37.0, instant(3000), 10.0) > 100.0
    # the mean over the day is dominated by that instant; the percentiles are not
    cov = coverage(bds3_scene, TimeAxis.from_duration(EPOCH, 86400, 600), {"meo": meo}, [15.0, 17.0],
                   [-37.0, -37.0], 10.0)
    g = cov.groups["meo"]
    assert np.isfinite(g.pdop_p95).all() and (g.pdop_p95 < 4.0).all()
    assert g.pdop_median[0] == pytest.approx(g.pdop_median[1], rel=0.1)   # no stripe at 15 N
    assert np.median(series[np.isfinite(series)]) == pytest.approx(g.pdop_median[0], rel=0.1)


def test_percentiles_equal_numpys_over_an_independently_computed_day(bds3_scene):
    places = [(BEIJING.lat_deg, BEIJING.lon_deg), (-33.87, 151.21), (51.5, -0.1)]
    axis = TimeAxis.from_duration(EPOCH, 86400, 3600)
    # one MEO plane with the IGSO and GEO satellites: a fix over China and Australia most of the time,
    # over London a fix only a fifth of the time (median and 95th percentile infinite)
    groups = {"meo": np.arange(24), "all": np.arange(30), "part": np.r_[0:8, 24:30]}
    cov = coverage(bds3_scene, axis, groups, [p[0] for p in places], [p[1] for p in places], 10.0)
    for name, sel in groups.items():
        g = cov.groups[name]
        for i, (lat, lon) in enumerate(places):
            series = pdop_series(bds3_scene, sel, lat, lon, axis, 10.0)
            counts = np.array([(skyfield_elevations_deg([bds3_scene.satellites[j] for j in sel], lat, lon, t)
                                >= 10.0).sum() for t in axis.skyfield()])
            assert g.visible_p5[i] == np.quantile(counts, 0.05, method="inverted_cdf")
            assert g.fix_alone
            assert g.pct_time_fix[i] == pytest.approx(100.0 * np.mean(series <= 6.0))
            for q, got in ((0.5, g.pdop_median[i]), (0.95, g.pdop_p95[i])):
                want = np.quantile(series, q, method="inverted_cdf")
                assert got == (np.inf if np.isinf(want) else pytest.approx(want, rel=BIN_REL))
    part = cov.groups["part"]
    assert part.fix_alone and np.isfinite(part.pdop_median[:2]).all() and np.isinf(part.pdop_median[2])


def test_availability_at_pdop_2_varies_over_the_globe_where_pdop_6_is_flat(bds3_scene):
    axis = TimeAxis.from_duration(EPOCH, 86400, 1800)
    cov = grid_coverage(bds3_scene, axis, {"bds3": np.arange(30)}, 10.0, 10.0)
    g = cov.groups["bds3"]
    assert g.pct_time_fix.min() >= 95.0                       # PDOP <= 6 nearly all the time everywhere
    assert g.pct_time_pdop_ok.min() < 30.0 and g.pct_time_pdop_ok.max() == 100.0   # PDOP <= 2: structure
    s = cov.summary()["groups"]["bds3"]
    assert s["pct_time_pdop_ok_min"] < 30.0 and s["pct_time_pdop_ok_max"] == 100.0


def test_groups_that_cannot_give_a_fix_alone_get_no_pdop(bds3_scene, tle_dir):
    sats = [Satellite.from_tle(t, "beidou") for t in load_tle_file(tle_dir / "beidou.txt")]
    scene = Scene(list({s.node: s for s in sats}.values()), [])
    axis = TimeAxis.from_duration(EPOCH, 86400, 3600)
    cov = grid_coverage(scene, axis, satellite_groups(scene, "beidou"), 15.0, 10.0)
    geo, meo = cov.groups["beidou:geo"], cov.groups["beidou:meo"]
    assert geo.n_sats >= 4 and geo.pct_time_4plus.max() > 50.0       # often four or more GEO in view ...
    assert not geo.fix_alone and np.isnan(geo.pdop_median).all() and np.isnan(geo.pct_time_pdop_ok).all()
    assert "no usable fix" in geo.fix_note
    # ... but from Beijing they stand nearly in one plane: the least-squares PDOP is far above 6
    t = instant(0)
    geo_sats = [scene.satellites[i] for i in geo.sat_indices]
    assert lstsq_pdop(geo_sats, BEIJING.lat_deg, BEIJING.lon_deg, t, 10.0) > 6.0
    assert meo.fix_alone and np.isfinite(meo.pdop_median).all()
    nominal = coverage(bds3_scene, axis, satellite_groups(bds3_scene, "bds3"), [BEIJING.lat_deg], [BEIJING.lon_deg])
    assert not nominal.groups["bds3:igso"].fix_alone and "never 4 in view" in nominal.groups["bds3:igso"].fix_note
    fig = coverage_figure(cov, "beidou:geo")
    fields = [a.get_gid() for ax in fig.axes for a in ax.get_children() if (a.get_gid() or "").startswith("field:")]
    assert fields and not any("pdop" in f for f in fields)
    assert "No PDOP: beidou:geo cannot give a position fix alone" in fig.get_suptitle()
    s = cov.summary()["groups"]
    assert s["beidou:geo"]["fix_alone"] is False and "pdop_median" not in s["beidou:geo"]
