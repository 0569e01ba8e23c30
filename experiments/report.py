"""Run reports: one self-contained HTML page from a run directory.

A run directory is whatever an sgemu command wrote: ``sgemu links``
(scenario.yaml, links.npz, events.csv, summary.json), ``sgemu route``
(route-SRC-DST.csv/.json as well), ``sgemu coverage`` (coverage.json and
maps), the plot commands (sky plots, ground tracks, snapshots and their
animation) or a live emulation run (steps.csv, results.csv with measured
and predicted RTT, raw/ with iperf3 JSON, plots).  :func:`build_report`
looks for each file and adds the section it feeds when -- and only when --
the file is there, the headline first:

========================  ==================================================
file                      section
========================  ==================================================
coverage.json, maps       Coverage: the map of the largest group, the table, the other maps
scenario.yaml             Scenario: time window, constellations, stations, rules
results.csv, rtt.png      Measured vs predicted RTT, per pair
snapshot.webp / .gif      Network animation
summary.json, links.npz   Topology: links per kind, delays, links up over time; a run's summary
events.csv                Events: link up/down counts, ground handovers
route-*.csv / .json       Predicted route: RTT, hops, path changes
changes.csv               Convergence per change: routes right after, routes changed, pings lost
raw/**/*.json (iperf3)    Throughput
steps.csv                 Step log
other *.png, plots/*.png  Figures, titled by what they show (``Sky over Beijing (bds3)``)
========================  ==================================================

The page has no external reference at all: styles are inline and every
image is a ``data:`` URI, so the file can be mailed, archived or opened
offline; it names the run directory, never its absolute path.  A file
that cannot be read gives a short note in its section instead of stopping
the report; a directory with none of these files is refused
(:class:`NothingToReport`).  :func:`page` is the page itself, also used for
a scenario's overview (:mod:`experiments.overview`).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from matplotlib.ticker import MaxNLocator

from .figures import KIND_COLORS, PATH_COLOR, duration_text, png_bytes, plt

#: Most rows shown in an event or path-change table.
TABLE_ROWS = 40
#: PNG files larger than this are linked by name, not embedded.
MAX_EMBED_BYTES = 8_000_000


@dataclass
class Section:
    """One part of the report: a heading and its HTML body."""

    title: str
    body: str
    anchor: str = ""


# --------------------------------------------------------------------------- page
_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:8px 32px;background:#e9eef3;font-size:13px} nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 32px 40px;max-width:1180px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:10px 20px 16px;margin:16px 0}
h2{font-size:18px;color:#1f3b57;border-bottom:1px solid #e3e8ee;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d9dee4;padding:3px 8px;text-align:right} th{background:#f0f3f6}
td.l,th.l{text-align:left} img{max-width:100%;height:auto;display:block;margin:8px 0;border:1px solid #eee}
.note{color:#8a5a00;font-size:13px} .muted{color:#777;font-size:12px} code{font-size:12px}
"""


class NothingToReport(ValueError):
    """A directory that holds none of the files an sgemu command writes."""


#: What :func:`build_report` reads (glob patterns relative to the run directory).
REPORT_FILES = ("scenario.yaml", "summary.json", "links.npz", "events.csv", "route-*.csv", "results.csv",
                "changes.csv", "steps.csv", "coverage.json", "raw/**/*.json", "*.png", "plots/*.png", "*.gif",
                "*.webp", "plots/*.gif", "plots/*.webp")


def has_report_files(run_dir: str | Path) -> bool:
    """True when the directory holds at least one file :func:`build_report` reads."""
    run = Path(run_dir)
    return any(next(run.glob(pattern), None) is not None for pattern in REPORT_FILES)


