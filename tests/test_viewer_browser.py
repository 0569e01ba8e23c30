"""The viewer in a real browser: Debian's chromium, software WebGL (SwiftShader), driven by Playwright.

Claims: the page loads with no console error and asks nothing of any server
but its own; it draws as many satellites and stations as the scenario has;
moving the timeline moves the satellites to where Skyfield puts them (to
within a pixel on screen); the route panel shows the RTT ``sgemu route``
predicts at that time; clicking a station shows its name and links; the
coverage overlay draws; a live page follows published steps and pings.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest

from sgemu.cli import main
from sgemu.cmd_topology import compute_series
from sgemu.scenario import load_scenario
from topologies.rules import KINDS
from viewer import server as server_mod

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium at {CHROMIUM} (scripts/system-packages.sh web)", allow_module_level=True)
if not (server_mod.WEB_DIR / server_mod.CESIUM_SUBDIR / "Cesium.js").is_file():
    pytest.skip("CesiumJS not installed (make viewer-assets)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")

READY = "window.sgemuView && (window.sgemuView.ready || window.sgemuView.errors.length > 0)"


@pytest.fixture(scope="module")
def default():
    spec = load_scenario(None)
    scene, series = compute_series(spec, quiet=True)
    return spec, scene, series


@pytest.fixture(scope="module")
def served(default):
    spec, scene, series = default
    with server_mod.server_for(series, scene, name=spec.name, ground_transit=spec.ground_transit,
                               route=("Beijing", "Kashi"), port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page of the viewer with every console message, page error and request recorded."""

    def __init__(self, browser, url):
        self.page = browser.new_page(viewport={"width": 1200, "height": 800})
        self.console, self.requests = [], []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_function(READY, timeout=120_000)
        assert self.eval("sgemuView.errors") == []

    def eval(self, js, arg=None):
        return self.page.evaluate(js, arg)

    def close(self):
        self.page.close()


@pytest.fixture
def page(browser, served):
    p = Page(browser, served.url)
    yield p
    p.close()


def test_page_loads_offline_without_console_errors(page, served):
    page.page.wait_for_timeout(3000)   # imagery tiles, workers
    errors = [m for m in page.console if m[0] in ("error", "pageerror")]
    assert errors == []
    outside = [u for u in page.requests if not u.startswith((served.url, "blob:" + served.url, "data:"))]
    assert outside == []
    assert any("NaturalEarthII" in u for u in page.requests)        # the globe's imagery, from our server
    assert any(u.endswith("api/scene.json") for u in page.requests)


def test_drawn_satellites_and_stations_equal_the_scenarios(page, default):
    _, scene, series = default
    counts = page.eval("sgemuView.counts")
    assert counts["satellites"] == scene.n_sats == 78
    assert counts["stations"] == len(scene.stations) == 8
    page.eval("sgemuView.setTime(0)")
    assert page.eval("sgemuView.linksShown()") == series.active(0)[0].size


def _skyfield_itrs_km(scene, series, t_s):
    from skyfield.api import EarthSatellite
    from skyfield.framelib import itrs

    s = series.axis.start
    t = series.axis.skyfield(0).ts.utc(s.year, s.month, s.day, s.hour, s.minute, s.second + t_s)
    return np.array([EarthSatellite.from_satrec(s.satrec, t.ts).at(t).frame_xyz(itrs).km for s in scene.satellites])


def test_timeline_moves_satellites_to_their_propagated_positions(page, default):
    _, scene, series = default
    drawn = {}
    for t_s in (137.5, 421.0):   # between position frames: the page interpolates
        assert page.eval(f"sgemuView.setTime({t_s})") == t_s
        drawn[t_s] = np.array(page.eval("sgemuView.drawnPositionsKm()"))[:scene.n_sats]
        truth = _skyfield_itrs_km(scene, series, t_s)
        err_km = np.linalg.norm(drawn[t_s] - truth, axis=1)
        assert err_km.max() < 2.0, err_km.max()
        # on screen: the drawn point and the true position fall within one pixel of each other
        pairs = [[list(map(float, a)), list(map(float, b))] for a, b in zip(drawn[t_s][::5], truth[::5])]
        win = page.eval("(pairs) => pairs.map(([a, b]) => [sgemuView.toWindow(a), sgemuView.toWindow(b)])", pairs)
        px = [np.hypot(a[0] - b[0], a[1] - b[1]) for a, b in win]
        assert max(px) < 1.0, max(px)
    leo = [i for i, s in enumerate(scene.satellites) if s.layer == "LEO"]
    moved = np.linalg.norm(drawn[421.0][leo] - drawn[137.5][leo], axis=1)
    assert moved.min() > 1500   # 283 s at about 7.4 km/s


