"""Claims about many-pair routes streamed in chunks and about the link exports.

The streamed routes keep shortest-path trees between steps and recompute
only when they cannot prove them unchanged; every claim here compares them
with :func:`route_pair`, which runs a fresh Dijkstra per pair and step.
Exported files are read back with pyarrow, the csv module and
``xml.etree`` and compared value for value with the series they came from.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import types
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pyarrow.parquet as pq
import pytest

from orbits.scene import Scene
from orbits.stations import GroundStation, builtin_station
from orbits.timebase import TimeAxis
from orbits.walker import WalkerShell
from topologies.builder import build_series
from topologies.export import RoutesWriter, link_intervals, link_steps, write_links
from topologies.fiber_links import Fiber
from topologies.ground_links import GroundAccess
from topologies.routing import _PairStream, ground_pairs, route_pair, stream_pair_arrays, stream_pair_routes
from topologies.shell_links import PlusGrid

REPO_ROOT = Path(__file__).resolve().parent.parent
EPOCH = dt.datetime(2024, 7, 16, tzinfo=dt.timezone.utc)
CITIES = ("Beijing", "Kashi", "Sanya", "Harbin", "Moscow", "Singapore", "Nairobi", "London", "New-York", "Tokyo")


@pytest.fixture(scope="module")
def series():
    """A 10x12 shell at 630 km (odd planes offset half a slot), +grid, 10 cities linked to every
    satellite within 1,800 km, a fibre pair, and one station nobody serves; 80 steps of 3 s."""
    shell = WalkerShell(planes=10, sats_per_plane=12, inclination_deg=51.9, mean_motion_rev_day=14.8,
                        plane_phase_offsets_deg=tuple(15.0 * (p % 2) for p in range(10)))
    sites = [builtin_station(c) for c in CITIES] + [GroundStation("Isolated", -75.0, 0.0)]
    rules = [PlusGrid(group="leo"),
             GroundAccess(group="leo", stations=list(CITIES), policy="all-visible", min_elevation_deg=0,
                          max_range_km=1800),
             Fiber(pairs=[["Beijing", "Harbin"]], capacity_mbps=1000.0)]
    return build_series(Scene(shell.satellites("leo", EPOCH), sites), rules, TimeAxis.from_duration(EPOCH, 237, 3))


def reference(series, pairs, ground_transit=False):
    """route_pair for every pair: rtt (step, pair), hops (step, pair), path names [step][pair]."""
    routes = [route_pair(series, int(a), int(b), ground_transit) for a, b in pairs]
    rtt = np.stack([r.rtt_ms for r in routes], axis=1)
    hops = np.stack([r.hops for r in routes], axis=1)
    paths = [[" ".join(r.path_names(k)) for r in routes] for k in range(series.n_steps)]
    return rtt, hops, paths


def collect(series, pairs, **kw):
    rtt, hops, paths = [], [], []
    for k0, r, h, code, texts in stream_pair_arrays(series, pairs, **kw):
        rtt.append(r)
        hops.append(h)
        paths += [["" if c < 0 else texts[c] for c in row] for row in code.tolist()]
    return np.concatenate(rtt), np.concatenate(hops), paths


@pytest.mark.parametrize("ground_transit", [False, True])
def test_streamed_routes_equal_route_pair_for_every_pair_at_every_step(series, ground_transit):
    pairs = ground_pairs(series)
    rtt, hops, paths = collect(series, pairs, ground_transit=ground_transit, chunk_steps=13)
    ref_rtt, ref_hops, ref_paths = reference(series, pairs, ground_transit)
    assert np.array_equal(rtt, ref_rtt, equal_nan=True)      # bit for bit, not approximately
    assert np.array_equal(hops, ref_hops)
    assert paths == ref_paths
    isolated = [p for p, (a, b) in enumerate(pairs) if "Isolated" in (series.node_names[a], series.node_names[b])]
    assert np.isnan(rtt[:, isolated]).all() and (hops[:, isolated] == -1).all()
    assert np.isfinite(rtt).mean() > 0.5
    assert any(paths[k] != paths[k - 1] for k in range(1, len(paths)))   # routes do change over the run


def test_trees_are_kept_between_steps_and_still_match(series):
    """The fast path is taken: far fewer Dijkstra runs than sources x steps, same results."""
    pairs = ground_pairs(series)
    stream = _PairStream(series, pairs, False)
    rtt, hops, code, texts = stream.run(range(series.n_steps))
    sources = np.unique(pairs[:, 0]).size
    assert stream.recomputed < 0.5 * sources * series.n_steps
    assert np.array_equal(rtt, reference(series, pairs)[0], equal_nan=True)


def test_two_workers_and_any_chunk_size_give_the_same_routes(series, monkeypatch):
    """Workers take blocks of whole chunks (here 3 blocks of 3 chunks of 9 steps) from fresh trees."""
    import topologies.routing

    monkeypatch.setattr(topologies.routing, "_BLOCK_STEPS", 20)
    pairs = ground_pairs(series)[::3]
    one = collect(series, pairs, chunk_steps=200)
    chunks = list(stream_pair_arrays(series, pairs, chunk_steps=9, workers=2))
    assert [c[0] for c in chunks] == list(range(0, series.n_steps, 9))
    for _, _, _, code, texts in chunks:       # each chunk carries the path texts it uses, no others
        assert sorted(set(code[code >= 0].tolist())) == list(range(len(texts)))
    two = collect(series, pairs, chunk_steps=9, workers=2)
    assert np.array_equal(one[0], two[0], equal_nan=True) and np.array_equal(one[1], two[1]) and one[2] == two[2]


def test_given_pairs_keep_their_order_and_direction(series):
    idx = series.index
    pairs = np.array([[idx("Tokyo"), idx("Beijing")], [idx("Beijing"), idx("Tokyo")], [idx("London"), idx("Kashi")]])
    rtt, hops, paths = collect(series, pairs, chunk_steps=50)
    ref = reference(series, pairs)
    assert np.array_equal(rtt, ref[0], equal_nan=True) and paths == ref[2]
    assert all(p[0].startswith("Tokyo") for p in paths if p[0])


def test_a_pair_of_one_node_is_refused(series):
    with pytest.raises(ValueError, match="itself"):
        next(stream_pair_arrays(series, np.array([[1, 1]])))


def test_the_stream_is_a_generator_of_bounded_chunks_and_keeps_bounded_state(series):
    pairs = ground_pairs(series)
    chunks = stream_pair_routes(series, pairs, chunk_steps=10)
    assert isinstance(chunks, types.GeneratorType)
    sizes = []
    for frame in chunks:
        sizes.append(len(frame))
        assert list(frame.columns) == ["t_s", "src", "dst", "rtt_ms", "hops", "path"]
        assert len(frame) <= 10 * len(pairs)
        assert len(frame["path"].cat.categories) <= len(pairs) * 10
    assert sum(sizes) == series.n_steps * len(pairs) and len(sizes) == -(-series.n_steps // 10)
    stream = _PairStream(series, pairs, False)
    for k in range(0, series.n_steps, 20):
        stream.run(range(k, min(k + 20, series.n_steps)))
        assert len(stream.paths) <= len(pairs)   # path texts of finished chunks are forgotten


def test_times_have_no_binary_noise():
    axis = TimeAxis.from_duration(EPOCH, 1.0, 0.1)
    s = types.SimpleNamespace(axis=axis)
    from topologies.routing import step_times_s

    assert [repr(float(t)) for t in step_times_s(s)] == [repr(round(0.1 * k, 1)) for k in range(11)]


def test_routes_parquet_and_csv_read_back_exactly(series, tmp_path):
    pairs = ground_pairs(series)[:20]
    frames = list(stream_pair_routes(series, pairs, chunk_steps=25))
    for fmt in ("parquet", "csv"):
        writer = RoutesWriter(tmp_path / f"routes.{fmt}", fmt)
        for frame in frames:
            writer.write(frame)
        path = writer.close()
        assert not list(tmp_path.glob("*.part"))
        if fmt == "parquet":
            back = pq.read_table(path).to_pandas()
            assert pq.ParquetFile(path).num_row_groups == len(frames)
            rtt, t_s, hops = back["rtt_ms"].to_numpy(), back["t_s"].to_numpy(), back["hops"].to_numpy()
            texts = [None if isinstance(p, float) else p for p in back["path"].astype(object)]
        else:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            rtt = np.array([float(r["rtt_ms"]) if r["rtt_ms"] else np.nan for r in rows])
            t_s = np.array([float(r["t_s"]) for r in rows])
            hops = np.array([int(r["hops"]) for r in rows])
            texts = [r["path"] or None for r in rows]
        allf = [f for f in frames]
        want_rtt = np.concatenate([f["rtt_ms"].to_numpy() for f in allf])
        assert np.array_equal(rtt, want_rtt, equal_nan=True)
        assert np.array_equal(t_s, np.concatenate([f["t_s"].to_numpy() for f in allf]))
        assert np.array_equal(hops, np.concatenate([f["hops"].to_numpy() for f in allf]))
        want_paths = [None if isinstance(p, float) else p for f in allf for p in f["path"].astype(object)]
        assert texts == want_paths


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) step of each run of True in a 1-D bool array."""
    out, start = [], None
    for k, up in enumerate(list(mask) + [False]):
        if up and start is None:
            start = k
        elif not up and start is not None:
            out.append((start, k - 1))
            start = None
    return out