def build_report(run_dir: str | Path, title: str | None = None) -> str:
    """The HTML text of the report for ``run_dir`` (see the module docstring).

    Raises FileNotFoundError for a missing directory and
    :class:`NothingToReport` for one without any file sgemu writes.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"no such run directory: {run}")
    if not has_report_files(run):
        raise NothingToReport(f"{run} holds none of the files sgemu writes (scenario.yaml, links.npz, "
                              "route-*.csv, results.csv, coverage.json, *.png ...): nothing to report")
    sections: list[Section] = []
    for builder in _BUILDERS:
        try:
            found = builder(run)
        except Exception as exc:  # a broken file must not sink the whole report
            found = [Section(builder.__doc__.split(".")[0] if builder.__doc__ else builder.__name__,
                             f'<p class="note">could not read this part: {_e(type(exc).__name__)}: {_e(exc)}</p>')]
        sections += found or []
    name = title or f"sgemu report: {run.resolve().name}"
    return page(name, f"run directory {run.resolve().name}", sections)


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """A self-contained HTML page: header, a contents bar and one box per section."""
    for i, s in enumerate(sections):
        s.anchor = s.anchor or f"s{i}"
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(f'<a href="#{s.anchor}">{_e(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{s.anchor}"><h2>{_e(s.title)}</h2>\n{s.body}\n</section>' for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><p>{_e(subtitle)} — made {made}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n</body></html>\n"
    )


def write_report(run_dir: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``); returns its path."""
    out = Path(out) if out else Path(run_dir) / "report.html"
    out.write_text(build_report(run_dir, title), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- helpers
def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _img(fig, alt: str, dpi: int = 90) -> str:
    data = base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned."""
    def cell(tag, i, v):
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{_e(_fmt(v))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>" if any(header) else f"<table>{body}</table>"


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else (f"{v:,.2f}" if abs(v) < 1e5 else f"{v:,.0f}")
    return str(v)


def when_text(value) -> str:
    """A UTC instant for people: ``2024-07-16 00:05:00 UTC`` (from a datetime or ISO 8601 text)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "–" if value is None else str(value)


def seconds_text(value) -> str:
    """A length of time for people: ``45 s``, ``600 s (10 min)``, ``86400 s (24 h)``, ``0.25 s``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–" if value is None else str(value)
    text = f"{v:,.0f} s" if v == int(v) else f"{v:.3g} s"
    return text if v < 120 else f"{text} ({duration_text(v)})"


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(rows: list[dict], key: str) -> np.ndarray:
    """A CSV column as floats (empty or unreadable -> NaN)."""
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        try:
            out[i] = float(r.get(key, "") or "nan")
        except ValueError:
            pass
    return out


def _g(value) -> str:
    """A number without trailing zeros (``2.0`` -> ``2``); other values as text."""
    return f"{value:g}" if isinstance(value, (int, float)) else _e(value)


def _t(text) -> str:
    """A time offset from CSV text: ``18.0`` -> ``18``, ``2.5`` -> ``2.5``."""
    try:
        return f"{float(text):g}"
    except (TypeError, ValueError):
        return text or "–"


def _fig(w=9.5, h=3.4):
    return plt.subplots(figsize=(w, h), layout="constrained")


# --------------------------------------------------------------------------- sections
def _scenario(run: Path):
    """Scenario."""
    path = run / "scenario.yaml"
    if not path.is_file():
        return None
    return [Section("Scenario", scenario_html(yaml.safe_load(path.read_text()) or {}))]


def scenario_html(raw: dict) -> str:
    """A scenario mapping (as written in YAML) as tables: window, constellations, stations, link rules."""
    dur = raw.get("duration_s")
    step = raw.get("step_s")
    rows = [["name", raw.get("name", "")], ["description", raw.get("description", "")],
            ["start", when_text(raw.get("start"))], ["duration", seconds_text(dur)], ["step", seconds_text(step)],
            ["steps", int(float(dur) // float(step)) + 1 if dur is not None and step else "–"]]
    parts = [_table(["field", "value"], rows, left=2)]
    cons = []
    for c in raw.get("constellations", []) or []:
        if not isinstance(c, dict):
            continue
        if "preset" in c:
            src = f"preset {c['preset']}"
        elif "walker" in c:
            w = c["walker"] or {}
            src = "Walker " + ", ".join(f"{k}={v}" for k, v in w.items())
        else:
            src = f"TLE {c.get('tle')}" + (f" select {c.get('select')}" if c.get("select") else "")
        cons.append([c.get("name", ""), src])
    if cons:
        parts.append("<h3>Constellations</h3>" + _table(["shell", "orbits"], cons, left=2))
    stations = [s if isinstance(s, str) else s.get("name", "?") for s in raw.get("stations", []) or []]
    if stations:
        parts.append(f"<h3>Ground stations ({len(stations)})</h3><p>{_e(', '.join(map(str, stations)))}</p>")
    rules = raw.get("links", []) or []
    if rules:
        items = "".join(f"<li><code>{_e(yaml.safe_dump(r, default_flow_style=True).strip())}</code></li>"
                        for r in rules)
        parts.append(f"<h3>Link rules</h3><ul>{items}</ul>")
    return "\n".join(parts)


def _topology(run: Path):
    """Topology."""
    summary_path, npz = run / "summary.json", run / "links.npz"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    series = None
    if npz.is_file():
        from topologies.series import LinkSeries

        series = LinkSeries.load(npz)
    topo = summary if summary and "kinds" in summary else (series.summary() if series is not None else None)
    parts = []
    if topo:
        parts.append(_table(["", ""], [
            ["nodes", topo.get("nodes")], ["satellites", topo.get("satellites")],
            ["ground stations", topo.get("ground_stations")], ["steps", topo.get("n_steps")],
            ["step", seconds_text(topo.get("step_s"))],
            ["links up per step (mean)", topo.get("links_up_per_step_mean")],
        ], left=1))
        rows = [[k, v.get("distinct_links"), v.get("up_per_step_mean"), v.get("up_per_step_min"),
                 v.get("up_per_step_max"), v.get("delay_ms_min"), v.get("delay_ms_mean"), v.get("delay_ms_max")]
                for k, v in topo.get("kinds", {}).items()]
        parts.append(_table(["kind", "distinct links", "up/step mean", "min", "max", "one-way delay ms min",
                             "mean", "max"], rows))
    if series is not None and series.n_steps > 1:
        parts.append(_links_over_time(series))
    if summary and "kinds" not in summary:
        parts.append("<h3>Run summary</h3>" + run_summary_html(summary, run))
    if not parts:
        return None
    return [Section("Topology" if topo else "Run summary", "\n".join(parts))]


#: Keys of an emulation summary.json shown elsewhere in the report, or meant for programs.
_SUMMARY_SKIP = {"changes", "plot", "pairs", "throughput", "throughput_mbps_mean"}
#: Unit words in summary keys and how a table header writes them.
_UNITS = {"s": "s", "ms": "ms", "pct": "%", "mbps": "Mbit/s", "km": "km", "mb": "MB", "mib": "MiB"}


def readable_key(key: str) -> str:
    """A summary key as a table label: ``late_ms_max`` -> ``late max (ms)``, ``build_s`` -> ``build (s)``."""
    words = key.split("_")
    units = [w for w in words if w in _UNITS]
    rest = [w for w in words if w not in _UNITS] or words
    return " ".join(rest) + (f" ({_UNITS[units[-1]]})" if units else "")


def _summary_value(v, run: Path):
    """A summary value for a table: paths relative to the run (never absolute), lists shortened."""
    if isinstance(v, str) and v.startswith("/"):
        path = Path(v)
        try:
            return str(path.relative_to(run.resolve()))
        except ValueError:
            return path.name
    if isinstance(v, list):
        return ", ".join(map(str, v[:12])) + (" …" if len(v) > 12 else "") if v else "none"
    if isinstance(v, float) and v == int(v) and abs(v) < 1e9:
        return int(v)
    return v


def _summary_rows(d: dict, run: Path, prefix: str = "") -> list[list]:
    rows = []
    for k, v in d.items():
        if k in _SUMMARY_SKIP and not prefix:
            continue
        label = f"{prefix}{readable_key(k)}"
        if isinstance(v, dict):
            rows += _summary_rows(v, run, f"{label}: ")
        else:
            rows.append([label, _summary_value(v, run)])
    return rows


def run_summary_html(summary: dict, run: Path) -> str:
    """An emulation's summary.json as two readable tables: the run, and per ping pair."""
    parts = [_table(["", ""], _summary_rows(summary, run), left=2)]
    pairs = summary.get("pairs") or {}
    if isinstance(pairs, dict) and pairs:
        cols = ["sent", "received", "loss_pct", "measured_ms_mean", "predicted_ms_mean", "path_changes",
                "path_agree_pct"]
        rows = [[pair.replace("->", " → ")] + [_summary_value(v.get(c), run) for c in cols]
                for pair, v in pairs.items() if isinstance(v, dict)]
        parts.append(_table(["ping pair"] + [readable_key(c) for c in cols], rows))
    return "\n".join(parts)


def _links_over_time(series) -> str:
    from topologies.rules import KINDS

    steps = np.repeat(np.arange(series.n_steps), np.diff(series.indptr))
    kinds = series.link_kind[series.link_id]
    fig, ax = _fig()
    t = series.axis.t_s
    for code, kind in enumerate(KINDS):
        if not (series.link_kind == code).any():
            continue
        counts = np.bincount(steps[kinds == code], minlength=series.n_steps)
        ax.plot(t, counts, color=KIND_COLORS.get(kind), label=kind, linewidth=1.2)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("links up")
    ax.set_title("Links up per step, by kind", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _img(fig, "links up per step")


def _events(run: Path):
    """Events."""
    path = run / "events.csv"
    if not path.is_file():
        return None
    rows = _read_csv(path)
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.get("event", ""), r.get("kind", "") or "–")
        counts[key] = counts.get(key, 0) + 1
    parts = [f"<p>{len(rows)} events.</p>"]
    if counts:
        parts.append(_table(["event", "link kind", "count"], [[e, k, n] for (e, k), n in sorted(counts.items())],
                            left=2))
    hand = [r for r in rows if r.get("event") == "handover"]
    if hand:
        stations = sorted({r.get("station", "") for r in hand})
        fig, ax = _fig(9.5, 0.6 + 0.32 * len(stations))
        y = {s: i for i, s in enumerate(stations)}
        ax.scatter(_num(hand, "t_s"), [y[r.get("station", "")] for r in hand], marker="|", s=120,
                   color=PATH_COLOR)
        ax.set_yticks(range(len(stations)), stations, fontsize=8)
        ax.set_xlabel("time since start (s)")
        ax.set_title(f"Ground handovers ({len(hand)})", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        parts.append(_img(fig, "ground handovers over time"))
        shown = [[_t(r.get("t_s")), r.get("station"), r.get("from"), r.get("to")] for r in hand[:TABLE_ROWS]]
        more = f'<p class="muted">first {TABLE_ROWS} of {len(hand)}</p>' if len(hand) > TABLE_ROWS else ""
        parts.append("<h3>Handovers</h3>" + _table(["t (s)", "station", "from", "to"], shown, left=0) + more)
    return [Section("Handovers and link events", "\n".join(parts))]


def _routes(run: Path):
    """Predicted route."""
    out = []
    for path in sorted(run.glob("route-*.csv")):
        rows = _read_csv(path)
        if not rows:
            continue
        pair = path.stem.removeprefix("route-")
        t, rtt, hops = _num(rows, "t_s"), _num(rows, "rtt_ms"), _num(rows, "hops")
        parts = []
        js = path.with_suffix(".json")
        if js.is_file():
            s = json.loads(js.read_text())
            parts.append(_table(["RTT ms min", "mean", "max", "hops min", "max", "path changes", "unreachable s"],
                                [[s.get("rtt_ms_min"), s.get("rtt_ms_mean"), s.get("rtt_ms_max"),
                                  s.get("hops_min"), s.get("hops_max"), s.get("path_changes"),
                                  s.get("unreachable_s")]], left=0))
        fig, ax = _fig()
        ax.plot(t, rtt, color="#1f3b57", linewidth=1.2, label="predicted RTT")
        changed = _num(rows, "path_changed") == 1
        if changed.any():
            ax.plot(t[changed], rtt[changed], "o", color=PATH_COLOR, markersize=4, label="path change")
        ax.set_xlabel("time since start (s)")
        ax.set_ylabel("RTT (ms)")
        ax2 = ax.twinx()
        ax2.step(t, np.where(hops >= 0, hops, np.nan), where="post", color="#999999", linewidth=0.8)
        ax2.set_ylabel("hops", color="#777777")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"Predicted RTT {pair.replace('-', ' → ', 1)}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
        parts.append(_img(fig, f"predicted RTT {pair}"))
        ch = [[_t(r.get("t_s")), r.get("rtt_ms"), r.get("hops"), (r.get("path") or "").replace(" ", " → ")]
              for r in rows if r.get("path_changed") == "1"]
        if ch:
            more = f'<p class="muted">first {TABLE_ROWS} of {len(ch)}</p>' if len(ch) > TABLE_ROWS else ""
            parts.append("<h3>Path changes</h3>" + _table(["t (s)", "RTT ms", "hops", "new path"], ch[:TABLE_ROWS],
                                                           left=0) + more)
        first = next((r.get("path") for r in rows if r.get("path")), None)
        if first:
            parts.append(f'<p class="muted">path at the first reachable step: {_e(first.replace(" ", " → "))}</p>')
        out.append(Section(f"Predicted route {pair.replace('-', ' → ', 1)}", "\n".join(parts)))
    return out


def _measured(run: Path):
    """Measured vs predicted RTT."""
    path = run / "results.csv"
    if not path.is_file():
        return None
    rows = _read_csv(path)
    if not rows:
        return [Section("Measured vs predicted RTT", "<p>results.csv has no rows.</p>")]
    pairs = list(dict.fromkeys((r.get("src", ""), r.get("dst", "")) for r in rows))
    table, parts = [], []
    fig, axes = plt.subplots(len(pairs), 1, figsize=(9.5, 2.6 * len(pairs) + 0.4), layout="constrained",
                             squeeze=False)
    for ax, (src, dst) in zip(axes[:, 0], pairs):
        sel = [r for r in rows if r.get("src", "") == src and r.get("dst", "") == dst]
        t, m, p = _num(sel, "t_s"), _num(sel, "rtt_ms_measured"), _num(sel, "rtt_ms_predicted")
        ok = np.isfinite(m) & np.isfinite(p)
        err = m[ok] - p[ok]
        table.append([f"{src} → {dst}", len(sel), int(np.isfinite(m).sum()),
                      np.nanmean(m) if np.isfinite(m).any() else None,
                      np.nanmean(p) if np.isfinite(p).any() else None,
                      err.mean() if err.size else None, np.abs(err).mean() if err.size else None,
                      np.percentile(np.abs(err), 95) if err.size else None])
        ax.plot(t, p, color="#1f3b57", linewidth=1.2, label="predicted")
        ax.plot(t, m, ".", color=PATH_COLOR, markersize=3.5, label="measured")
        ax.set_ylabel("RTT (ms)")
        ax.set_title(f"{src} → {dst}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("time since start (s)")
    parts.append(_table(["pair", "samples", "answered", "measured mean ms", "predicted mean ms",
                         "mean error ms", "mean |error| ms", "95% |error| ms"], table))
    if (run / "rtt.png").is_file():  # the run's own plot, with the changes marked
        plt.close(fig)
        parts.insert(0, _png_file(run / "rtt.png", "measured and predicted RTT"))
    else:
        parts.append(_img(fig, "measured vs predicted RTT"))
    return [Section("Measured vs predicted RTT", "\n".join(parts))]


def _changes(run: Path):
    """Convergence per change."""
    path = run / "changes.csv"
    if not path.is_file():
        return None
    rows = [r for r in _read_csv(path) if r.get("step") not in ("0", "")]
    if not rows:
        return [Section("Convergence per change", "<p>No topology change during the run.</p>")]
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    routing = summary.get("routing", "?")
    def num(text, kind=float):
        return kind(float(text)) if text not in (None, "") else None

    table = [[num(r["t_s"], int), r["cause"], num(r.get("routes_changed"), int), num(r.get("routes_right_s")),
              r.get("pair") or "", num(r.get("reach_s")), num(r.get("recovery_s")), num(r.get("lost"), int)]
             for r in rows[:TABLE_ROWS]]
    parts = [f"<p>Routing <b>{_e(routing)}</b>: after each change, seconds until every node's routes were right "
             "again (read back from the kernels), the forwarding entries that changed, and per ping pair the "
             "seconds until replies came back and agreed with the prediction, and the requests lost.</p>",
             _table(["t s", "cause", "routes changed", "routes right s", "pair", "reach s", "recovery s", "lost"],
                    table, left=2)]
    if len(rows) > TABLE_ROWS:
        parts.append(f'<p class="muted">first {TABLE_ROWS} of {len(rows)} rows; all in changes.csv</p>')
    t, right = _num(rows, "t_s"), _num(rows, "routes_right_s")
    if np.isfinite(right).any():
        fig, ax = _fig(h=2.6)
        ax.plot(t, right, "o", color=PATH_COLOR, markersize=4)
        ax.set_xlabel("time since start (s)")
        ax.set_ylabel("routes right after (s)")
        ax.set_title(f"route convergence per change (routing {routing})", fontsize=9)
        ax.grid(alpha=0.3)
        parts.append(_img(fig, "route convergence per change"))
    return [Section("Convergence per change", "\n".join(parts))]


def _iperf_files(run: Path) -> list[tuple[Path, dict]]:
    found = []
    raw = run / "raw"
    if not raw.is_dir():
        return found
    for path in sorted(raw.rglob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (ValueError, OSError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and "intervals" in doc and "end" in doc:
            found.append((path, doc))
    return found


def _throughput(run: Path):
    """Throughput."""
    files = _iperf_files(run)
    if not files:
        return None
    rows = []
    fig, ax = _fig()
    for path, doc in files:
        end = doc.get("end", {}) or {}
        proto = ((doc.get("start", {}) or {}).get("test_start", {}) or {}).get("protocol", "")
        recv = end.get("sum_received") or end.get("sum") or {}
        sent = end.get("sum_sent") or {}
        name = str(path.relative_to(run))
        if doc.get("error"):
            rows.append([name, proto, None, None, None, f"error: {doc['error']}"])
            continue
        rows.append([name, proto or ("UDP" if "lost_percent" in recv else "TCP"),
                     recv.get("bits_per_second", np.nan) / 1e6 if recv else None,
                     sent.get("retransmits"), recv.get("lost_percent"), ""])
        t, bps = [], []
        for iv in doc.get("intervals", []):
            s = iv.get("sum", {}) or {}
            if "end" in s and "bits_per_second" in s:
                t.append(s["end"])
                bps.append(s["bits_per_second"] / 1e6)
        if t:
            ax.plot(t, bps, marker=".", linewidth=1.0, label=path.stem)
    ax.set_xlabel("time since the test started (s)")
    ax.set_ylabel("Mbit/s")
    ax.set_title("iperf3 throughput per interval", fontsize=10)
    ax.grid(alpha=0.3)
    if len(files) <= 12:
        ax.legend(fontsize=7)
    body = _table(["test", "protocol", "received Mbit/s", "retransmits", "lost %", "note"], rows)
    return [Section("Throughput", body + _img(fig, "iperf3 throughput"))]


def _steps(run: Path):
    """Step log."""
    path = run / "steps.csv"
    if not path.is_file():
        return None
    rows = _read_csv(path)
    if not rows:
        return [Section("Step log", "<p>steps.csv has no rows.</p>")]
    cols = list(rows[0].keys())
    stats = []
    for c in cols:
        v = _num(rows, c)
        if np.isfinite(v).any():
            stats.append([c, int(np.isfinite(v).sum()), np.nanmin(v), np.nanmean(v), np.nanmax(v)])
    parts = [f"<p>{len(rows)} steps logged; columns: {_e(', '.join(cols))}.</p>"]
    if stats:
        parts.append(_table(["column", "values", "min", "mean", "max"], stats))
    time_col = next((c for c in ("t_s", "step", "k") if c in cols), None)
    plot_cols = [c for c in cols if c != time_col and (c.endswith("_ms") or c.endswith("_s") or
                                                      c.startswith("links") or c.startswith("changes"))]
    plot_cols = [c for c in plot_cols if np.isfinite(_num(rows, c)).any()][:4]
    if time_col and plot_cols:
        fig, ax = _fig()
        x = _num(rows, time_col)
        for c in plot_cols:
            ax.plot(x, _num(rows, c), linewidth=1.0, label=c)
        ax.set_xlabel(time_col)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title("Step log", fontsize=10)
        parts.append(_img(fig, "step log"))
    return [Section("Step log", "\n".join(parts))]


def _coverage(run: Path):
    """Coverage."""
    path = run / "coverage.json"
    if not path.is_file():
        return None
    s = json.loads(path.read_text())
    groups = s.get("groups", {})
    head = (f"<p>{s.get('points')} points ({_g(s.get('grid_deg'))}° grid), {s.get('n_steps')} instants "
            f"{seconds_text(s.get('step_s'))} apart from {_e(when_text(s.get('start')))}, "
            f"mask {_g(s.get('min_elevation_deg'))}°; figures are area-weighted over the globe.</p>")
    rows = [[name, g.get("satellites"), g.get("visible_mean"), g.get("visible_min"), g.get("visible_max"),
             g.get("area_pct_always_1plus"), g.get("area_pct_always_4plus"),
             _pdop_cell(g, "pdop_median"), _pdop_cell(g, "pdop_p95_worst"), _pdop_cell(g, "pct_time_pdop_ok_mean"),
             _pdop_cell(g, "pct_time_fix_mean")]
            for name, g in groups.items()]
    notes = "".join(f'<p class="muted">{_e(name)}: no PDOP, {_e(g["fix_note"])}</p>'
                    for name, g in groups.items() if g.get("fix_note"))
    table = _table(["group", "satellites", "visible mean", "min", "max", "area % always ≥1", "area % always ≥4",
                    "PDOP median", "PDOP 95 % (worst place)", f"% time PDOP ≤ {s.get('pdop_limit', 2):g}",
                    f"% time PDOP ≤ {s.get('usable_pdop', 6):g}"], rows) + notes
    maps = [(name, run / f"coverage-{_safe_name(name)}.png") for name in coverage_order(groups)]
    maps = [(name, p) for name, p in maps if p.is_file()]
    parts = [head]
    if maps:
        parts.append(_png_file(maps[0][1], f"coverage of {maps[0][0]}"))
    parts.append(table)
    parts += [f"<h3>{_e(name)}</h3>" + _png_file(p, f"coverage of {name}") for name, p in maps[1:]]
    return [Section("Coverage", "\n".join(parts), "coverage")]


def coverage_order(groups: dict) -> list[str]:
    """Coverage groups headline first: most satellites first (combined, then shells, then layers)."""
    names = list(groups)
    return sorted(names, key=lambda n: (-int(groups[n].get("satellites", 0)), names.index(n)))


def _safe_name(name: str) -> str:
    """A group name as ``sgemu coverage`` writes it in file names."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "group"


def _pdop_cell(g: dict, key: str):
    """A PDOP figure of a coverage group: '–' without a fix alone, 'no fix' where it is infinite."""
    if not g.get("fix_alone"):
        return None
    return "no fix" if g.get(key) is None else g.get(key)


def _png_file(path: Path, alt: str) -> str:
    """An image file embedded as a data URI (PNG, GIF or WebP), or a note when it is too large."""
    size = path.stat().st_size
    if size > MAX_EMBED_BYTES:
        return f'<p class="muted">{_e(path.name)}: {size / 1e6:.1f} MB, not embedded</p>'
    kind = {".png": "png", ".gif": "gif", ".webp": "webp"}[path.suffix.lower()]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/{kind};base64,{data}">'


def figure_title(path: Path) -> str:
    """What a figure file shows, from the name sgemu gives it (``skyplot-Beijing-bds3.png`` ->
    ``Sky over Beijing (bds3)``)."""
    import re

    stem = path.stem
    m = re.fullmatch(r"snapshot-(\d{8}T\d{6})", stem)
    if m:
        return "Network at " + when_text(dt.datetime.strptime(m[1], "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc))
    for prefix, words in (("coverage-", "Coverage of {}"), ("groundtrack-", "Ground tracks: {}")):
        if stem.startswith(prefix):
            return words.format(stem[len(prefix):])
    if stem.startswith("skyplot-"):
        station, _, layer = stem[len("skyplot-"):].partition("-")
        return f"Sky over {station}" + (f" ({layer})" if layer else "")
    named = {"rtt": "Measured and predicted RTT", "snapshot": "Network animation"}
    return named.get(stem, stem.replace("_", " ").replace("-", " ").capitalize())


def _figure_rank(path: Path) -> tuple:
    order = ("coverage-", "rtt", "snapshot-", "skyplot-", "groundtrack-")
    rank = next((i for i, p in enumerate(order) if path.stem.startswith(p)), len(order))
    return rank, str(path)


def _figures(run: Path):
    """Figures."""
    pngs = sorted(run.glob("*.png")) + sorted((run / "plots").glob("*.png"))
    shown_elsewhere = set()
    if (run / "coverage.json").is_file():
        shown_elsewhere |= set(run.glob("coverage-*.png"))
    if (run / "results.csv").is_file():
        shown_elsewhere.add(run / "rtt.png")
    pngs = sorted((p for p in pngs if p not in shown_elsewhere), key=_figure_rank)
    if not pngs:
        return None
    parts = [f"<h3>{_e(figure_title(p))}</h3>" + _png_file(p, figure_title(p)) for p in pngs]
    return [Section("Figures", "\n".join(parts))]


def _animation(run: Path):
    """Network animation."""
    found = {}
    for folder in (run, run / "plots"):
        for p in sorted(folder.glob("*.webp")) + sorted(folder.glob("*.gif")):
            found.setdefault(p.stem, p)  # the WebP (full colour) when both were written
    if not found:
        return None
    parts = [(f"<h3>{_e(figure_title(p))}</h3>" if len(found) > 1 else "") + _png_file(p, figure_title(p))
             for p in found.values()]
    return [Section("Network animation", "<p>Satellites, links up by kind and the highlighted route, "
                    "step by step (the picture plays by itself).</p>" + "\n".join(parts))]


def _raw(run: Path):
    """Raw outputs."""
    raw = run / "raw"
    if not raw.is_dir():
        return None
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    if not files:
        return None
    rows = [[str(p.relative_to(run)), p.stat().st_size] for p in files[:200]]
    more = f'<p class="muted">first 200 of {len(files)}</p>' if len(files) > 200 else ""
    return [Section("Raw outputs", _table(["file", "bytes"], rows) + more)]


#: Public names of the page pieces other pages (:mod:`experiments.overview`) are built from.
image_tag, file_image_tag, html_table = _img, _png_file, _table

_BUILDERS = (_coverage, _scenario, _measured, _animation, _topology, _events, _routes, _changes, _throughput,
             _steps, _figures, _raw)