def test_route_panel_shows_the_rtt_of_sgemu_route(page, tmp_path):
    assert main(["route", "--src", "Beijing", "--dst", "Kashi", "--quiet", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "route-Beijing-Kashi.csv")))
    page.page.wait_for_function("sgemuView.routeReady()")
    for t_s in (0.0, 123.4, 300.0, 599.0):
        page.eval(f"sgemuView.setTime({t_s})")
        cell = page.page.locator("#route-rtt")
        k = int(cell.get_attribute("data-step"))
        assert k == int(t_s)
        expect = float(rows[k]["rtt_ms"])
        assert abs(float(cell.get_attribute("data-rtt-ms")) - expect) < 0.0006
        assert cell.inner_text() == f"{expect:.1f} ms"
        hops = page.page.locator("#route-hops li").all_inner_texts()
        assert " ".join(hops) == rows[k]["path"]


def test_clicking_a_station_shows_its_name_position_and_links(page, default):
    _, scene, series = default
    page.eval("sgemuView.setTime(60)")
    page.page.wait_for_timeout(500)
    i = series.index("Beijing")
    pos = page.eval("sgemuView.drawnPositionsKm()")[i]
    x, y = page.eval("(p) => sgemuView.toWindow(p)", pos)
    page.page.mouse.click(x, y)
    page.page.wait_for_function("!document.getElementById('info').hidden", timeout=20_000)
    assert page.page.locator("#info-name").text_content() == "Beijing"
    table = page.page.locator("#info-table").inner_text()
    assert "ground station" in table and "39.9" in table and "116.4" in table
    peers = {li.split(" · ")[0] for li in page.page.locator("#info-links li").all_inner_texts()}
    ids, _ = series.active(60)
    expect = {series.node_names[b if a == i else a] for a, b in zip(series.link_a[ids], series.link_b[ids])
              if i in (a, b)}
    assert peers == expect and expect


CLEAR_SATELLITES = """(n) => {
  // satellites on the Earth's near side, on the bare globe (no panel over them), 14 px from any other point
  const v = sgemuView.viewer, occ = new Cesium.EllipsoidalOccluder(Cesium.Ellipsoid.WGS84, v.camera.positionWC);
  const km = sgemuView.drawnPositionsKm(), canvas = v.scene.canvas;
  const win = km.map((p) => sgemuView.toWindow(p));
  const out = [];
  for (let i = 0; i < n; i++) {
    const w = win[i], p = km[i];
    if (!w || !occ.isPointVisible(new Cesium.Cartesian3(p[0] * 1000, p[1] * 1000, p[2] * 1000))) continue;
    if (document.elementFromPoint(w[0], w[1]) !== canvas) continue;
    if (win.every((o, j) => j === i || !o || Math.hypot(o[0] - w[0], o[1] - w[1]) > 14)) out.push(i);
  }
  return out;
}"""


