"""Bad input across every command: one line naming the field and what is accepted, exit 2, no traceback,
nothing written and (as root) no namespace left.

Each case runs the real command line (``python -m sgemu ...``) as a user would.  The scenario files are
written per case into a temporary folder; ``{d}`` in an argument stands for that folder.  Cases are
grouped by where the mistake is: the scenario file (its YAML, names, ranges, TLE files), the command-line
options, the paths sgemu writes to, and the environment.  The live battery (signals during runs, clean)
is in ``test_hardening_live.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TLE_DIR = (REPO / ".." / "shared" / "data" / "tle").resolve()

BASE = {
    "start": "2024-07-16T00:00:00Z",
    "duration_s": 20,
    "step_s": 10,
    "constellations": [{"name": "leo", "walker": {"planes": 3, "sats_per_plane": 4, "inclination_deg": 53,
                                                  "altitude_km": 550}}],
    "stations": ["Beijing", "Kashi"],
    "links": [{"rule": "plus-grid", "group": "leo"}, {"rule": "ground", "group": "leo"}],
}

TLE_SET = ("BEIDOU-3 M1 (C19)\n"
           "1 43001U 17069A   24197.33404589 -.00000052  00000+0  00000+0 0  9996\n"
           "2 43001  56.0838  86.3229 0009558 310.8769  49.0879  1.86231657 45534\n")


def sgemu(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
    """``python -m sgemu ARGS`` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "sgemu", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd or REPO)


