"""Exports of a link series and of predicted routes: edge lists, tables, GraphML.

Pure computation and file writing, no side effects elsewhere; the layouts
are documented in ``docs/links-format.md``.

* :func:`link_intervals` -- one row per *link interval*: a maximal run of
  consecutive steps during which a link is up, with its delay range.
* :func:`link_steps` -- the long table, one row per link per step it is up,
  in chunks of steps (memory bounded by a chunk).
* :func:`node_table` -- every node with its layer and shell.
* :func:`write_links` -- the above as Parquet, CSV or GraphML.
* :class:`RoutesWriter` -- chunks from
  :func:`topologies.routing.stream_pair_routes` appended to one Parquet or
  CSV file.

Floats are written at full precision: Parquet stores float64 as is, CSV
uses the shortest text that reads back to the same float64.  Times are
``k * step_s`` rounded to the nanosecond, which removes binary noise such
as 0.30000000000000004.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from .routing import step_times_s
from .rules import KINDS
from .series import LinkSeries

FORMATS = ("npz", "parquet", "csv", "graphml")
ROUTE_FORMATS = ("parquet", "csv")


def _entry_delay_ms(series: LinkSeries, sl=slice(None)) -> np.ndarray:
    """One-way delay of CSR entries ``sl`` (same arithmetic as :meth:`LinkSeries.active`)."""
    return series.distance_km[sl].astype(np.float64) * series.ms_per_km[series.link_id[sl]]


def _entry_capacity_mbps(series: LinkSeries, sl=slice(None)) -> np.ndarray:
    """Capacity Mbit/s of CSR entries ``sl`` (the link budget's per-step value where given), NaN = unshaped."""
    cap = series.capacity_mbps[series.link_id[sl]]
    over = getattr(series, "step_capacity_mbps", None)
    if over is not None:
        cap = np.where(np.isnan(over[sl]), cap, over[sl])
    return cap.astype(np.float64)


def _entry_loss_pct(series: LinkSeries, sl=slice(None)) -> np.ndarray:
    """Loss % per direction of CSR entries ``sl`` (a fade's value where it applies), 0 = none."""
    loss = series.loss_pct[series.link_id[sl]]
    if series.step_loss_pct is not None:
        over = series.step_loss_pct[sl]
        loss = np.where(np.isnan(over), loss, over)
    return np.nan_to_num(loss, nan=0.0)


def link_intervals(series: LinkSeries):
    """One row per link interval, as a pandas DataFrame sorted by start time then link.

    Columns: ``link_id`` (index into the series' link arrays), ``a``, ``b``
    (node names, a's index below b's), ``kind``, ``t_start_s`` (first step
    up), ``t_end_s`` (the step after the last one up: intervals are
    half-open, ``[t_start_s, t_end_s)``), ``steps``, ``delay_ms_min``,
    ``delay_ms_mean``, ``delay_ms_max`` (one-way, over the interval's
    steps), ``capacity_mbps_min``, ``capacity_mbps_max`` (per-step link
    budget included, NaN = unshaped), ``loss_pct_max`` (per direction,
    budget and weather fades included, 0 = none).
    """
    import pandas as pd

    steps = np.repeat(np.arange(series.n_steps), np.diff(series.indptr))
    order = np.lexsort((steps, series.link_id))
    link, k = series.link_id[order].astype(np.int64), steps[order]
    delay, loss = _entry_delay_ms(series)[order], _entry_loss_pct(series)[order]
    cap = _entry_capacity_mbps(series)[order]
    new = np.ones(link.size, dtype=bool)
    new[1:] = (link[1:] != link[:-1]) | (k[1:] != k[:-1] + 1)
    first = np.flatnonzero(new)
    count = np.diff(np.append(first, link.size))
    last_k = k[first + count - 1]
    lid = link[first]
    names = np.array(series.node_names, dtype=object)
    frame = pd.DataFrame({
        "link_id": lid,
        "a": names[series.link_a[lid]],
        "b": names[series.link_b[lid]],
        "kind": np.array(KINDS, dtype=object)[series.link_kind[lid]],
        "t_start_s": step_times_s(series, k[first]) if first.size else np.zeros(0),
        "t_end_s": np.round((last_k + 1) * series.axis.step_s, 9),
        "steps": count,
        "delay_ms_min": np.minimum.reduceat(delay, first) if first.size else np.zeros(0),
        "delay_ms_mean": np.add.reduceat(delay, first) / count if first.size else np.zeros(0),
        "delay_ms_max": np.maximum.reduceat(delay, first) if first.size else np.zeros(0),
        "capacity_mbps_min": np.fmin.reduceat(cap, first) if first.size else np.zeros(0),
        "capacity_mbps_max": np.fmax.reduceat(cap, first) if first.size else np.zeros(0),
        "loss_pct_max": np.maximum.reduceat(loss, first) if first.size else np.zeros(0),
    })
    return frame.sort_values(["t_start_s", "link_id"], kind="stable", ignore_index=True)


def link_steps(series: LinkSeries, chunk_steps: int = 500):
    """The long table, one DataFrame per chunk of steps: a row per link up at a step.

    Columns: ``t_s``, ``link_id``, ``a``, ``b``, ``kind``, ``distance_km``
    (float32 as stored), ``delay_ms`` (one-way), ``capacity_mbps`` (NaN =
    unshaped) and ``loss_pct`` (per direction, 0 = none), link budget and
    fades included.
    """
    import pandas as pd

    names = np.array(series.node_names, dtype=object)
    kinds = np.array(KINDS, dtype=object)
    for k0 in range(0, series.n_steps, max(1, chunk_steps)):
        k1 = min(k0 + chunk_steps, series.n_steps)
        sl = slice(series.indptr[k0], series.indptr[k1])
        lid = series.link_id[sl].astype(np.int64)
        yield pd.DataFrame({
            "t_s": np.repeat(step_times_s(series, slice(k0, k1)), np.diff(series.indptr[k0:k1 + 1])),
            "link_id": lid,
            "a": names[series.link_a[lid]],
            "b": names[series.link_b[lid]],
            "kind": kinds[series.link_kind[lid]],
            "distance_km": series.distance_km[sl],
            "delay_ms": _entry_delay_ms(series, sl),
            "capacity_mbps": _entry_capacity_mbps(series, sl),
            "loss_pct": _entry_loss_pct(series, sl),
        })


def node_table(series: LinkSeries):
    """Every node: ``node`` (index), ``name``, ``layer`` (GROUND, LEO, MEO, IGSO, GEO), ``shell``."""
    import pandas as pd

    return pd.DataFrame({"node": np.arange(series.n_nodes), "name": series.node_names,
                         "layer": series.node_layer, "shell": series.node_shell})


def write_links(series: LinkSeries, out_dir: str | Path, fmt: str, per_step: bool = False) -> list[Path]:
    """Write the edge list (and node table) of ``series`` in ``fmt``; returns the files written.

    ``parquet`` / ``csv``: ``links.<fmt>`` (intervals, or the long table
    with ``per_step``) and ``nodes.<fmt>``.  ``graphml``: ``links.graphml``,
    one edge per interval.  ``npz`` writes nothing here (``links.npz`` is
    :meth:`LinkSeries.save`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; accepted: {', '.join(FORMATS)}")
    if per_step and fmt not in ("parquet", "csv"):
        raise ValueError("per-step tables are written as parquet or csv")
    out = Path(out_dir)
    if fmt == "npz":
        return []
    if fmt == "graphml":
        path = out / "links.graphml"
        write_graphml(series, path)
        return [path]
    frames = link_steps(series) if per_step else iter([link_intervals(series)])
    links = _write_frames(frames, out / f"links.{fmt}", fmt)
    nodes = _write_frames(iter([node_table(series)]), out / f"nodes.{fmt}", fmt)
    return [links, nodes]


def _write_frames(frames, path: Path, fmt: str) -> Path:
    """Write DataFrames one after another to one Parquet (row groups) or CSV file, atomically."""
    part = path.with_name(path.name + ".part")
    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(part, table.schema)
                writer.write_table(table.cast(writer.schema))
            if writer is not None:
                writer.close()
        else:
            with open(part, "w", newline="") as f:
                for i, frame in enumerate(frames):
                    frame.to_csv(f, index=False, header=i == 0)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


def _graphml_value(value) -> str | None:
    """Text of one GraphML datum (shortest round-trip text for floats), None when missing."""
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else repr(float(value))
    return str(value)


def write_graphml(series: LinkSeries, path: str | Path) -> Path:
    """GraphML (stdlib XML): nodes with layer/shell, one undirected edge per link interval.

    Parallel edges join a pair that was up in several intervals; edge ids
    are ``e<row>`` in :func:`link_intervals` order.
    """
    frame = link_intervals(series)
    ns = "http://graphml.graphdrawing.org/xmlns"
    root = ET.Element("graphml", {"xmlns": ns})
    node_keys = {"layer": "string", "shell": "string"}
    edge_keys = {"link_id": "long", "kind": "string", "t_start_s": "double", "t_end_s": "double",
                 "steps": "long", "delay_ms_min": "double", "delay_ms_mean": "double",
                 "delay_ms_max": "double", "capacity_mbps_min": "double", "capacity_mbps_max": "double",
                 "loss_pct_max": "double"}
    for where, keys in (("node", node_keys), ("edge", edge_keys)):
        for name, typ in keys.items():
            ET.SubElement(root, "key", {"id": name, "for": where, "attr.name": name, "attr.type": typ})
    graph = ET.SubElement(root, "graph", {"id": "links", "edgedefault": "undirected",
                                          "parse.edges": str(len(frame))})
    for name, layer, shell in zip(series.node_names, series.node_layer, series.node_shell):
        node = ET.SubElement(graph, "node", {"id": name})
        for key, value in (("layer", layer), ("shell", shell)):
            ET.SubElement(node, "data", {"key": key}).text = str(value)
    cols = list(edge_keys)
    for i, row in enumerate(frame[["a", "b"] + cols].itertuples(index=False, name=None)):
        edge = ET.SubElement(graph, "edge", {"id": f"e{i}", "source": row[0], "target": row[1]})
        for key, value in zip(cols, row[2:]):
            text = _graphml_value(value)
            if text is not None:
                ET.SubElement(edge, "data", {"key": key}).text = text
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return Path(path)


class RoutesWriter:
    """Appends route chunks (DataFrames from ``stream_pair_routes``) to one Parquet or CSV file.

    The file is written under ``<name>.part`` and renamed by :meth:`close`;
    :meth:`abort` removes it, so an interrupted run leaves no partial table.
    Parquet columns: t_s float64, src/dst/path dictionary-encoded strings,
    rtt_ms float64, hops int16.
    """

    def __init__(self, path: str | Path, fmt: str):
        if fmt not in ROUTE_FORMATS:
            raise ValueError(f"format {fmt!r}; accepted: {', '.join(ROUTE_FORMATS)}")
        self.path, self.fmt = Path(path), fmt
        self.part = self.path.with_name(self.path.name + ".part")
        self.rows = 0
        self._writer = None
        self._file = None

    def write(self, frame) -> None:
        if self.fmt == "csv":
            if self._file is None:
                self._file = open(self.part, "w", newline="")
            frame.to_csv(self._file, index=False, header=self.rows == 0)
        else:
            import pyarrow.parquet as pq

            table = _routes_table(frame)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.part, table.schema)
            self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> Path:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        if self._writer is None and self._file is None:   # no chunk at all: an empty table
            import pandas as pd

            self.write(pd.DataFrame({c: [] for c in ("t_s", "src", "dst", "rtt_ms", "hops", "path")}))
            return self.close()
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        for handle in (self._writer, self._file):
            if handle is not None:
                handle.close()
        self.part.unlink(missing_ok=True)


def _routes_table(frame):
    """An Arrow table with a fixed schema (int32 dictionary indices) whatever the chunk's categories."""
    import pandas as pd
    import pyarrow as pa

    def dictionary(col):
        cat = pd.Categorical(col)
        codes = cat.codes.astype(np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0),
                                              pa.array(list(map(str, cat.categories)), pa.string()))

    return pa.table({
        "t_s": pa.array(frame["t_s"].to_numpy(np.float64)),
        "src": dictionary(frame["src"]),
        "dst": dictionary(frame["dst"]),
        "rtt_ms": pa.array(frame["rtt_ms"].to_numpy(np.float64)),
        "hops": pa.array(frame["hops"].to_numpy(np.int16)),
        "path": dictionary(frame["path"]),
    })


