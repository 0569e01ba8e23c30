"""Placement of nodes on cluster hosts (pure: no root, no Ray)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from emulator.cluster import placement as P


@pytest.fixture(scope="module")
def default():
    from sgemu.scenario import load_scenario
    from topologies.builder import build_series

    scen = load_scenario().with_overrides(duration_s=60)
    scene, rules = scen.bind()
    return build_series(scene, rules, scen.axis), P.node_planes(scene)


def _planes(series, planes):
    out: dict[tuple, list[int]] = {}
    for i, p in enumerate(planes):
        if p is not None:
            out.setdefault((series.node_shell[i], series.node_layer[i], p), []).append(i)
    return out


@pytest.mark.parametrize("n", [2, 3, 4])
def test_every_plane_stays_on_one_host_and_hosts_are_balanced(default, n):
    series, planes = default
    p = P.place(series, n, planes)
    assert p.host.min() >= 0 and p.host.max() < n
    for key, nodes in _planes(series, planes).items():
        assert len(set(p.host[nodes].tolist())) == 1, key
    counts = p.counts()
    # balance: hosts differ by at most one plane (8 nodes here; planes are not split), none empty
    biggest = max(len(v) for v in _planes(series, planes).values())
    assert max(counts) - min(counts) <= biggest and min(counts) > 0, counts
    if n == 2:
        assert max(counts) <= -(-series.n_nodes // n) + 1, counts
    # intra-plane links are all local
    same_plane = [l for l in range(series.n_links)
                  if planes[series.link_a[l]] is not None and planes[series.link_b[l]] is not None
                  and (series.node_shell[series.link_a[l]], series.node_layer[series.link_a[l]], planes[series.link_a[l]])
                  == (series.node_shell[series.link_b[l]], series.node_layer[series.link_b[l]], planes[series.link_b[l]])]
    assert same_plane and not (p.host[series.link_a[same_plane]] != p.host[series.link_b[same_plane]]).any()


@pytest.mark.parametrize("n", [2, 3])
def test_fewer_cross_host_links_than_round_robin_and_counts_are_right(default, n):
    series, planes = default
    p, rr = P.place(series, n, planes), P.round_robin(series, n)
    assert p.cross_links < rr.cross_links / 2 and p.cross_link_steps < rr.cross_link_steps / 2
    # the count, recomputed by hand from the link list
    cross = sum(1 for a, b in zip(series.link_a, series.link_b) if p.host[a] != p.host[b])
    assert p.cross_links == cross and p.cross_links + p.local_links == series.n_links
    text = p.describe(series)
    assert f"cross-host links: {cross} of {series.n_links}" in text


def test_deterministic_and_one_host_has_no_cross_links(default):
    series, planes = default
    a, b = P.place(series, 3, planes), P.place(series, 3, planes)
    assert np.array_equal(a.host, b.host)
    one = P.place(series, 1, planes)
    assert one.cross_links == 0 and one.counts() == [series.n_nodes]


def _toy_series():
    """Two 4-satellite planes (rings) joined by one ISL; station G talks to plane 1 for 9 of 10
    steps and to plane 0 for 1 step."""
    from orbits.timebase import TimeAxis
    from topologies.series import LinkSeries

    names = [f"p{p}-{s}" for p in range(2) for s in range(4)] + ["G"]
    links = [(0, 1), (1, 2), (2, 3), (0, 3), (4, 5), (5, 6), (6, 7), (4, 7), (3, 4), (0, 8), (5, 8)]
    steps = []
    for k in range(10):
        up = list(range(9)) + ([9] if k == 0 else [10])
        steps.append(sorted(up))
    a, b = np.array(links).T
    n_steps = len(steps)
    return LinkSeries(
        axis=TimeAxis(datetime(2024, 1, 1, tzinfo=timezone.utc), 1.0, n_steps),
        node_names=names, node_layer=["LEO"] * 8 + ["GROUND"], node_shell=["s"] * 8 + ["ground"],
        link_a=a.astype(np.int32), link_b=b.astype(np.int32), link_kind=np.zeros(len(links), np.int8),
        ms_per_km=np.full(len(links), 1 / 299.792458), capacity_mbps=np.full(len(links), np.nan),
        loss_pct=np.full(len(links), np.nan),
        indptr=np.concatenate([[0], np.cumsum([len(s) for s in steps])]).astype(np.int64),
        link_id=np.concatenate(steps).astype(np.int32),
        distance_km=np.full(sum(len(s) for s in steps), 1000.0, np.float32)), [0] * 4 + [1] * 4 + [None]


def test_a_station_goes_where_its_links_are_up_longest():
    series, planes = _toy_series()
    p = P.place(series, 2, planes)
    assert p.host[:4].tolist() == [0] * 4 and p.host[4:8].tolist() == [1] * 4
    assert p.host[8] == 1                      # 9 steps with plane 1 beat 1 step with plane 0
    assert p.cross_links == 2                  # the plane-joining ISL and G's short-lived link
    assert p.cross_link_steps == 10 + 1


def test_bad_input_names_the_field(default):
    series, planes = default
    with pytest.raises(ValueError, match="n_hosts"):
        P.place(series, 0, planes)
    with pytest.raises(ValueError, match="planes"):
        P.place(series, 2, planes[:-1])


def test_underlay_slower_than_a_cross_host_link_is_refused_with_the_numbers():
    from emulator.cluster.driver import ClusterError, check_underlay, min_delay_ms

    series, planes = _toy_series()
    p = P.place(series, 2, planes)
    one_way = 1000.0 / 299.792458                     # every toy link is 1,000 km
    assert np.allclose(min_delay_ms(series), one_way)
    names = ["host0 (a)", "host1 (b)"]
    check_underlay(series, p.host, np.array([[0, 1.0], [1.0, 0]]), names)   # 1 ms under 3.3 ms: fine
    with pytest.raises(ClusterError) as err:
        check_underlay(series, p.host, np.array([[0, 5.0], [5.0, 0]]), names)
    msg = str(err.value)
    assert f"{one_way:.3f} ms" in msg and "5.000 ms" in msg and "host0 (a) <-> host1 (b)" in msg, msg
    assert "2 such link(s)" in msg and "\n" not in msg
    # one host: no cross-host link, nothing to refuse
    check_underlay(series, np.zeros(series.n_nodes, dtype=np.int64), np.zeros((1, 1)), names[:1])


def test_cluster_local_cli_bad_input_is_one_line(tmp_path):
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "sgemu", "cluster", "local", "down", "--tag", "f00f00"],
                       capture_output=True, text=True, timeout=120)
    if os.geteuid() != 0:
        assert r.returncode == 3 and "needs root" in r.stderr
        return
    assert r.returncode == 2 and "no local cluster 'f00f00'" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0
    r = subprocess.run([sys.executable, "-m", "sgemu", "cluster", "local", "up", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "N: 0 hosts; accepted 1..32" in r.stderr, r.stderr


def test_a_cluster_process_is_known_by_its_open_files_when_it_renamed_its_command_line(tmp_path):
    """The head's ``ray::DashboardAgent`` renames its command line; ``down`` and ``leftovers`` still find
    it by its logs open under the cluster's temp dir (it once outlived ``sgemu cluster local down``).
    A driver (the user's script, connected by ``ray.init``) with logs open there is not the cluster's."""
    import subprocess
    import sys

    from emulator.cluster.local import _uses_dir

    ours = tmp_path / "ray-sgc-abc123"
    ours.mkdir()
    code = "import sys, time; sys.stdout.write('up\\n'); sys.stdout.flush(); time.sleep(60)"
    procs = []
    for argv0 in ("ray::DashboardAgent", "python3"):   # a renamed Ray process, a driver
        log = open(ours / f"{len(procs)}.out", "w")
        procs.append(subprocess.Popen([argv0, "-c", code], executable=sys.executable, stdout=log))
        log.close()
    other = subprocess.Popen(["ray::DashboardAgent", "-c", code], executable=sys.executable, stdout=subprocess.PIPE)
    procs.append(other)
    agent, driver = procs[:2]
    try:
        other.stdout.readline()
        assert open(f"/proc/{agent.pid}/cmdline", "rb").read().startswith(b"ray::DashboardAgent")
        assert _uses_dir(agent.pid, str(ours))
        assert not _uses_dir(driver.pid, str(ours))
        assert not _uses_dir(other.pid, str(ours))
        assert not _uses_dir(agent.pid, str(tmp_path / "ray-sgc-abc12"))   # a prefix of another's dir
        (ours / "0.out").unlink()                        # deleted under it: still open there
        assert _uses_dir(agent.pid, str(ours))
    finally:
        for p in procs:
            p.kill()
            p.wait()