def test_clicking_a_satellite_shows_its_name_layer_position_and_links(page, default):
    from skyfield.api import EarthSatellite, wgs84

    _, scene, series = default
    t_s = 60.0   # on a position frame: the drawn point is the propagated one
    page.eval(f"sgemuView.setTime({t_s})")
    page.page.wait_for_timeout(500)
    clear = page.eval(f"({CLEAR_SATELLITES})({scene.n_sats})")
    assert clear, "no satellite drawn clear of the others"
    layers = {scene.satellites[i].layer: i for i in reversed(clear)}   # one of each layer drawn clear
    assert len(layers) >= 2, layers
    for i in layers.values():
        sat, name = scene.satellites[i], series.node_names[i]
        x, y = page.eval("(p) => sgemuView.toWindow(p)", page.eval("sgemuView.drawnPositionsKm()")[i])
        page.page.mouse.click(x, y)
        page.page.wait_for_function(f"document.getElementById('info-name').textContent === {name!r}",
                                    timeout=20_000)
        rows = dict(tuple(td.split("\t", 1)) for td in page.page.locator("#info-table tr").all_inner_texts())
        assert rows["layer"] == f"{series.node_shell[i]} {sat.layer}"
        s = series.axis.start
        t = series.axis.skyfield(0).ts.utc(s.year, s.month, s.day, s.hour, s.minute, s.second + t_s)
        geo = EarthSatellite.from_satrec(sat.satrec, t.ts).at(t)
        lat, lon = wgs84.latlon_of(geo)
        shown_lat, shown_lon = (float(v.strip(" °")) for v in rows["lat, lon"].split(","))
        assert abs(shown_lat - lat.degrees) < 0.002 and abs(shown_lon - lon.degrees) < 0.002, (rows, lat, lon)
        assert abs(float(rows["altitude"].split()[0]) - wgs84.height_of(geo).km) < 0.2
        ring = page.eval(f"(() => {{ const p = sgemuView.point({i}); return [p.pixelSize, p.outlineColor.toCssHexString()]; }})()")
        assert ring == [(5 if sat.layer == "LEO" else 8) + 6, "#ffff00"]   # the clicked one stands out
        peers = {li.split(" · ")[0] for li in page.page.locator("#info-links li").all_inner_texts()}
        ids, _ = series.active(int(t_s))
        expect = {series.node_names[b if a == i else a] for a, b in zip(series.link_a[ids], series.link_b[ids])
                  if i in (a, b)}
        assert peers == expect and expect
    first = list(layers.values())[0]   # the one clicked before is back to its size and outline
    assert page.eval(f"sgemuView.point({first}).pixelSize") == (5 if scene.satellites[first].layer == "LEO" else 8)
    assert page.eval(f"sgemuView.point({first}).outlineColor.toCssHexString()") == "#000000"


def test_play_pause_and_speed_drive_the_timeline(page):
    page.eval("sgemuView.setTime(100)")
    page.page.select_option("#speed", "300")
    assert page.eval("sgemuView.viewer.clock.multiplier") == 300
    page.page.click("#play")
    page.page.wait_for_function("sgemuView.time() > 130", timeout=60_000)   # 300 scenario s per real s
    assert page.page.locator("#play").inner_text() == "pause"
    page.page.click("#play")
    assert page.page.locator("#play").inner_text() == "play"
    stopped = page.eval("sgemuView.viewer.clock.currentTime.secondsOfDay")
    page.page.wait_for_timeout(1500)
    assert page.eval("sgemuView.viewer.clock.currentTime.secondsOfDay") == stopped
    t_s = page.eval("sgemuView.time()")
    assert 130 < t_s < 600 and page.eval("sgemuView.step()") == int(t_s)   # the links follow the clock's step


def test_scale_draws_fewer_pixels_and_clicks_still_pick(browser, served, default):
    _, _, series = default
    p = Page(browser, served.url + "?scale=0.5&lite=1")
    try:
        canvas = p.eval("(() => { const c = sgemuView.viewer.scene.canvas; return [c.width, c.clientWidth]; })()")
        assert canvas[0] == canvas[1] // 2
        assert p.eval("sgemuView.lite") is True
        p.eval("sgemuView.setTime(60)")
        p.page.wait_for_timeout(500)
        x, y = p.eval("(p) => sgemuView.toWindow(p)", p.eval("sgemuView.drawnPositionsKm()")[series.index("Beijing")])
        p.page.mouse.click(x, y)
        p.page.wait_for_function("document.getElementById('info-name').textContent === 'Beijing'", timeout=20_000)
    finally:
        p.close()


