"""Soak: the default scenario at 1x for an hour without shaping; lateness and memory over time, nothing left.

    python -m benchmarks.soak [--duration 3600] [--sample 60] [--out DIR]     (root; `make soak`)

Runs :class:`sgemu.Emulation` in this process (routing static, no delay
shaping, so it runs on any kernel) with a ping Beijing -> Kashi, the
scenario stretched to ``--duration`` seconds.  Every applied step reports
its lateness (how long after its due time it was applied) and apply time
through ``Emulation.subscribe``; a thread samples memory every ``--sample``
seconds: this process's resident set, the resident sets of the run's node
processes (shells, ping; found by the run tag in their environment) and
the machine's available memory.  At the end it prints one row per sample
window, the growth of each memory figure from the first window to the
last, and checks that the run left nothing (namespaces, owner file,
processes).  Rows also go to ``soak.csv`` in the run directory.  Asserts
nothing: the figures are for reading (a leak shows as steady growth).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import secrets
import threading
import time
from pathlib import Path

import numpy as np


def rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries ``SGEMU_RUN_TAG=<tag>`` (every child of the run)."""
    needle = f"SGEMU_RUN_TAG={tag}\0".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read() + b"\0":
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def available_mb() -> float:
    from sgemu.limits import available_bytes

    return available_bytes() / 1e6


class Sampler:
    """Step events in, one row per sample window out (lateness and memory)."""

    def __init__(self, tag: str, sample_s: float):
        self.tag, self.sample_s = tag, sample_s
        self.late, self.apply = [], []
        self.rows: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def on_event(self, event: dict) -> None:
        if event.get("type") == "step":
            with self.lock:
                self.late.append(float(event.get("late_ms") or 0.0))
                self.apply.append(float(event.get("apply_ms") or 0.0))

    def loop(self) -> None:
        while not self.stop.wait(self.sample_s):
            self.sample()

    def sample(self) -> None:
        with self.lock:
            late, apply_ = self.late, self.apply
            self.late, self.apply = [], []
        pids = tagged_pids(self.tag)
        self.rows.append({
            "t_s": round(time.monotonic() - self.t0, 1), "steps": len(late),
            "late_ms_mean": float(np.mean(late)) if late else None,
            "late_ms_p99": float(np.percentile(late, 99)) if late else None,
            "late_ms_max": float(np.max(late)) if late else None,
            "apply_ms_mean": float(np.mean(apply_)) if apply_ else None,
            "sgemu_rss_mb": rss_mb(), "node_procs": len(pids),
            "node_rss_mb": sum(rss_mb(p) for p in pids), "available_mb": available_mb(),
        })


def leftovers(tag: str) -> dict:
    from emulator.namespaces import our_namespaces

    found = {"namespaces": [n for n in our_namespaces() if n.startswith(f"sgemu-{tag}-")],
             "owner file": [p for p in [f"/run/sgemu/{tag}"] if os.path.exists(p)],
             "processes": tagged_pids(tag)}
    return {k: v for k, v in found.items() if v}


def print_rows(rows: list[dict]) -> None:
    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    print(f"{'t s':>7} {'steps':>5} {'late ms mean':>12} {'p99':>7} {'max':>7} {'apply ms':>8} "
          f"{'sgemu MB':>8} {'nodes MB':>8} {'procs':>5} {'avail MB':>9}")
    for r in rows:
        print(f"{r['t_s']:>7.0f} {r['steps']:>5} {f(r['late_ms_mean'], 2):>12} {f(r['late_ms_p99']):>7} "
              f"{f(r['late_ms_max']):>7} {f(r['apply_ms_mean'], 2):>8} {r['sgemu_rss_mb']:>8.1f} "
              f"{r['node_rss_mb']:>8.1f} {r['node_procs']:>5} {r['available_mb']:>9.0f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3600.0, help="scenario seconds to run at 1x (default 3600)")
    p.add_argument("--sample", type=float, default=60.0, help="seconds per sample window (default 60)")
    p.add_argument("--out", default=None, help="run directory (default: runs/soak-<tag>)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("soak: needs root (it builds the live network)")
        return 3
    import sgemu
    from experiments.spec import Ping

    tag = "soak" + secrets.token_hex(3)
    os.environ["SGEMU_RUN_TAG"] = tag  # inherited by every node process: how they are found and counted
    out = Path(args.out or f"runs/soak-{tag}")
    scen = sgemu.Scenario.load(None, duration_s=args.duration, step_s=1)
    sampler = Sampler(tag, args.sample)
    print(f"soak: default scenario, {args.duration:g} s at 1x, no shaping, routing static, run tag {tag}; "
          f"{platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}")
    t0 = time.monotonic()
    interrupted = False
    try:
        with sgemu.Emulation(scen, shaping="none", routing="static", out=out, run_tag=tag, quiet=True) as emu:
            build_s = time.monotonic() - t0
            emu.subscribe(sampler.on_event)
            thread = threading.Thread(target=sampler.loop, daemon=True)
            sampler.t0 = time.monotonic()
            thread.start()
            result = emu.run(experiments=[Ping("Beijing", "Kashi", interval_s=1.0)], speed=1.0)
            sampler.stop.set()
            thread.join()
            sampler.sample()
    except KeyboardInterrupt:
        interrupted = True
        sampler.stop.set()
        result = None
    print(f"build {build_s:.1f} s; run directory {out}" + (" (interrupted)" if interrupted else ""))
    rows = [r for r in sampler.rows if r["steps"]]
    print_rows(rows)
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"growth first -> last window: sgemu RSS {b['sgemu_rss_mb'] - a['sgemu_rss_mb']:+.1f} MB, "
              f"node processes {b['node_rss_mb'] - a['node_rss_mb']:+.1f} MB, "
              f"available {b['available_mb'] - a['available_mb']:+.0f} MB (others share this machine)")
    if result is not None:
        c = result.summary.get("clock", {})
        print(f"run summary: lateness max {c.get('late_ms_max', 0):.1f} ms, steps behind {c.get('steps_behind')}, "
              f"pings {sum(p.get('sent', 0) for p in result.summary.get('pairs', {}).values())}")
    out.mkdir(parents=True, exist_ok=True)
    if rows:
        with open(out / "soak.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    time.sleep(1.0)
    left = leftovers(tag)
    print("left behind: nothing" if not left else f"LEFT BEHIND: {left}")
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
