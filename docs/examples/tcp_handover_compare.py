"""TCP congestion controls across LEO handovers and a rain fade: cubic against bbr.

    .venv/bin/python docs/examples/tcp_handover_compare.py prepare out/tcp-handover
    python -m emulator.lane -- .venv/bin/python docs/examples/tcp_handover_compare.py run out/tcp-handover
    .venv/bin/python docs/examples/tcp_handover_compare.py plot out/tcp-handover docs/images/tcp-cubic-bbr.png

``prepare`` computes the link series of docs/examples/tcp-handover.yaml
(orbits, scheduled handovers, link budget with the rain fade) and keeps
only the nodes that the Beijing -> Gateway shortest path ever uses (a
subgraph holding every step's shortest path keeps it shortest; the
software-emulated VM could not build the whole shell in reasonable time):
``series.npz`` plus ``series.json`` (predicted RTT, the Beijing ground
link's capacity per step, handover times).  ``run`` (root, a kernel with
sch_netem: the VM lane on hosts without it) emulates that series once per
congestion control, each from t = 0 with one iperf3 TCP flow Beijing ->
Gateway, writing ``<cc>.json`` (iperf3's).  ``plot`` draws throughput,
RTT and retransmits per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "docs/examples/tcp-handover.yaml"
SRC, DST = "Beijing", "Gateway"


def restrict(series, keep_nodes):
    """The series on a subset of its nodes (links with both ends kept), nodes renumbered in order."""
    nodes = np.array(sorted(set(keep_nodes)))
    new_of = np.full(series.n_nodes, -1)
    new_of[nodes] = np.arange(nodes.size)
    link_ok = (new_of[series.link_a] >= 0) & (new_of[series.link_b] >= 0)
    new_link = np.full(series.n_links, -1)
    new_link[link_ok] = np.arange(int(link_ok.sum()))
    sub = series.keep_entries(link_ok[series.link_id])
    pick = lambda names: [names[i] for i in nodes]  # noqa: E731
    return replace(sub, node_names=pick(series.node_names), node_layer=pick(series.node_layer),
                   node_shell=pick(series.node_shell), link_a=new_of[series.link_a[link_ok]].astype(np.int32),
                   link_b=new_of[series.link_b[link_ok]].astype(np.int32), link_kind=series.link_kind[link_ok],
                   ms_per_km=series.ms_per_km[link_ok], capacity_mbps=series.capacity_mbps[link_ok],
                   loss_pct=series.loss_pct[link_ok], link_id=new_link[sub.link_id].astype(np.int32))


def predicted(series) -> dict:
    """Per step: predicted RTT, Beijing's ground-link capacity and loss; handover and fade steps."""
    from topologies.routing import route_pair

    p = route_pair(series, series.index(SRC), series.index(DST))
    b = series.index(SRC)
    cap, loss = [], []
    for k in range(series.n_steps):
        ids, _ = series.active(k)
        mine = [(c, l) for i, c, l in zip(ids, series.capacity_at(k), series.loss_at(k))
                if b in (series.link_a[i], series.link_b[i])]
        cap.append(float(mine[0][0]) if mine else None)
        loss.append(float(mine[0][1]) if mine else None)
    handovers = [e["t_s"] for e in series.events() if e["event"] == "handover"]
    return {"t_s": series.axis.t_s.tolist(), "rtt_ms": [None if np.isnan(r) else float(r) for r in p.rtt_ms],
            "capacity_mbps": cap, "loss_pct": loss, "handover_t_s": handovers,
            "path_nodes": sorted({n for k in range(series.n_steps) for n in p.path_names(k)})}