def test_link_intervals_match_the_steps_each_link_is_up(series):
    frame = link_intervals(series)
    mask = series.active_mask()
    delays = np.stack([series.delay_ms(k) for k in range(series.n_steps)])
    want = []
    for i in range(series.n_links):
        for a, b in runs_of(mask[:, i]):
            d = delays[a:b + 1, i]
            want.append((i, a, b, d.min(), d.max(), d.mean()))
    got = sorted(zip(frame.link_id, np.rint(frame.t_start_s / 3).astype(int),
                     np.rint(frame.t_end_s / 3).astype(int) - 1, frame.delay_ms_min, frame.delay_ms_max,
                     frame.delay_ms_mean))
    want.sort()
    assert [g[:5] for g in got] == [w[:5] for w in want]
    assert np.allclose([g[5] for g in got], [w[5] for w in want], rtol=1e-12)
    assert (frame.steps == np.rint((frame.t_end_s - frame.t_start_s) / 3)).all()
    assert set(frame.kind) == {"isl", "ground", "fiber"}
    fiber = frame.kind == "fiber"
    assert (frame.capacity_mbps_max[fiber] == 1000.0).all() and frame.capacity_mbps_min[~fiber].isna().all()
    row = frame.iloc[0]
    assert series.node_names.index(row.a) < series.node_names.index(row.b)