def test_crowded_inter_layer_links_start_hidden_and_tick_on(browser):
    """Starlink-550 under BDS-3 (1,584 inter-layer links): they start hidden, with a note; ticking shows them."""
    from sgemu.scenario import parse_scenario

    spec = parse_scenario({
        "name": "crowded", "start": "2024-07-16T00:00:00Z", "duration_s": 4, "step_s": 1,
        "constellations": [{"name": "starlink", "preset": "starlink-550"}, {"name": "bds3", "preset": "bds3"}],
        "stations": ["Beijing", "Kashi"],
        "links": [{"rule": "plus-grid", "group": "starlink"},
                  {"rule": "inter-layer", "lower": "starlink", "upper": "bds3", "k": 1}]})
    scene, series = compute_series(spec, quiet=True)
    ids, _ = series.active(0)
    inter = int((series.link_kind[ids] == KINDS.index("inter-layer")).sum())
    assert inter > 500
    with server_mod.server_for(series, scene, name=spec.name, port=0) as srv:
        p = Page(browser, srv.url)
        try:
            box = p.page.locator("#legend-links li", has_text="inter-layer").locator("input")
            assert not box.is_checked()
            assert p.page.locator("#links-note").inner_text() == f"{inter} inter-layer links up: hidden until ticked"
            p.eval("sgemuView.setTime(0)")
            assert p.eval("sgemuView.linksShown()") == ids.size - inter
            box.check()
            p.eval("sgemuView.setTime(1)")
            assert p.eval("sgemuView.linksShown()") == series.active(1)[0].size
            assert p.page.locator("#links-note").is_hidden()
        finally:
            p.close()
        p = Page(browser, srv.url + "?links=isl,inter-layer")   # asked for in the address: shown
        try:
            assert p.page.locator("#legend-links li", has_text="inter-layer").locator("input").is_checked()
            assert p.page.locator("#links-note").is_hidden()
        finally:
            p.close()


def test_bds3_coverage_overlay_draws(browser, served):
    p = Page(browser, served.url + "?coverage=bds3&field=pdop")
    try:
        p.page.wait_for_function("sgemuView.overlayFrame() !== null", timeout=60_000)
        assert p.eval("sgemuView.overlayShown()")
        assert "PDOP" in p.page.locator("#coverage-lo").inner_text()
        p.eval("sgemuView.setTime(590)")
        assert p.eval("sgemuView.overlayFrame()") > 0
    finally:
        p.close()


def test_live_page_follows_published_steps_and_pings(browser, default):
    from viewer.live import LiveViewer

    spec, _, series = default
    live = LiveViewer(series, spec, port=0, quiet=True).start()
    try:
        live.publish({"type": "step", "k": 0, "t_s": 0.0, "late_ms": 0.0, "apply_ms": 1.0})
        p = Page(browser, live.url)
        assert p.eval("sgemuView.live.isLive") is True
        for k in (1, 2, 3):
            live.publish({"type": "step", "k": k, "t_s": float(k), "late_ms": 0.4, "apply_ms": 1.0})
        live.publish({"type": "ping", "src": "Beijing", "dst": "Kashi", "t_s": 3.2, "rtt_ms": 77.7,
                      "predicted_rtt_ms": 77.1})
        p.page.wait_for_function("sgemuView.live.lastStep === 3 && sgemuView.live.pings === 1", timeout=20_000)
        assert p.eval("sgemuView.live.steps") == 4   # the one before connecting came with the hello
        p.page.wait_for_function("sgemuView.time() === 3", timeout=20_000)   # drawn at the next frame
        assert p.page.locator("#route-measured").get_attribute("data-rtt-ms") == "77.7"
        assert "live" in p.page.locator("#status").inner_text()
        live.publish({"type": "end", "interrupted": False})
        p.page.wait_for_function("sgemuView.live.ended === true", timeout=20_000)
        p.close()
    finally:
        live.stop()


def test_export_works_from_a_static_server_and_not_from_file_urls(browser, tmp_path):
    import socket
    import subprocess
    import sys

    site = tmp_path / "site"
    assert main(["view", "--duration", "60", "--export", str(site), "--quiet"]) == 0
    p = browser.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.goto((site / "index.html").as_uri())
    p.wait_for_function(READY, timeout=60_000)
    assert p.evaluate("sgemuView.ready") is False and p.evaluate("sgemuView.errors")  # the scene fetch is refused
    p.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(site), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        page = Page(browser, f"http://127.0.0.1:{port}/")
        assert page.eval("sgemuView.counts.satellites") == 78
        page.page.wait_for_function("sgemuView.routeReady()", timeout=30_000)
        assert [m for m in page.console if m[0] in ("error", "pageerror")] == []
        assert page.eval("sgemuView.live.connected") is False   # static: no WebSocket is tried
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


