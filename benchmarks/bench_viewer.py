"""Benchmark: the viewer on Starlink-550 + BDS-3 + 100 ground stations (1,714 nodes) in headless chromium.

Builds the scenario's link series, the scene JSON (its size and time), serves
it, loads the page in Debian's chromium with software WebGL (SwiftShader, as
the browser tests do) and reports the frames per second while the timeline
plays, paused, and while the camera turns, with the CPU time chromium spends
per frame (its page and its GPU process, where SwiftShader draws): on a
machine shared with other work the frame rate follows the load, the CPU time
per frame much less.  Prints the figures; asserts nothing.

    python -m benchmarks.bench_viewer [--duration S] [--seconds S] [--size WxH] [--query scale=0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from orbits.stations import builtin_stations
from sgemu.cmd_topology import compute_series
from sgemu.scenario import parse_scenario
from viewer.scene import scene_json
from viewer.server import server_for

ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def big_scenario(duration_s: float) -> dict:
    """The bench_topology network as a scenario mapping."""
    return {
        "name": "starlink-bds3-100", "start": "2024-07-16T00:00:00Z", "duration_s": duration_s, "step_s": 1,
        "constellations": [{"name": "starlink", "preset": "starlink-550"}, {"name": "bds3", "preset": "bds3"}],
        "stations": list(builtin_stations())[:100],
        "links": [
            {"rule": "plus-grid", "group": "starlink"},
            {"rule": "inter-layer", "lower": "starlink", "upper": "bds3", "k": 1},
            {"rule": "ground", "group": "starlink", "policy": "nearest", "sticky": True, "min_elevation_deg": 25},
            {"rule": "ground", "group": "bds3", "policy": "highest-elevation", "sticky": True, "min_elevation_deg": 10},
        ],
    }


def chromium_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by this process's chromium children, by kind (page, gpu, other)."""
    kids: dict[int, list[int]] = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        kids.setdefault(ppid, []).append(int(d))
    todo, out = list(kids.get(os.getpid(), [])), {"page": 0.0, "gpu": 0.0, "other": 0.0}
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, [])
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{pid}/cmdline").read()
        except OSError:
            continue
        kind = "gpu" if "--type=gpu-process" in cmd else "page" if "--type=renderer" in cmd else "other"
        out[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def fps(page, seconds: float) -> tuple[float, str]:
    """Frames rendered per second over ``seconds`` (postRender events counted in the page), and the
    chromium CPU milliseconds per frame as text."""
    page.evaluate("""() => { window.__frames = 0;
        if (!window.__counting) { window.__counting = true;
          sgemuView.viewer.scene.postRender.addEventListener(() => { window.__frames++; }); } }""")
    cpu0, t0 = chromium_cpu_s(), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    frames, cpu1 = page.evaluate("window.__frames"), chromium_cpu_s()
    per = {k: (cpu1[k] - cpu0[k]) * 1000 / max(frames, 1) for k in cpu0}
    text = (f"chromium CPU {sum(per.values()):.0f} ms per frame (page {per['page']:.0f}, "
            f"GPU process {per['gpu']:.0f}, other {per['other']:.0f}), load {os.getloadavg()[0]:.1f}")
    return frames / (time.perf_counter() - t0), text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=1200, help="scenario seconds (default 1200)")
    ap.add_argument("--seconds", type=float, default=10, help="seconds per FPS measurement (default 10)")
    ap.add_argument("--size", default="1280x800", help="browser viewport (default 1280x800)")
    ap.add_argument("--query", default="", help="page address settings, e.g. scale=0.5 or links=isl,ground")
    args = ap.parse_args()
    from viewer.server import AssetsMissing, cesium_dir

    try:
        cesium_dir()
    except AssetsMissing as exc:
        print(f"bench_viewer: skipped: {exc}")
        return
    if not os.path.exists("/usr/bin/chromium"):
        print("bench_viewer: skipped: no /usr/bin/chromium (scripts/system-packages.sh web)")
        return
    from playwright.sync_api import sync_playwright

    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}")
    spec = parse_scenario(big_scenario(args.duration))
    t0 = time.perf_counter()
    scene, series = compute_series(spec, quiet=True)
    print(f"scene: {scene.n_sats} satellites, {len(scene.stations)} stations, {series.n_steps} steps; "
          f"link series {time.perf_counter() - t0:.1f} s, {series.link_id.size / series.n_steps:.0f} links up per step")
    t0 = time.perf_counter()
    size_mb = len(json.dumps(scene_json(series, scene), separators=(",", ":"))) / 1e6
    print(f"scene JSON: {size_mb:.1f} MB in {time.perf_counter() - t0:.1f} s")
    w, h = (int(v) for v in args.size.split("x"))
    with server_for(series, scene, name=spec.name, port=0) as srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": w, "height": h})
        t0 = time.perf_counter()
        page.goto(srv.url + (f"?{args.query}" if args.query else ""))
        page.wait_for_function("window.sgemuView && sgemuView.ready", timeout=300_000)
        print(f"page ready in {time.perf_counter() - t0:.1f} s; renderer {page.evaluate('sgemuView.renderer')}, "
              f"lite {page.evaluate('!!sgemuView.lite')}; {page.evaluate('sgemuView.counts.points')} points")
        page.wait_for_timeout(3000)
        page.evaluate("sgemuView.viewer.clock.multiplier = 10; sgemuView.viewer.clock.shouldAnimate = true")
        rate, cpu = fps(page, args.seconds)
        print(f"playing at 10x: {rate:.1f} fps, {page.evaluate('sgemuView.linksShown()')} links drawn; {cpu}")
        page.evaluate("sgemuView.viewer.clock.shouldAnimate = false")
        page.evaluate("""() => { const v = sgemuView.viewer;
            v.__spin = () => { v.camera.rotate(Cesium.Cartesian3.UNIT_Z, 0.01); v.scene.requestRender(); };
            v.scene.preRender.addEventListener(v.__spin); v.scene.requestRender(); }""")  # the first turn
        rate, cpu = fps(page, args.seconds)
        print(f"paused, camera turning: {rate:.1f} fps; {cpu}")
        page.evaluate("() => { const v = sgemuView.viewer; v.scene.preRender.removeEventListener(v.__spin); }")
        print(f"paused, still: {fps(page, 3)[0]:.1f} fps (renders only on change)")
        browser.close()


if __name__ == "__main__":
    main()