def test_per_step_table_and_exports_read_back(series, tmp_path):
    write_links(series, tmp_path, "parquet", per_step=True)
    back = pq.read_table(tmp_path / "links.parquet").to_pandas()
    assert len(back) == series.link_id.size
    k = 17
    rows = back[back.t_s == 17 * 3.0]
    ids, delay = series.active(k)
    assert np.array_equal(rows.link_id.to_numpy(), ids) and np.array_equal(rows.delay_ms.to_numpy(), delay)
    write_links(series, tmp_path, "csv")
    with open(tmp_path / "links.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    frame = link_intervals(series)
    assert [float(r["delay_ms_mean"]) for r in rows] == frame.delay_ms_mean.tolist()
    assert [r["a"] for r in rows] == frame.a.tolist()
    with open(tmp_path / "nodes.csv", newline="") as f:
        assert [r["name"] for r in csv.DictReader(f)] == series.node_names


def test_graphml_holds_every_node_and_one_edge_per_interval(series, tmp_path):
    write_links(series, tmp_path, "graphml")
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(tmp_path / "links.graphml").getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", ns)}
    graph = root.find("g:graph", ns)
    assert [n.get("id") for n in graph.findall("g:node", ns)] == series.node_names
    edges = graph.findall("g:edge", ns)
    frame = link_intervals(series)
    assert len(edges) == len(frame)
    for e, row in zip(edges[::37], frame.iloc[::37].itertuples()):
        data = {keys[d.get("key")]: d.text for d in e.findall("g:data", ns)}
        assert (e.get("source"), e.get("target"), data["kind"]) == (row.a, row.b, row.kind)
        assert float(data["delay_ms_max"]) == row.delay_ms_max and float(data["t_start_s"]) == row.t_start_s
        assert ("capacity_mbps_max" in data) == (not np.isnan(row.capacity_mbps_max))


# -- the command ---------------------------------------------------------------

def sgemu(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "sgemu", *map(str, args)], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


BAD = {
    "unknown station": (["routes", "--pairs", "Beijing:Atlantis"], ["--pairs", "Atlantis", "Kashi"]),
    "station with itself": (["routes", "--pairs", "Kashi:kashi"], ["--pairs", "itself"]),
    "malformed pairs": (["routes", "--pairs", "Beijing-Kashi"], ["--pairs", "SRC:DST"]),
    "zero workers": (["routes", "--workers", "0"], ["--workers"]),
    "chunk not a number": (["routes", "--chunk-steps", "ten"], ["--chunk-steps", "'ten'"]),
    "routes format": (["routes", "--format", "xlsx"], ["--format", "parquet, csv"]),
    "links format": (["links", "--format", "gexf"], ["--format", "graphml"]),
    "per step graphml": (["links", "--format", "graphml", "--per-step"], ["--per-step"]),
}


@pytest.mark.parametrize("label", list(BAD))
def test_bad_routes_and_links_options_exit_2_with_one_line_and_write_nothing(label, tmp_path):
    args, fragments = BAD[label]
    out = tmp_path / "out"
    res = sgemu(*args, "--duration", 10, "--out", out)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not out.exists()


def test_out_that_is_a_file_exits_2(tmp_path):
    (tmp_path / "f").write_text("x")
    res = sgemu("routes", "--duration", 10, "--out", tmp_path / "f")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--out" in res.stderr


def test_routes_command_writes_what_route_pair_predicts(tmp_path):
    from sgemu.cmd_topology import compute_series
    from sgemu.scenario import load_scenario

    res = sgemu("routes", "--duration", 30, "--step", 3, "--pairs", "Beijing:Kashi,Nairobi:Moscow",
                "--chunk-steps", 4, "--out", tmp_path, "-q")
    assert res.returncode == 0, res.stderr
    back = pq.read_table(tmp_path / "routes.parquet").to_pandas()
    assert json.loads((tmp_path / "routes.json").read_text())["rows"] == len(back) == 2 * 11
    _, series = compute_series(load_scenario().with_overrides(None, 30, 3), quiet=True)
    for (src, dst), rows in back.groupby(["src", "dst"], observed=True, sort=False):
        ref = route_pair(series, series.index(src), series.index(dst))
        assert np.array_equal(rows.rtt_ms.to_numpy(), ref.rtt_ms, equal_nan=True)
        assert rows.path.astype(object).tolist() == [" ".join(ref.path_names(k)) for k in range(series.n_steps)]
    assert sorted(set(back.t_s)) == [3.0 * k for k in range(11)]


def test_route_csv_and_json_are_full_precision(tmp_path):
    res = sgemu("route", "--src", "Beijing", "--dst", "Kashi", "--duration", 6, "--step", 0.3, "--out", tmp_path, "-q")
    assert res.returncode == 0, res.stderr
    from topologies.series import LinkSeries

    series = LinkSeries.load(tmp_path / "links.npz")
    ref = route_pair(series, series.index("Beijing"), series.index("Kashi"))
    with open(tmp_path / "route-Beijing-Kashi.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["rtt_ms"]) for r in rows] == ref.rtt_ms.tolist()
    assert [r["t_s"] for r in rows][:4] == ["0.0", "0.3", "0.6", "0.9"]
    text = (tmp_path / "route-Beijing-Kashi.json").read_text()
    summary = json.loads(text)
    assert summary["rtt_ms_mean"] == float(np.mean(ref.rtt_ms))
    assert "0000000" not in text.replace(".0,", ",")   # no 0.30000000000000004-style noise in times


def test_the_matrix_the_trees_rebuild_is_entry_for_entry_the_step_graphs(series):
    """Dijkstra must see the very graph route_pair sees (same entries, same order) for ties to agree."""
    from topologies.routing import StepGraph, _step_edges, _Trees

    graph = StepGraph(series)
    trees = _Trees(graph, series.ground_indices)
    for k in (0, 1, 40, 41, 79):
        edges, _ = _step_edges(series, graph, k)
        mine, ref = trees._matrix(edges), graph.matrix(k)
        assert all(np.array_equal(getattr(mine, a), getattr(ref, a)) for a in ("indptr", "indices", "data"))


def test_route_frame_matches_the_route(series):
    from topologies.export import route_frame

    route = route_pair(series, series.index("Beijing"), series.index("London"))
    frame = route_frame(series, route)
    assert np.array_equal(frame.rtt_ms.to_numpy(), route.rtt_ms, equal_nan=True)
    assert frame.path_changed.sum() == route.change_steps().size
    assert frame.path.tolist() == [" ".join(route.path_names(k)) or None for k in range(series.n_steps)]
