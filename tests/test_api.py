"""The public API: sgemu.Scenario offline (no root) and sgemu.Emulation live (root, no netem needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import sgemu
from emulator.namespaces import our_namespaces

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")


@pytest.fixture(scope="module")
def scen():
    return sgemu.Scenario.load(duration_s=40)


# -- offline ------------------------------------------------------------------------------------------
def test_a_scenario_loads_with_overrides_and_names_its_nodes(scen):
    assert scen.axis.n_steps == 41 and scen.name == "default"
    assert len(scen.nodes) == len(scen.satellites) + len(scen.stations) == scen.series.n_nodes
    assert scen.nodes == list(scen.series.node_names)
    assert {s.name for s in scen.stations} >= {"Beijing", "Kashi"}


def test_a_bad_override_names_its_field():
    with pytest.raises(sgemu.ScenarioError, match=r"^scenario\.durashun_s"):
        sgemu.Scenario.load(durashun_s=10)
    with pytest.raises(sgemu.ScenarioError, match=r"step_s"):
        sgemu.Scenario.load(step_s=-1)


def test_from_dict_takes_the_yaml_shape(scen):
    raw = scen.spec.raw
    raw["stations"] = raw["stations"] + [{"name": "MyLab", "lat_deg": 30.5, "lon_deg": 114.3}]
    other = sgemu.Scenario.from_dict(raw)
    assert [s.name for s in other.stations][-1] == "MyLab"
    assert other.stations[-1].lat_deg == 30.5


def test_the_predicted_rtt_is_twice_the_sum_of_the_link_delays_along_the_path(scen):
    frame = scen.route("Beijing", "Kashi").to_frame()
    s = scen.series
    assert list(frame.columns) == ["t_s", "utc", "rtt_ms", "hops", "path_changed", "path"]
    assert len(frame) == s.n_steps
    for k in (0, 17, 40):
        names = frame.path[k].split()
        ids, delay = s.active(k)
        one_way = {}
        for link, d in zip(ids.tolist(), delay.tolist()):
            a, b = s.node_names[s.link_a[link]], s.node_names[s.link_b[link]]
            one_way[(a, b)] = one_way[(b, a)] = d
        total = sum(one_way[(x, y)] for x, y in zip(names, names[1:]))
        assert frame.rtt_ms[k] == pytest.approx(2 * total, abs=1e-9)
        assert frame.hops[k] == len(names) - 1
    assert frame.path_changed.sum() == scen.route("Beijing", "Kashi").summary()["path_changes"]


def test_unknown_names_list_the_stations(scen):
    with pytest.raises(sgemu.ScenarioError, match="unknown node 'Paris'; stations here: .*Beijing"):
        scen.route("Beijing", "Paris")
    with pytest.raises(sgemu.ScenarioError, match="source itself"):
        scen.route("Beijing", "beijing")


def test_an_emulation_checks_its_arguments_before_building_anything(scen):
    before = our_namespaces()
    for kw, field in [({"shaping": "tc"}, "shaping"), ({"routing": "rip"}, "routing"),
                      ({"start_s": 99}, "start_s"), ({"run_tag": "../x"}, "run_tag")]:
        with pytest.raises(sgemu.ScenarioError, match=f"^{field}"):
            sgemu.Emulation(scen, **kw)
    assert our_namespaces() == before


def test_importing_and_plotting_leave_the_matplotlib_backend_alone(tmp_path):
    code = ("import matplotlib; matplotlib.use('svg'); import sgemu; s = sgemu.Scenario.load(duration_s=5); "
            "from experiments.results import plot_rtt; import numpy as np; "
            f"plot_rtt(__import__('pathlib').Path({str(tmp_path / 'x.png')!r}), [], [('a', 'b')], "
            "{('a', 'b'): np.ones(6)}, np.arange(6.0)); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"
    assert (tmp_path / "x.png").stat().st_size > 1000


# -- live -----------------------------------------------------------------------------------------------
def _ours(emu_tag: str) -> list[str]:
    return [n for n in our_namespaces() if n.startswith(f"sgemu-{emu_tag}-")]


@root
def test_a_live_emulation_pings_traces_and_follows_the_clock(scen, tmp_path):
    steps = []
    with sgemu.Emulation(scen, shaping="none", out=tmp_path) as emu:
        tag = emu.network.run_tag
        emu.subscribe(lambda e: steps.append(e["k"]) if e["type"] == "step" else None)
        r = emu.ping("Beijing", "Kashi", count=3)
        assert r.sent == 3 and r.loss_pct == 0 and r.predicted_rtt_ms == pytest.approx(
            scen.route("Beijing", "Kashi").rtt_ms[0])
        assert list(r.to_frame().rtt_ms.notna()) == [True] * 3
        assert emu.traceroute("Beijing", "Kashi") == emu.predicted_path("Beijing", "Kashi")
        # a plain ping from a station leaves from its loopback: no -I needed
        out = emu.cmd("Beijing", ["ping", "-n", "-c", "1", "-W", "2", emu.network.address("Kashi")])
        assert " 0% packet loss" in out, out
        emu.advance(25)
        assert emu.k == 25 and steps[-1] == 25 and steps == list(range(1, 26))
        assert emu.traceroute("Beijing", "Kashi") == emu.predicted_path("Beijing", "Kashi")
        path = emu.predicted_path("Beijing", "Kashi")
        assert emu.next_hops("Beijing")["Kashi"] == [path[1]]
        with pytest.raises(sgemu.ScenarioError, match="only moves forward"):
            emu.advance(3)
    assert _ours(tag) == []


@root
def test_sgemu_cli_pings_a_station_by_name_and_by_address():
    """What a user types at ``sgemu cli``: Mininet's name substitution and a plain ping both work."""
    env = {**os.environ, "SGEMU_RUN_TAG": "tcli" + os.urandom(2).hex()}
    script = "Beijing ping -c 2 -W 2 Kashi\nBeijing ping -c 2 -W 2 10.128.0.80\nexit\n"
    r = subprocess.run([sys.executable, "-m", "sgemu", "cli", "--no-netem", "--duration", "20", "-q"],
                       input=script, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Kashi=10.128.0.80" in r.stdout, r.stdout
    assert (r.stdout + r.stderr).count("2 received") == 2, r.stdout + r.stderr
    assert _ours(env["SGEMU_RUN_TAG"]) == []


@root
def test_a_short_run_without_shaping_is_judged_by_paths(scen, tmp_path):
    with sgemu.Emulation(scen, shaping="none", out=tmp_path / "run") as emu:
        result = emu.run(duration_s=20, experiments=[sgemu.Ping("Beijing", "Kashi", interval_s=0.2)], speed=4)
    s = result.summary
    pair = s["pairs"]["Beijing->Kashi"]
    assert s["shaping"] == "none" and "not applicable" in s["rtt_agreement"]
    assert pair["agree_pct"] is None and pair["loss_pct"] < 10
    assert pair["path_checks"] >= 1 and pair["path_agree_pct"] == 100.0
    frame = result.to_frame()
    assert len(frame) == pair["received"] and set(frame.columns) >= {"t_s", "rtt_ms_measured", "rtt_ms_predicted"}
    assert (tmp_path / "run" / "rtt.png").stat().st_size > 1000


@root
def test_ctrl_c_during_a_run_keeps_the_measurements_and_removes_the_network(scen, tmp_path):
    out = tmp_path / "run"
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        with sgemu.Emulation(scen, shaping="none", out=out) as emu:
            tag = emu.network.run_tag
            timer.start()
            emu.run(experiments=[sgemu.Ping("Beijing", "Kashi")])
    timer.join()
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["pairs"]["Beijing->Kashi"]["received"] > 0
    assert (out / "steps.csv").exists() and (out / "results.csv").read_text().count("\n") > 2
    assert _ours(tag) == []


@root
def test_an_error_inside_the_block_still_tears_down(scen, tmp_path):
    with pytest.raises(ZeroDivisionError):
        with sgemu.Emulation(scen, shaping="none", out=tmp_path) as emu:
            tag = emu.network.run_tag
            1 / 0
    assert _ours(tag) == []
    time.sleep(0)
    assert np.isfinite(scen.route("Beijing", "Kashi").rtt_ms).any()