def write_route_csv(path: str | Path, series: LinkSeries, route) -> Path:
    """One pair's route (:class:`topologies.routing.PathSeries`) as CSV, floats at full precision.

    Columns: t_s, utc, rtt_ms (empty when unreachable), hops (-1 then),
    path_changed (1 at a step whose path differs from the previous step's),
    path (node names joined by spaces).
    """
    changes = set(route.change_steps().tolist())
    t_s = step_times_s(series)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "utc", "rtt_ms", "hops", "path_changed", "path"])
        for k in range(series.n_steps):
            rtt = route.rtt_ms[k]
            w.writerow([repr(float(t_s[k])), series.axis.utc(k).isoformat(),
                        "" if np.isnan(rtt) else repr(float(rtt)), route.hops[k], int(k in changes),
                        " ".join(route.path_names(k))])
    return Path(path)


def route_frame(series: LinkSeries, route):
    """One pair's route (:class:`topologies.routing.PathSeries`) as a pandas DataFrame, one row per step.

    Columns: ``t_s``, ``rtt_ms`` (NaN unreachable), ``hops`` (-1 then),
    ``path_changed`` (bool), ``path`` (node names joined by spaces, None
    when unreachable) -- the columns of ``sgemu route``'s CSV.
    """
    import pandas as pd

    changed = np.zeros(series.n_steps, dtype=bool)
    changed[route.change_steps()] = True
    return pd.DataFrame({
        "t_s": step_times_s(series),
        "rtt_ms": np.asarray(route.rtt_ms, dtype=np.float64),
        "hops": np.asarray(route.hops, dtype=np.int16),
        "path_changed": changed,
        "path": [" ".join(route.path_names(k)) or None for k in range(series.n_steps)],
    })