LIVE_RUN = """
import sys
import sgemu
from viewer.live import LiveViewer

scen = sgemu.Scenario.load(None, duration_s=20, step_s=1)
with sgemu.Emulation(scen, shaping="none", run_tag=sys.argv[1], out=sys.argv[2]) as emu:
    live = LiveViewer(emu.series, scen, port=0, quiet=True).start()
    try:
        emu.subscribe(live.publish)
        print(live.url, flush=True)
        sys.stdin.readline()
        emu.run(duration_s=4, experiments=[sgemu.Ping("Beijing", "Kashi", interval_s=0.5)], speed=1.0)
        print("ran", flush=True)
        sys.stdin.readline()
    finally:
        live.stop()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a live run needs root (network namespaces)")
def test_live_page_follows_a_real_run_without_netem(browser, tmp_path):
    """A short unshaped run of the default scenario (its own process), its events on a LiveViewer."""
    import secrets
    import subprocess
    import sys

    tag = "t" + secrets.token_hex(3)
    proc = subprocess.Popen([sys.executable, "-c", LIVE_RUN, tag, str(tmp_path / "run")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        p = Page(browser, url)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ran"
        p.page.wait_for_function("sgemuView.live.lastStep >= 4 && sgemuView.live.pings >= 3", timeout=30_000)
        assert p.eval("sgemuView.step()") == p.eval("sgemuView.live.lastStep")
        measured = p.page.locator("#route-measured").get_attribute("data-rtt-ms")
        assert measured and float(measured) > 0   # unshaped: a real reply, sub-millisecond to a few ms
        p.close()
        proc.stdin.write("done\n")
        proc.stdin.flush()
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=120)


@pytest.mark.skipif(os.geteuid() != 0, reason="a live run needs root (network namespaces)")
def test_sgemu_run_view_serves_a_live_page(browser, tmp_path):
    """`sgemu run --no-netem --view HOST:PORT`: the page gets the run's steps and measured pings."""
    import secrets
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SGEMU_RUN_TAG="t" + secrets.token_hex(3))
    proc = subprocess.Popen([sys.executable, "-m", "sgemu", "run", "--no-netem", "--duration", "25", "--quiet",
                             "--ping", "Beijing:Kashi", "--view", f"127.0.0.1:{port}", "--out", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(1200):   # building 86 namespaces takes a while on a busy machine
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        p = Page(browser, f"http://127.0.0.1:{port}/")
        p.page.wait_for_function("sgemuView.live.lastStep >= 5 && sgemuView.live.pings >= 3", timeout=60_000)
        assert p.eval("sgemuView.live.isLive") is True
        assert p.eval("sgemuView.step()") == p.eval("sgemuView.live.lastStep")
        p.close()
        assert proc.wait(timeout=180) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=120)
    _replay_shows_the_measured_pings(browser, tmp_path / "run")


def _replay_shows_the_measured_pings(browser, run):
    """`sgemu view RUN_DIR`: the page shows each ping of results.csv beside the prediction of its step."""
    import subprocess
    import sys

    rows = [r for r in csv.DictReader(open(run / "results.csv")) if r["src"] == "Beijing" and r["rtt_ms_measured"]]
    assert len(rows) >= 3
    proc = subprocess.Popen([sys.executable, "-m", "sgemu", "view", str(run), "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, text=True)
    try:
        p = Page(browser, proc.stdout.readline().split()[2])
        p.page.wait_for_function("sgemuView.routeReady()", timeout=30_000)
        assert p.eval("sgemuView.live.isLive") is False
        for r in rows[1:3]:
            k = int(float(r["t_s"]))   # 1 s steps: a sample belongs to the step it was sent in; the last one shows
            last = max((x for x in rows if float(x["t_s"]) < k + 1), key=lambda x: float(x["t_s"]))
            p.eval(f"sgemuView.setTime({float(r['t_s'])})")
            measured = p.page.locator("#route-measured").get_attribute("data-rtt-ms")
            assert float(measured) == pytest.approx(float(last["rtt_ms_measured"]), abs=0.001)
        p.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