def sgemu_here(*args: str, env: dict | None = None, cwd: Path | None = None):
    """The same entry point (``sgemu.cli.main``) in this process: the battery's many cases in seconds, not
    minutes.  An exception escaping main (what would be a traceback) fails the test."""
    import contextlib
    import io
    import types
    import warnings

    from sgemu.cli import main

    err, old_env, old_cwd = io.StringIO(), dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    try:
        os.chdir(cwd or REPO)
        with warnings.catch_warnings(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own errors
                code = exc.code
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return types.SimpleNamespace(returncode=code, stderr=err.getvalue())


def cli(*args: str, **kw):
    """Commands that may build a live network (run, cli) in their own interpreter, the rest in this one."""
    return sgemu(*args, **kw) if args[0] in ("run", "cli") else sgemu_here(*args, **kw)


def assert_one_line(r, *words: str, code: int = 2) -> str:
    """Exit ``code``, stderr exactly one line ``sgemu: error: ...`` holding every word, no traceback."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("sgemu: error: "), r.stderr[-2000:]
    assert len(lines[0]) < 600, "an error line must stay short"
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def scenario_file(d: Path, filename: str = "s.yaml", **changes) -> Path:
    raw = {**BASE, **changes}
    path = d / filename
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tle_file(d: Path, text: str, name: str = "sats.txt") -> Path:
    path = d / name
    path.write_text(text)
    return path


def with_tle(d: Path, text: str, **const) -> Path:
    tle_file(d, text)
    return scenario_file(d, constellations=[{"name": "gnss", "tle": "sats.txt", **const}], links=[])


def _tle_line2_with(columns: str, first: int, text: str) -> str:
    """The sample set with ``text`` written into line 2 from column ``first`` (1-based), checksum fixed."""
    from orbits.tle import checksum

    name, l1, l2 = TLE_SET.splitlines()
    l2 = l2[:first - 1] + text + l2[first - 1 + len(text):]
    l2 = l2[:68] + str(checksum(l2))
    return f"{name}\n{l1}\n{l2}\n"


def _tle_with_catalogue(number: str) -> str:
    from orbits.tle import checksum

    name, l1, l2 = TLE_SET.splitlines()
    l1, l2 = l1[:2] + number + l1[7:], l2[:2] + number + l2[7:]
    return f"{name}\n{l1[:68]}{checksum(l1)}\n{l2[:68]}{checksum(l2)}\n"


BOMB = textwrap.dedent("""\
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    e: &e [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    description: *i
    """)


# -- the scenario file: (id, how to write it, argv after `links`, words the line must hold) ----------------
def _ospf_scenario(d, **ospf):
    return scenario_file(d, emulation={"routing": "ospf", "ospf": ospf})


SCENARIO_CASES = [
    ("not-utf8", lambda d: (d / "s.yaml").write_bytes(b"name: caf\xe9\xff\n") and d / "s.yaml", ["UTF-8"]),
    ("alias-bomb", lambda d: (d / "s.yaml").write_text(BOMB) and d / "s.yaml", ["aliases", "100,000"]),
    ("deep-nesting", lambda d: (d / "s.yaml").write_text("a: " + "[" * 5000 + "]" * 5000) and d / "s.yaml",
     ["nested"]),
    ("not-a-mapping", lambda d: (d / "s.yaml").write_text("- 1\n- 2\n") and d / "s.yaml", ["mapping"]),
    ("invalid-yaml", lambda d: (d / "s.yaml").write_text("a: [1, 2\n") and d / "s.yaml", ["not valid YAML"]),
    ("directory", lambda d: d, ["directory"]),
    ("missing-file", lambda d: d / "nope.yaml", ["no such file"]),
    ("name-escapes", lambda d: scenario_file(d, name="../../../tmp/ESCAPED"), ["scenario.name"]),
    ("name-slash", lambda d: scenario_file(d, name="a/b"), ["scenario.name"]),
    ("loss-250", lambda d: scenario_file(d, link_params={"ground": {"loss_pct": 250}}),
     ["link_params.ground.loss_pct", "0 to 100"]),
    ("capacity-negative", lambda d: scenario_file(d, link_params={"isl": {"capacity_mbps": -5}}),
     ["link_params.isl.capacity_mbps"]),
    ("capacity-nan", lambda d: scenario_file(d, link_params={"isl": {"capacity_mbps": float("nan")}}),
     ["link_params.isl.capacity_mbps"]),
    ("grazing-negative", lambda d: scenario_file(d, grazing_km=-10000), ["scenario.grazing_km", "0 to"]),
    ("station-elevation-120", lambda d: scenario_file(d, stations=[{"name": "Kashi", "min_elevation_deg": 120}, "Beijing"]),
     ["stations[0].min_elevation_deg", "90"]),
    ("rule-elevation-120", lambda d: scenario_file(d, links=[{"rule": "ground", "group": "leo",
                                                              "min_elevation_deg": 120}]),
     ["links[0].min_elevation_deg"]),
    ("rule-elevation-per-layer", lambda d: scenario_file(d, links=[{"rule": "ground", "group": "leo",
                                                                    "min_elevation_deg": {"leo": -40}}]),
     ["links[0].min_elevation_deg.leo"]),
    ("rule-elevation-unknown-layer", lambda d: scenario_file(d, links=[{"rule": "ground", "group": "leo",
                                                                        "min_elevation_deg": {"xx": 5}}]),
     ["links[0].min_elevation_deg.xx", "unknown layer"]),
    ("antennas-zero", lambda d: scenario_file(d, links=[{"rule": "ground", "group": "leo", "antennas": 0}]),
     ["links[0].antennas"]),
    ("step-longer-than-duration", lambda d: scenario_file(d, duration_s=5, step_s=60), ["scenario.step_s"]),
    ("step-zero", lambda d: scenario_file(d, step_s=0), ["scenario.step_s"]),
    ("duration-inf", lambda d: scenario_file(d, duration_s=float("inf")), ["scenario.duration_s"]),
    ("start-year-9999", lambda d: scenario_file(d, start="9999-12-31T23:59:50Z"), ["scenario.start"]),
    ("start-garbage", lambda d: scenario_file(d, start="yesterday"), ["scenario.start"]),
    ("station-250-chars", lambda d: scenario_file(d, stations=[{"name": "S" * 250, "lat_deg": 1, "lon_deg": 2},
                                                               "Beijing"]), ["stations[0].name", "40"]),
    ("station-80-chars-ospf", lambda d: scenario_file(d, stations=[{"name": "S" * 80, "lat_deg": 1, "lon_deg": 2},
                                                                   "Beijing"],
                                                      emulation={"routing": "ospf"}), ["stations[0].name"]),
    ("station-bad-chars", lambda d: scenario_file(d, stations=[{"name": "a;rm -rf", "lat_deg": 1, "lon_deg": 2},
                                                               "Beijing"]), ["stations[0].name"]),
    ("shell-name-long", lambda d: scenario_file(d, constellations=[{"name": "L" * 60, "walker": BASE["constellations"][0]["walker"]}],
                                                links=[]), ["constellations[0].name"]),
    ("shell-named-ground", lambda d: scenario_file(d, constellations=[{"name": "ground", "walker": BASE["constellations"][0]["walker"]}],
                                                   links=[]), ["constellations[0].name", "ground"]),
    ("shell-like-layer-ambiguous", lambda d: scenario_file(d, constellations=[
        BASE["constellations"][0],
        {"name": "sl", "walker": {"planes": 2, "sats_per_plane": 3, "inclination_deg": 70, "altitude_km": 600}}]),
     ["links[0].group", "shell:leo", "layer:leo"]),
    ("select-bad-regex", lambda d: with_tle(d, TLE_SET, select="re:("), ["constellations[0].select",
                                                                         "regular expression"]),
    ("select-matches-nothing", lambda d: with_tle(d, TLE_SET, select="GPS*"), ["constellations[0].select"]),
    ("tle-catalogue-I5544", lambda d: with_tle(d, _tle_with_catalogue("I5544")), ["constellations[0].tle",
                                                                                  "catalogue number"]),
    ("tle-garbage-inclination", lambda d: with_tle(d, _tle_line2_with("", 9, "xx.xxxxx")),
     ["constellations[0].tle", "inclination"]),
    ("tle-garbage-mean-motion", lambda d: with_tle(d, _tle_line2_with("", 53, "garbage!!!!")),
     ["constellations[0].tle", "mean motion"]),
    ("tle-secret-file", lambda d: with_tle(d, "TOPSECRET-PASSWORD-1234\n"), ["constellations[0].tle", "sats.txt"]),
    ("tle-years-from-epoch", lambda d: tle_file(d, TLE_SET) and scenario_file(
        d, start="2027-01-01T00:00:00Z", constellations=[{"name": "gnss", "tle": "sats.txt"}], links=[]),
     ["constellations[0].tle", "years", "2024-07-15"]),
    ("tle-directory", lambda d: scenario_file(d, constellations=[{"name": "gnss", "tle": str(d)}], links=[]),
     ["constellations[0].tle", "directory"]),
    ("unknown-key-long", lambda d: scenario_file(d, **{"x" * 5000: 1}), ["scenario.xxx", "unknown key"]),
    ("bad-value-huge", lambda d: scenario_file(d, duration_s="9" * 5000), ["scenario.duration_s"]),
]


@pytest.mark.parametrize("case", SCENARIO_CASES, ids=[c[0] for c in SCENARIO_CASES])
def test_a_bad_scenario_file_is_one_line_and_writes_nothing(case, tmp_path):
    name, make, words = case
    d = tmp_path / "in"
    d.mkdir()
    path = make(d)
    out = tmp_path / "out"
    r = sgemu_here("links", str(path), "--out", str(out), "-q")
    line = assert_one_line(r, *words)
    assert not out.exists(), "a refused job must write nothing"
    assert "TOPSECRET" not in line and "lol" not in line


def test_every_scenario_command_refuses_the_same_file_the_same_way(tmp_path):
    path = scenario_file(tmp_path, grazing_km=-10000)
    for argv in (["links"], ["route", "--src", "Beijing", "--dst", "Kashi"], ["coverage", "--layer", "leo"],
                 ["snapshot"], ["skyplot", "--station", "Beijing"], ["groundtrack"], ["run", "--no-netem"],
                 ["cli", "--no-netem"]):
        r = cli(argv[0], str(path), *argv[1:], "--out" if argv[0] != "cli" else "-q",
                  *([str(tmp_path / "o")] if argv[0] != "cli" else []))
        assert_one_line(r, "scenario.grazing_km")
    assert not (tmp_path / "o").exists()


def test_a_tle_days_from_its_epoch_warns_in_one_line_and_the_job_runs(tmp_path):
    tle_file(tmp_path, TLE_SET)
    path = scenario_file(tmp_path, start="2024-08-01T00:00:00Z", constellations=[{"name": "gnss", "tle": "sats.txt"}],
                         links=[])
    r = sgemu_here("links", str(path), "--out", str(tmp_path / "o"), "-q")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sgemu: warning: constellations[0].tle") and "days" in lines[0]


def test_a_tle_named_with_a_prn_is_that_prn_everywhere(tmp_path):
    path = with_tle(tmp_path, TLE_SET)
    r = sgemu_here("links", str(path), "--out", str(tmp_path / "o"), "-q")
    assert r.returncode == 0, r.stderr
    import json

    header = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert header["nodes"] == 3
    import numpy as np

    with np.load(tmp_path / "o" / "links.npz", allow_pickle=False) as z:
        names = json.loads(z["header"].tobytes())["node_names"]
    assert names == ["gnss-C19", "Beijing", "Kashi"]


# -- command-line options -----------------------------------------------------------------------------------
OPTION_CASES = [
    ("route-same-station", ["route", "--src", "Beijing", "--dst", "beijing", "--duration", "20"], ["--dst", "--src"]),
    ("route-start-9999", ["route", "--src", "Beijing", "--dst", "Kashi", "--start", "9999-12-31T23:59:50Z",
                          "--duration", "20"], ["scenario.start"]),
    ("route-unknown-station", ["route", "--src", "Beijing", "--dst", "Paris", "--duration", "20"],
     ["--dst", "Kashi"]),
    ("links-duration-9000000", ["links", "--duration", "9000000"], ["size", "--no-size-check"]),
    ("links-step-nan", ["links", "--step", "nan"], ["scenario.step_s"]),
    ("snapshot-fps-0", ["snapshot", "--time", "0", "--animate", "--fps", "0", "--duration", "60"], ["--fps"]),
    ("snapshot-fps-nan", ["snapshot", "--time", "0", "--animate", "--fps", "nan", "--duration", "60"], ["--fps"]),
    ("snapshot-frames-0", ["snapshot", "--animate", "--frames", "0", "--duration", "60"], ["--frames"]),
    ("run-speed-nan", ["run", "--no-netem", "--duration", "5", "--speed", "nan"], ["--speed"]),
    ("run-speed-inf", ["run", "--no-netem", "--duration", "5", "--speed", "inf"], ["--speed"]),
    ("run-speed-negative", ["run", "--no-netem", "--duration", "5", "--speed", "-1"], ["--speed"]),
    ("run-ping-unknown", ["run", "--no-netem", "--duration", "5", "--ping", "Beijing:Paris"],
     ["--ping", "Paris", "Kashi"]),
    ("run-ping-self", ["run", "--no-netem", "--duration", "5", "--ping", "Beijing:Beijing"], ["--ping"]),
    ("run-ping-malformed", ["run", "--no-netem", "--duration", "5", "--ping", "Beijing"], ["--ping"]),
    ("run-iperf3-protocol", ["run", "--no-netem", "--duration", "5", "--iperf3", "Beijing:Kashi:sctp"],
     ["--iperf3"]),
    ("cli-time-outside", ["cli", "--no-netem", "--duration", "5", "--time", "99"], ["--time"]),
    ("coverage-grid-0", ["coverage", "--grid-deg", "0", "--duration", "60"], ["--grid-deg"]),
    ("skyplot-elevation-120", ["skyplot", "--station", "Beijing", "--min-elevation", "120"], ["--min-elevation"]),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_a_bad_option_is_one_line(case, tmp_path):
    name, argv, words = case
    if argv[0] in ("links", "route", "snapshot", "coverage", "skyplot", "run"):
        argv = argv + ["--out", str(tmp_path / "o")]
    r = cli(*argv, "-q", env={"SGEMU_RUN_TAG": _tag(name)})
    assert_one_line(r, *words)
    assert not (tmp_path / "o").exists()
    _assert_no_namespaces(_tag(name))


def test_a_bad_ospf_section_is_refused_before_anything_is_built(tmp_path):
    for ospf, field in (({"hello_s": 0, "dead_s": 1}, "emulation.ospf.hello_s"),
                        ({"dead_s": 100000}, "emulation.ospf.dead_s")):
        path = _ospf_scenario(tmp_path, **ospf)
        r = sgemu("run", str(path), "--no-netem", "--out", str(tmp_path / "o"), "-q", env={"SGEMU_RUN_TAG": "tospf"})
        assert_one_line(r, field)
        _assert_no_namespaces("tospf")


# -- paths sgemu writes to ---------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["links"], ["route", "--src", "Beijing", "--dst", "Kashi"], ["run", "--no-netem"]],
                         ids=["links", "route", "run"])
@pytest.mark.parametrize("where", ["existing-file", "unwritable", "symlink", "under-a-file"])
def test_an_out_path_that_cannot_hold_results_is_refused_before_any_work(command, where, tmp_path):
    if where == "existing-file":
        out = tmp_path / "file"
        out.write_text("keep me")
    elif where == "unwritable":
        out = Path("/proc/sgemu-out")
    elif where == "symlink":
        target = tmp_path / "elsewhere"
        target.mkdir()
        out = tmp_path / "planted"
        out.symlink_to(target)
    else:
        (tmp_path / "file").write_text("keep me")
        out = tmp_path / "file" / "sub"
    tag = _tag(f"out{where[:3]}{command[0][:2]}")
    r = cli(*command, "--duration", "20", "--out", str(out), "-q", env={"SGEMU_RUN_TAG": tag})
    assert_one_line(r, "--out")
    if where == "symlink":
        assert list((tmp_path / "elsewhere").iterdir()) == [], "nothing may be written through the link"
    if where in ("existing-file", "under-a-file"):
        assert (tmp_path / "file").read_text() == "keep me"
    _assert_no_namespaces(tag)


def test_a_default_out_directory_planted_as_a_symlink_is_not_followed(tmp_path):
    target = tmp_path / "victim"
    target.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "links").symlink_to(target)
    r = sgemu_here("links", "--duration", "20", "-q", cwd=tmp_path)
    assert_one_line(r, "--out", "symbolic link")
    assert list(target.iterdir()) == []


def test_a_directory_with_a_planted_symlink_inside_is_refused(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "summary.json").symlink_to(tmp_path / "victim.txt")
    r = sgemu_here("links", "--duration", "20", "--out", str(out), "-q")
    assert_one_line(r, "--out", "symbolic link")
    assert not (tmp_path / "victim.txt").exists()


def test_report_refuses_a_directory_that_is_not_a_run_and_an_unwritable_page(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line(sgemu_here("report", str(empty)), "RUN_DIR")
    assert not (empty / "report.html").exists()
    r = sgemu_here("links", "--duration", "20", "--out", str(tmp_path / "links"), "-q")
    assert r.returncode == 0, r.stderr
    assert_one_line(sgemu_here("report", str(tmp_path / "links"), "--out", "/proc/x.html"), "--out")
    assert_one_line(sgemu_here("report", str(tmp_path / "links"), "--out", str(tmp_path)), "--out")


def test_compare_refuses_an_out_that_is_a_directory_or_missing_runs(tmp_path):
    assert_one_line(sgemu_here("compare", str(tmp_path), str(tmp_path), "--out", "/tmp"), "RUN_DIR")
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"routing": "static", "changes": [], "pairs": {}}')
    assert_one_line(sgemu_here("compare", str(run), str(run), "--out", str(tmp_path)), "--out")
    assert_one_line(sgemu_here("compare", str(run), str(run), "--out", "/proc/x.csv"), "--out")


# -- the environment ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", ["../../x", "my-run", "a" * 40, "a b"], ids=["dotdot", "hyphen", "long", "space"])
def test_a_bad_run_tag_is_refused_before_anything_is_written(tag, tmp_path):
    r = sgemu_here("links", "--duration", "20", "--out", str(tmp_path / "o"), "-q", env={"SGEMU_RUN_TAG": tag})
    assert_one_line(r, "SGEMU_RUN_TAG", "letters or digits")
    if tag == "../../x":  # and in a real run, as root, where the owner file would be written
        assert_one_line(sgemu("run", "--no-netem", "--duration", "5", "--out", str(tmp_path / "o"), "-q",
                              env={"SGEMU_RUN_TAG": tag}), "SGEMU_RUN_TAG")
    assert not Path("/run/x").exists() and not (Path("/run/sgemu") / tag).exists()
    assert not (tmp_path / "o").exists()


def test_the_vm_lane_shares_the_out_directory_with_the_guest(tmp_path):
    from emulator.vm import sgemu_out_dirs

    out = tmp_path / "x" / "run"
    argv = [sys.executable, "-m", "sgemu", "run", "--duration", "10", "--out", str(out)]
    assert sgemu_out_dirs(argv, cwd=str(tmp_path / "elsewhere")) == [str(out)]
    assert sgemu_out_dirs(argv[:-2] + [f"--out={out}"], cwd="/") == [str(out)]
    assert sgemu_out_dirs([sys.executable, "-m", "pytest", "--out", "x"], cwd="/") == []
    # a relative --out inside the shared working directory needs nothing more
    assert sgemu_out_dirs(argv[:-1] + ["runs/a"], cwd=str(tmp_path)) == []


# -- helpers -----------------------------------------------------------------------------------------------
def _tag(name: str) -> str:
    import hashlib

    return "h" + hashlib.sha1(name.encode()).hexdigest()[:9]


def _assert_no_namespaces(tag: str) -> None:
    if os.geteuid() != 0:
        return
    from emulator.namespaces import our_namespaces

    assert [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")] == []
    assert not (Path("/run/sgemu") / tag).exists()


# -- sizes ---------------------------------------------------------------------------------------------------
def test_a_200x200_walker_run_is_refused_before_a_single_namespace(tmp_path):
    big = {"planes": 200, "sats_per_plane": 200, "inclination_deg": 53, "altitude_km": 550}
    path = scenario_file(tmp_path, constellations=[{"name": "leo", "walker": big}])
    tag = _tag("walker200")
    t0 = __import__("time").monotonic()
    r = sgemu("run", str(path), "--no-netem", "--out", str(tmp_path / "o"), "-q", env={"SGEMU_RUN_TAG": tag})
    line = assert_one_line(r, "size", "40,002 nodes", "--no-size-check")
    assert "open files" in line or "memory" in line
    assert __import__("time").monotonic() - t0 < 60, "refused from counts, not after building satellites"
    _assert_no_namespaces(tag)


def test_the_estimate_counts_what_the_series_then_holds():
    """Nodes exactly, links per step within a factor of 1.5 of the real series (default scenario)."""
    from sgemu.limits import estimate
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=60)
    est = estimate(scen, routing="static")
    scene, rules = scen.bind()
    series = build_series(scene, rules, scen.axis, scen.grazing_km, scen.link_parameters())
    real = series.link_id.size / series.n_steps
    assert est.nodes == series.n_nodes and est.steps == series.n_steps
    assert real / 1.5 <= est.links_per_step <= real * 1.5, (est.links_per_step, real)
    assert est.fds > est.nodes and est.live_bytes > 0 and est.build_s > 0


def test_a_live_jobs_estimate_is_printed_once():
    """The command prints the estimate from counts; the emulation it starts, checking the real series,
    does not print a second one (but an API user's own Emulation does)."""
    from types import SimpleNamespace

    from sgemu import limits
    from sgemu.scenario import load_scenario

    scen = load_scenario().with_overrides(duration_s=400000)  # a long series: estimated well over 30 s
    lines: list[str] = []
    limits.check(scen, live_=True, log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("estimate:"), lines
    # the series of a large live network (4,008 nodes: its build alone is estimated over 30 s)
    big = SimpleNamespace(node_layer=["LEO"] * 4000 + ["GROUND"] * 8, n_nodes=4008, n_steps=100,
                          link_id=SimpleNamespace(size=100 * 9000))
    limits.check_live(big, log=lines.append, override=True)
    assert len(lines) == 1, lines                   # the command's run: not again
    limits.check_live(big, log=lines.append, override=True)
    assert len(lines) == 2, lines                   # an emulation started on its own: printed


def test_a_full_disk_is_refused_before_any_work(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        r = sgemu_here("links", "--duration", "20", "--out", str(disk / "o"), "-q")
        assert_one_line(r, "--out", "free")
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_the_vm_lane_names_the_debian_packages_virtme_ng_needs_when_one_is_missing(monkeypatch):
    """virtme-ng reads the kernel's version with `file` and `strings` and stops in a traceback without
    them (a fresh Debian 12 has neither): the lane says which package to install instead."""
    import shutil

    from emulator import vm

    real = shutil.which
    monkeypatch.setattr(vm.shutil, "which", lambda name, *a, **k: None if name == "strings" else real(name, *a, **k))
    with pytest.raises(vm.VMError, match="binutils: run scripts/system-packages.sh vm as root"):
        vm._vng()


def _fake_mnexec(d: Path, stderr: str, code: int) -> Path:
    """An ``mnexec`` on PATH that fails the way a chroot's does (prints, exits ``code``)."""
    bindir = d / "bin"
    bindir.mkdir()
    fake = bindir / "mnexec"
    fake.write_text(f"#!/bin/sh\necho {stderr!r} >&2\nexit {code}\n")
    fake.chmod(0o755)
    return bindir


def test_mnexec_that_cannot_start_a_shell_is_named_not_waited_for(tmp_path):
    from emulator.kernel import mnexec_problem

    assert "is not installed" in mnexec_problem(str(tmp_path / "none" / "mnexec"))
    fake = _fake_mnexec(tmp_path, "remount: Invalid argument", 1) / "mnexec"
    said = mnexec_problem(str(fake))
    assert "exit 1" in said and "remount: Invalid argument" in said, said
    if os.geteuid() == 0 and shutil.which("mnexec"):
        assert mnexec_problem() is None   # the real one, here


def test_a_cluster_host_whose_mnexec_fails_answers_the_build_with_its_reason(tmp_path, monkeypatch):
    """Each host builds its own nodes, so each host's agent asks mnexec first; the driver turns the answer
    into one ClusterError line (``sgemu run`` prints it, exit 1)."""
    from emulator.cluster.agent import HostAgent

    monkeypatch.setenv("PATH", f"{_fake_mnexec(tmp_path, 'remount: Invalid argument', 1)}:{os.environ['PATH']}")
    agent = HostAgent("127.0.0.1")
    try:
        res = agent.build(None, 0, 0, None, {}, {}, {})
        assert set(res) == {"error"} and "remount: Invalid argument" in res["error"], res
        assert res["error"].startswith("nodes cannot be started: ") and "\n" not in res["error"]
        assert agent.net is None
    finally:
        agent.stop()


def test_a_run_whose_mnexec_fails_exits_3_in_one_line_before_building(tmp_path):
    """Mininet waits for a dead node shell's prompt for ever: the run must refuse first (a chroot showed it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: without it the run stops at the root check, before mnexec")
    bindir = _fake_mnexec(tmp_path, "remount: Invalid argument", 1)
    tag = _tag("mnexec")
    r = sgemu("run", "--duration", "5", "--shaping", "none", "--out", str(tmp_path / "o"), "-q",
              env={"PATH": f"{bindir}:{os.environ['PATH']}", "SGEMU_RUN_TAG": tag}, timeout=60)
    assert_one_line(r, "mnexec", "remount: Invalid argument", code=3)
    _assert_no_namespaces(tag)
