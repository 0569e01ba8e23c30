"""Claims about run reports: one self-contained HTML page that a browser shows with its pictures.

The report is built from real ``sgemu links`` / ``sgemu route`` output and
from a made-up live-emulation run directory (results.csv, steps.csv, raw/
iperf3 JSON, a plot); the page is opened in headless Chromium and the
screenshot is looked at: not blank, and showing a marker image embedded
in the page.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments.report import NothingToReport, build_report, figure_title
from sgemu.cli import main

MAGENTA = (255, 0, 255)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html_path: Path, png: Path, height: int = 3000) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="sgemu-chromium-")
    try:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size=1200,{height}",
             html_path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def external_refs(text: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"' >]*""", text, flags=re.I)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Output directories of ``sgemu links`` and ``sgemu route`` on a short window, and an emulation run."""
    base = tmp_path_factory.mktemp("runs")
    window = ["--duration", "120", "--step", "2", "-q"]
    assert main(["links", *window, "--out", str(base / "links")]) == 0
    assert main(["route", *window, "--src", "Beijing", "--dst", "Nairobi", "--out", str(base / "route")]) == 0
    run = base / "emulation"
    shutil.copytree(base / "links", run)
    make_emulation_files(run)
    return base


def make_emulation_files(run: Path) -> None:
    """What a live run leaves: results, step log, iperf3 JSON, a plot, an emulation summary."""
    rng = np.random.default_rng(3)
    with open(run / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "src", "dst", "rtt_ms_measured", "rtt_ms_predicted"])
        for t in range(0, 120, 5):
            pred = 60.0 + 5 * np.sin(t / 30)
            w.writerow([t, "Beijing", "Kashi", "" if t == 40 else f"{pred + 0.4:.3f}", f"{pred:.3f}"])
    with open(run / "steps.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "t_s", "links_changed", "apply_ms"])
        for k in range(24):
            w.writerow([k, 5 * k, int(rng.integers(0, 9)), f"{rng.gamma(2, 2):.2f}"])
    (run / "raw").mkdir()
    iperf = {"start": {"test_start": {"protocol": "TCP"}},
             "intervals": [{"sum": {"start": i, "end": i + 1, "bits_per_second": 9.0e7 + 1e6 * i}} for i in range(5)],
             "end": {"sum_sent": {"bits_per_second": 9.2e7, "retransmits": 2},
                     "sum_received": {"bits_per_second": 9.1e7}}}
    (run / "raw" / "iperf3-Beijing-Kashi.json").write_text(json.dumps(iperf))
    (run / "raw" / "ping.txt").write_text("64 bytes from 10.0.0.2: time=61.2 ms\n")
    with open(run / "changes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "t_s", "cause", "routes_changed", "routes_right_s", "wrong_at_first", "read_s", "pair",
                    "reach_s", "recovery_s", "lost"])
        w.writerow([0, 0.0, "start", "", 0.0123, 0, 0.01, "", "", "", ""])
        w.writerow([9, 18.0, "handover Beijing; 1 up/1 down", 117, 1.1927030086517334, 40, 0.01, "Beijing->Kashi",
                    0.0255, 0.61, 3])
    (run / "summary.json").write_text(json.dumps({"steps": 24, "late_steps": 0, "see": "https://example.org/x",
                                                  "routing": "ospf", "changes": [{"step": 9}],
                                                  "build_s": 8.5, "plot": str((run / "rtt.png").resolve()),
                                                  "clock": {"late_ms_max": 25.9},
                                                  "pairs": {"Beijing->Kashi": {"sent": 24, "received": 23}}}))
    (run / "plots").mkdir()
    Image.new("RGB", (600, 240), MAGENTA).save(run / "plots" / "marker.png")


# --------------------------------------------------------------------------- content
def test_report_of_a_links_run_has_scenario_topology_and_events(runs):
    page = build_report(runs / "links")
    for title in ("Scenario", "Topology", "Handovers and link events"):
        assert f"<h2>{title}</h2>" in page
    assert "Measured vs predicted RTT" not in page and "Throughput" not in page
    assert "preset bds3" in page and "Beijing" in page
    imgs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert external_refs(page) == []


def test_report_of_a_route_run_shows_the_predicted_rtt_and_path(runs):
    page = build_report(runs / "route")
    assert "<h2>Predicted route Beijing → Nairobi</h2>" in page
    summary = json.loads((runs / "route" / "route-Beijing-Nairobi.json").read_text())
    assert f"{summary['rtt_ms_mean']:,.2f}" in page
    assert "Topology" in page  # from links.npz, since route writes no summary.json
    assert "Handovers" not in page  # route writes no events.csv


def test_report_of_an_emulation_run_compares_measured_and_predicted(runs):
    page = build_report(runs / "emulation")
    for title in ("Measured vs predicted RTT", "Throughput", "Step log", "Figures", "Raw outputs"):
        assert f"<h2>{title}</h2>" in page
    # 23 answered samples, each 0.4 ms above the prediction
    row = re.search(r"<td class=\"l\">Beijing → Kashi</td>(.*?)</tr>", page).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:2] == ["24", "23"] and cells[4] == "0.40"
    assert "91.00" in page  # iperf3 received Mbit/s
    summary = page.split("<h3>Run summary</h3>")[1].split("</section>")[0]
    assert "<td class=\"l\">late steps</td>" in summary and "late_steps" not in summary
    assert str((runs / "emulation").resolve()) not in page and "/tmp/" not in page  # no absolute path anywhere
    conv = page.split("<h2>Convergence per change</h2>")[1].split("</section>")[0]
    assert "Routing <b>ospf</b>" in conv and "handover Beijing" in conv and "start" not in conv.split("<table>")[1]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", conv)
    assert cells[:8] == ["18", "handover Beijing; 1 up/1 down", "117", "1.19", "Beijing-&gt;Kashi", "0.03", "0.61", "3"]
    assert external_refs(page) == []  # a URL in the data is text, never a link


def test_each_section_appears_only_with_its_file(tmp_path):
    with pytest.raises(NothingToReport):
        build_report(tmp_path)
    make_emulation_files(tmp_path)
    (tmp_path / "summary.json").unlink()
    page = build_report(tmp_path)
    assert "Measured vs predicted RTT" in page and "Scenario" not in page and "Topology" not in page
    (tmp_path / "results.csv").write_text("t_s,src\nnot,a,number,row\n")
    (tmp_path / "links.npz").write_bytes(b"not an npz")
    page = build_report(tmp_path)  # broken files give notes, not a crash
    assert "could not read this part" in page


def test_report_command_writes_the_page_and_rejects_a_missing_directory(runs, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(runs / "route"), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such run directory" in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an sgemu file")
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RUN_DIR" in err[0] and "none of the files sgemu writes" in err[0]
    assert sorted(p.name for p in empty.iterdir()) == ["notes.txt"]  # no report.html left behind


# --------------------------------------------------------------------------- in a browser
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_opens_in_chromium_and_shows_its_images(runs, tmp_path):
    run = runs / "emulation"
    html_path = tmp_path / "report.html"
    main(["report", str(run), "--out", str(html_path)])
    png = tmp_path / "shot.png"
    proc = screenshot(html_path, png, height=9000)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape[1] == 1200
    off_page = (np.abs(img - np.array([250, 250, 250])).sum(-1) > 0)  # page background is #fafafa
    last_row = np.flatnonzero(off_page.any(axis=1)).max()
    assert last_row > 2000, "the page is too short: sections are missing"
    assert off_page[:last_row].mean() > 0.5, "the page looks blank"
    assert len(np.unique(img.reshape(-1, 3)[::97], axis=0)) > 50  # plots, not just text
    magenta = (np.abs(img - np.array(MAGENTA)).sum(-1) < 20).sum()
    assert magenta > 0.5 * 600 * 240 * 0.8, "the embedded marker image is not shown"


# --------------------------------------------------------------------------- readable pages
def section_titles(page: str) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", page)


def test_a_coverage_report_shows_the_headline_map_first_and_readable_times(tmp_path):
    out = tmp_path / "cov"
    assert main(["coverage", "--layer", "bds3", "--duration", "7200", "--step", "1800", "--grid-deg", "30",
                 "--out", str(out), "-q"]) == 0
    page = build_report(out)
    assert section_titles(page)[0] == "Coverage"
    cov = page.split("<h2>Coverage</h2>")[1].split("</section>")[0]
    first_img = cov.index("<img")
    assert 'alt="coverage of bds3"' in cov[first_img:first_img + 40]      # 30 satellites: the headline
    assert first_img < cov.index("<table>") < cov.index('alt="coverage of bds3:meo"')
    assert "coverage-bds3" not in re.sub(r'src="[^"]*"', "", page)            # no file names as headings
    assert "2024-07-16 00:00:00 UTC" in cov and "+00:00" not in page
    assert "1,800 s (30 min) apart" in cov


def test_times_read_as_times_and_hops_tick_at_whole_numbers(runs):
    page = build_report(runs / "route")
    scen = page.split("<h2>Scenario</h2>")[1].split("</section>")[0]
    assert "2024-07-16 00:00:00 UTC" in scen and "+00:00" not in page
    assert "<td class=\"l\">duration</td><td class=\"l\">120 s (2 min)</td>" in scen
    from experiments import report

    captured = []
    real = report._img
    report._img = lambda fig, alt, dpi=90: (captured.append(fig), real(fig, alt, dpi))[1]
    try:
        report._routes(runs / "route")
    finally:
        report._img = real
    hops_axis = captured[0].axes[1]
    ticks = [t for t in hops_axis.get_yticks() if hops_axis.get_ylim()[0] <= t <= hops_axis.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_figures_are_titled_by_what_they_show(tmp_path):
    from pathlib import Path as P

    assert figure_title(P("skyplot-Beijing-bds3.png")) == "Sky over Beijing (bds3)"
    assert figure_title(P("skyplot-Kashi.png")) == "Sky over Kashi"
    assert figure_title(P("snapshot-20240716T000500.png")) == "Network at 2024-07-16 00:05:00 UTC"
    assert figure_title(P("groundtrack-igso.png")) == "Ground tracks: igso"
    assert figure_title(P("rtt.png")) == "Measured and predicted RTT"


def test_an_animation_in_the_directory_is_embedded_and_plays(tmp_path):
    frames = [Image.new("RGB", (120, 60), c) for c in ((255, 0, 0), MAGENTA)]
    frames[0].save(tmp_path / "snapshot.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)
    page = build_report(tmp_path)
    assert section_titles(page) == ["Network animation"]
    assert re.search(r'<img alt="Network animation" src="data:image/gif;base64,', page)


# --------------------------------------------------------------------------- the educator's overview
@pytest.fixture(scope="module")
def overview(tmp_path_factory):
    out = tmp_path_factory.mktemp("overview") / "overview.html"
    rc = main(["overview", "--duration", "60", "--step", "10", "--hours", "2", "--orbit-step", "1800",
               "--grid-deg", "15", "--frames", "3", "--dpi", "40", "--station", "Kashi", "--out", str(out), "-q"])
    assert rc == 0
    return out


def test_the_overview_puts_animation_coverage_sky_and_tracks_on_one_page(overview):
    page = overview.read_text()
    assert section_titles(page) == ["The network, step by step", "Where a position fix is possible",
                                    "The sky over Kashi", "Where the satellites go", "Scenario"]
    images = re.findall(r'<img alt="([^"]*)" src="data:image/(\w+);base64,', page)
    alts = [a for a, _ in images]
    assert alts[0] == "network animation" and images[0][1] in ("webp", "gif")
    # the navigation shell leads the coverage (it gives a fix), then the LEO shell; one sky plot and one
    # ground-track map per shell
    assert alts[1:] == ["coverage of bds3", "coverage of leo", "sky over Kashi: bds3", "sky over Kashi: leo",
                        "ground tracks of bds3", "ground tracks of leo"]
    cov = page.split("Where a position fix is possible</h2>")[1].split("</section>")[0]
    assert "<b>bds3</b>: PDOP ≤ 2 between" in cov and "bds3:geo" in cov and "never 4 in view" in cov
    assert "leo, 1.75 h" in page  # an all-LEO shell is drawn over one orbital period
    assert external_refs(page) == []
    with Image.open(__import__("io").BytesIO(__import__("base64").b64decode(
            re.search(r'src="data:image/\w+;base64,([^"]*)"', page).group(1)))) as anim:
        assert anim.n_frames == 3


@pytest.mark.parametrize("argv, message", [
    (["--station", "Atlantis"], "--station"),
    (["--src", "Beijing"], "--src and --dst"),
    (["--src", "Beijing", "--dst", "Atlantis"], "--dst"),
    (["--hours", "0"], "--hours"),
    (["--frames", "1"], "--frames"),
    (["--out", "/nonexistent-dir/x.html"], "--out"),
])
def test_bad_overview_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    argv = [*argv] if "--out" in argv else [*argv, "--out", str(tmp_path / "o.html")]
    assert main(["overview", "-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_overview_opens_in_chromium_with_its_pictures(overview, tmp_path):
    png = tmp_path / "shot.png"
    proc = screenshot(overview, png, height=6000)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    from experiments.figures import LAYER_COLORS

    orange = np.array([int(LAYER_COLORS["IGSO"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(img - orange).sum(-1) < 30).sum() > 50   # IGSO tracks in the sky plot and ground tracks
    off_page = (np.abs(img - np.array([250, 250, 250])).sum(-1) > 0)
    assert np.flatnonzero(off_page.any(axis=1)).max() > 3000, "the page is too short: pictures are missing"


def test_an_all_leo_shell_is_drawn_over_one_orbit_and_navigation_layers_over_the_day():
    from experiments.overview import shell_window
    from orbits.timebase import TimeAxis
    from sgemu.scenario import load_scenario

    scene = load_scenario(None).build_scene()
    day = TimeAxis.from_duration(scene_start := load_scenario(None).axis.start, 86400, 600)
    leo = shell_window(scene, "leo", day)
    # Kepler: T = 2 pi sqrt(a^3 / mu) for the 1,000 km shell
    a_km, mu = 6378.137 + 1000.0, 398600.4418
    assert leo.duration_s == pytest.approx(2 * np.pi * np.sqrt(a_km ** 3 / mu), rel=0.01)
    assert leo.step_s == 60.0 and leo.start == scene_start
    assert shell_window(scene, "bds3", day) is day