def run_one(series, congestion: str, out: Path, duration_s: int) -> None:
    from emulator.network import EmulatedNetwork

    with EmulatedNetwork(series, shaping=True, queue_limit_pkts=200) as net:
        net.start(0)
        server = net.host(DST).popen(["iperf3", "-s", "-1", "-B", net.address(DST)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        with open(out / f"{congestion}.json", "w") as f:
            client = net.host(SRC).popen(["iperf3", "-c", net.address(DST), "-B", net.address(SRC), "-J",
                                          "-t", str(duration_s), "-C", congestion, "--connect-timeout", "10000"],
                                         stdout=f, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        late = 0.0
        for k in range(1, series.n_steps):
            wait = t0 + series.axis.t_s[k] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            late = max(late, -wait)
            net.apply_step(k)
            if client.poll() is not None:
                break
        client.wait(timeout=60)
        server.wait(timeout=30)
        print(f"{congestion}: done, worst step lateness {late * 1000:.0f} ms", flush=True)


def cmd_prepare(args) -> int:
    import sgemu
    from topologies.routing import route_pair

    scen = sgemu.Scenario.load(args.scenario)
    series = scen.series
    p = route_pair(series, series.index(SRC), series.index(DST))
    nodes = {series.index(n) for k in range(series.n_steps) for n in p.path_names(k)}
    sub = restrict(series, nodes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sub.save(out / "series.npz")
    info = predicted(sub)
    info["nodes_built"] = sub.n_nodes
    (out / "series.json").write_text(json.dumps(info))
    print(f"{sub.n_nodes} of {series.n_nodes} nodes carry the path; handovers at {info['handover_t_s']} s")
    return 0


def cmd_run(args) -> int:
    from experiments.spec import available_congestion
    from topologies.series import LinkSeries

    have = available_congestion()
    print(f"congestion controls available in this kernel: {', '.join(sorted(have))}", flush=True)
    out = Path(args.out)
    series = LinkSeries.load(out / "series.npz")
    info = json.loads((out / "series.json").read_text())
    info["available_congestion"] = sorted(have)
    (out / "series.json").write_text(json.dumps(info))
    for cc in args.congestion:
        if cc not in have:
            print(f"{cc}: not available here, skipped", flush=True)
            continue
        run_one(series, cc, out, int(series.axis.duration_s) - 3)
    return 0


def cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    info = json.loads((out / "series.json").read_text())
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    t = np.array(info["t_s"])
    cap = np.array([np.nan if c is None else c for c in info["capacity_mbps"]])
    axes[0].step(t, cap * 0.96, where="post", color="0.4", lw=1.2, ls="--", label="link capacity x 0.96 (goodput)")
    axes[1].step(t, [np.nan if r is None else r for r in info["rtt_ms"]], where="post", color="0.4", lw=1.2,
                 ls="--", label="predicted RTT (path)")
    colours = {"cubic": "tab:blue", "bbr": "tab:orange", "reno": "tab:green"}
    for cc, colour in colours.items():
        path = out / f"{cc}.json"
        if not path.exists():
            continue
        from experiments.results import iperf3_intervals

        ivs = iperf3_intervals(path)
        mid = [1.0 + (iv["start_s"] + iv["end_s"]) / 2 for iv in ivs]  # iperf3 started 1 s into the run
        sent = np.array([iv["mbps"] for iv in ivs])  # sender side: bursty when the socket buffer is full
        mean5 = np.convolve(sent, np.ones(5) / 5, mode="same")
        axes[0].plot(mid[2:-2], mean5[2:-2], color=colour, lw=1.4, label=f"{cc} (sent, 5 s mean)")
        axes[1].plot(mid, [iv["rtt_ms"] for iv in ivs], color=colour, lw=1.4, label=f"{cc} (sender srtt)")
        axes[2].bar(np.array(mid) + (0.2 if cc == "bbr" else -0.2), [iv["retransmits"] for iv in ivs],
                    width=0.4, color=colour, label=cc)
    for ax in axes:
        for h in info["handover_t_s"]:
            ax.axvline(h, color="tab:red", lw=0.8, ls=":", zorder=0)
        ax.axvspan(60, 90, color="tab:cyan", alpha=0.12, zorder=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7)
    axes[0].set_ylabel("throughput (Mbit/s)")
    axes[1].set_ylabel("RTT (ms)")
    axes[2].set_ylabel("retransmits / s")
    axes[2].set_xlabel("scenario time (s); red dotted: handovers, shaded: 60 mm/h rain on Beijing")
    axes[0].set_title("iperf3 TCP Beijing -> Gateway, LEO 15 s scheduled handovers and a rain fade "
                      f"(netem, {info.get('where', 'VM lane')})", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare")
    pr.add_argument("out")
    pr.add_argument("--scenario", default=str(SCENARIO))
    r = sub.add_parser("run")
    r.add_argument("out")
    r.add_argument("--congestion", nargs="+", default=["cubic", "bbr"])
    p = sub.add_parser("plot")
    p.add_argument("out")
    p.add_argument("png")
    args = ap.parse_args(argv)
    return {"prepare": cmd_prepare, "run": cmd_run, "plot": cmd_plot}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
