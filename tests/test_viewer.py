"""The viewer's scene JSON, server and command, without a browser.

Claims: the positions the page gets are where Skyfield puts the satellites;
the link deltas rebuild every step's links exactly; the route is the one
``sgemu route`` predicts; overlay counts are what an altaz count gives; the
server serves the page, Cesium, JSON and a WebSocket of published events;
``sgemu view`` refuses bad input in one line (exit 2) and missing assets
with how to install them (exit 3).
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sgemu.cli import main
from sgemu.cmd_topology import compute_series
from sgemu.scenario import load_scenario
from viewer import server as server_mod
from viewer.scene import coverage_json, link_deltas, route_json, scene_json, unpacked

ASSETS = (server_mod.WEB_DIR / server_mod.CESIUM_SUBDIR / "Cesium.js").is_file()
needs_assets = pytest.mark.skipif(not ASSETS, reason="CesiumJS not installed (make viewer-assets)")


@pytest.fixture(scope="module")
def default():
    spec = load_scenario(None).with_overrides(duration_s=300)
    scene, series = compute_series(spec, quiet=True)
    return spec, scene, series


def test_scene_positions_are_skyfields_itrs_positions(default):
    from skyfield.api import EarthSatellite
    from skyfield.framelib import itrs

    spec, scene, series = default
    js = json.loads(json.dumps(scene_json(series, scene, name=spec.name)))
    pos = unpacked(js["frames"]["positions_km"])
    assert pos.shape == (len(js["frames"]["steps"]), series.n_nodes, 3)
    assert js["nodes"]["n_satellites"] == 78 and js["nodes"]["n_stations"] == 8
    f = len(js["frames"]["steps"]) // 2
    t = series.axis.skyfield(js["frames"]["steps"][f])
    for i in (0, 10, 40, 77):   # a GEO, an IGSO/MEO, and LEO satellites
        sat = scene.satellites[i]
        es = EarthSatellite.from_satrec(sat.satrec, t.ts)
        expect = es.at(t).frame_xyz(itrs).km
        assert np.linalg.norm(pos[f, i] - expect) < 0.5, sat.node  # float32 and no polar motion: metres
    beijing = series.index("Beijing")
    lat, lon = np.radians(39.9), np.radians(116.4)
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    assert np.dot(pos[0, beijing] / np.linalg.norm(pos[0, beijing]), up) > 0.999


def test_link_deltas_rebuild_every_step_exactly(default):
    _, _, series = default
    d = {k: unpacked(v) for k, v in link_deltas(series).items()}
    state = set(d["initial"].tolist())
    assert state == set(series.active(0)[0].tolist())
    changes = 0
    for k in range(1, series.n_steps):
        up = d["up"][d["up_ptr"][k - 1]:d["up_ptr"][k]]
        down = d["down"][d["down_ptr"][k - 1]:d["down_ptr"][k]]
        state |= set(up.tolist())
        state -= set(down.tolist())
        changes += up.size + down.size
        assert state == set(series.active(k)[0].tolist()), k
    assert changes > 0  # the default scenario's links do change within 5 minutes


def test_route_json_is_the_predicted_route(default, tmp_path):
    spec, _, series = default
    r = route_json(series, "beijing", "KASHI", spec.ground_transit)
    assert (r["src"], r["dst"]) == ("Beijing", "Kashi")
    assert main(["route", "--src", "Beijing", "--dst", "Kashi", "--duration", "300", "--quiet",
                 "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "route-Beijing-Kashi.csv")))
    assert len(rows) == len(r["rtt_ms"]) == series.n_steps
    for k, row in enumerate(rows):
        assert (r["rtt_ms"][k] is None) == (row["rtt_ms"] == "")
        if row["rtt_ms"]:
            assert abs(r["rtt_ms"][k] - float(row["rtt_ms"])) < 0.0006
    path_at = {p["step"]: p["path"] for p in r["paths"]}
    current = None
    for k, row in enumerate(rows):
        current = path_at.get(k, current)
        assert " ".join(series.node_names[i] for i in current) == row["path"]
    with pytest.raises(KeyError):
        route_json(series, "Beijing", "Atlantis")


def test_coverage_counts_match_an_altaz_count(default):
    from skyfield.api import EarthSatellite, wgs84

    _, scene, series = default
    cov = coverage_json(scene, series.axis, "bds3", step_deg=15.0, max_frames=3)
    vis = unpacked(cov["visible"])
    pdop = unpacked(cov["pdop"])
    assert vis.shape == pdop.shape == (len(cov["steps"]), 12, 24)
    assert cov["navigation"] and cov["satellites"] == 30
    ts = series.axis.skyfield(cov["steps"][1])
    for i, j in ((7, 15), (2, 3), (10, 20)):   # (lat, lon) cells: 37.5 N 52.5 E, ...
        place = wgs84.latlon(cov["lat_deg"][i], cov["lon_deg"][j])
        n = 0
        for s in scene.satellites[:30]:
            alt, _, _ = (EarthSatellite.from_satrec(s.satrec, ts.ts) - place).at(ts).altaz()
            n += alt.degrees >= 10.0
        assert vis[1, i, j] == n
        assert np.isnan(pdop[1, i, j]) == (n < 4)
    leo = coverage_json(scene, series.axis, "leo", step_deg=30.0, max_frames=2)
    assert leo["pdop"] is None and not leo["navigation"]


@needs_assets
def test_server_serves_page_cesium_json_and_live_events(default):
    spec, scene, series = default
    srv = server_mod.server_for(series, scene, name=spec.name, route=("Beijing", "Kashi"), port=0, live=True)
    with srv:
        base = srv.url
        assert base.startswith("http://127.0.0.1:")
        assert b"cesium/Cesium.js" in urllib.request.urlopen(base).read()
        assert urllib.request.urlopen(base + "cesium/Cesium.js").status == 200
        tiles = urllib.request.urlopen(base + "cesium/Assets/Textures/NaturalEarthII/0/0/0.jpg").read()
        assert tiles[:2] == b"\xff\xd8"  # a JPEG
        js = json.load(urllib.request.urlopen(base + "api/scene.json"))
        assert js["nodes"]["names"] == series.node_names and js["route"] == ["Beijing", "Kashi"]
        r = json.load(urllib.request.urlopen(base + "api/route/Sanya/Moscow.json"))
        assert r["src"] == "Sanya" and len(r["rtt_ms"]) == series.n_steps
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "api/route/Sanya/Atlantis.json")
        assert err.value.code == 404 and "Atlantis" in json.load(err.value)["error"]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "api/coverage/nonsense.json")
        assert err.value.code == 404
        srv.publish({"type": "step", "k": 3, "t_s": 3.0, "late_ms": 0.1, "apply_ms": 2.0})
        got = asyncio.run(_ws_messages(base + "ws", srv, 2))
        assert got[0]["type"] == "hello" and got[0]["live"] and got[0]["history"][0]["k"] == 3
        assert got[1] == {"type": "ping", "src": "Beijing", "dst": "Kashi", "t_s": 4.0, "rtt_ms": 70.0,
                          "predicted_rtt_ms": 69.5, "seq": 2}
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base, timeout=2)  # stopped: nothing listens any more


async def _ws_messages(url, srv, n):
    import aiohttp

    out = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            out.append(json.loads((await ws.receive()).data))
            srv.publish({"type": "ping", "src": "Beijing", "dst": "Kashi", "t_s": 4.0, "rtt_ms": 70.0,
                         "predicted_rtt_ms": 69.5})
            while len(out) < n:
                out.append(json.loads((await ws.receive(timeout=10)).data))
    return out


def _run_view(args, capsys):
    code = main(["view", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, field", [
    (["--route", "Beijing:Atlantis", "--duration", "10"], "--route: unknown ground station 'Atlantis'"),
    (["--route", "Beijing"], "--route:"),
    (["--time", "700"], "--time: 700 s is after the end"),
    (["--port", "70000"], "--port:"),
    (["--coverage", "bds3"], "--coverage: goes with --export"),
    (["no/such/scenario.yaml"], "no such file"),
])
def test_view_refuses_bad_input_in_one_line(args, field, capsys):
    if not ASSETS and not args[0].startswith("--port"):
        pytest.skip("CesiumJS not installed (make viewer-assets)")
    code, err = _run_view(args, capsys)
    assert code == 2
    assert field in err and err.count("\n") == 1 and "Traceback" not in err


def test_view_without_assets_says_how_to_install_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(server_mod, "WEB_DIR", tmp_path)
    code, err = _run_view(["--duration", "10"], capsys)
    assert code == 3
    assert "npm ci --prefix" in err and "make viewer-assets" in err and err.count("\n") == 1


@needs_assets
def test_export_writes_a_static_site_and_refuses_bad_groups_before_writing(tmp_path, capsys):
    out = tmp_path / "site"
    code, err = _run_view(["--duration", "60", "--export", str(out), "--coverage", "nonsense"], capsys)
    assert code == 2 and "--coverage:" in err and not out.exists()
    code, _ = _run_view(["--duration", "60", "--export", str(out), "--coverage", "bds3", "--route",
                         "Sanya:Moscow", "--quiet"], capsys)
    assert code == 0
    js = json.loads((out / "api/scene.json").read_text())
    assert js["static"] and js["coverage_groups"] == ["bds3"] and js["route"] == ["Sanya", "Moscow"]
    assert json.loads((out / "api/route/Sanya/Moscow.json").read_text())["src"] == "Sanya"
    assert unpacked(json.loads((out / "api/coverage/bds3.json").read_text())["visible"]).ndim == 3
    for f in ("index.html", "app.js", "style.css", "cesium/Cesium.js",
              "cesium/Assets/Textures/NaturalEarthII/tilemapresource.xml"):
        assert (out / f).is_file(), f
    code, err = _run_view(["--duration", "60", "--export", str(out)], capsys)
    assert code == 2 and "not an empty directory" in err


@needs_assets
def test_replay_of_a_links_directory_carries_its_measured_pings(tmp_path, capsys):
    d = tmp_path / "links"
    assert main(["links", "--duration", "20", "--quiet", "--out", str(d)]) == 0
    with open(d / "results.csv", "w", newline="") as f:   # the columns `sgemu run` writes
        w = csv.writer(f)
        w.writerow(["t_s", "src", "dst", "seq", "step", "rtt_ms_measured", "rtt_ms_predicted"])
        w.writerow(["1.204", "Beijing", "Kashi", "1", "1", "71.250", "70.900"])
        w.writerow(["1.404", "Beijing", "Kashi", "2", "1", "71.300", ""])
    proc = subprocess.Popen([sys.executable, "-m", "sgemu", "view", str(d), "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split()[2]
        js = json.load(urllib.request.urlopen(url + "api/scene.json"))
        assert js["n_steps"] == 21 and js["route"] == ["Beijing", "Kashi"]
        assert js["pings"] == [
            {"t_s": 1.204, "src": "Beijing", "dst": "Kashi", "rtt_ms": 71.25, "predicted_rtt_ms": 70.9},
            {"t_s": 1.404, "src": "Beijing", "dst": "Kashi", "rtt_ms": 71.3, "predicted_rtt_ms": None}]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0   # SIGTERM stops the server cleanly
    code, err = _run_view([str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "not a run or links directory" in err
