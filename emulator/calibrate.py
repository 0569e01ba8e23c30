"""How late netem releases packets on this machine, so the emulator can hold them back less.

netem holds each packet until its send time and then relies on a kernel
timer to release it.  On bare metal the timer fires within some
microseconds; in a software-emulated VM (QEMU without KVM, as in this
project's test lane) timers fire 0.3-0.9 ms late, so every netem hop adds
that much to the configured delay and a 5-hop path measures several ms
over the model.

:func:`netem_overshoot_ms` measures it directly: two scratch namespaces
(``sgemu-cal<id>-a`` / ``-b``) joined by a veth pair, ping RTT with netem
at zero delay (the stack's own cost: no timer is armed) and at a
configured delay on both ends; the overshoot per netem traversal is::

    (median RTT at delay D - median RTT at zero delay - 2 D) / 2

The emulator then configures each netem delay that much shorter
(``EmulatedNetwork(delay_offset_ms=...)``), never below zero, and reports
the offset in the run summary.  The prediction is untouched: what is
compensated is the platform, not the model.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess

import numpy as np

_RTT = re.compile(r"time=([\d.]+) ms")


def _ping(ns: str, dst: str, count: int, interval_s: float) -> np.ndarray:
    out = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", str(count), "-i", str(interval_s),
                          "-W", "2", dst], capture_output=True, text=True, timeout=60 + count * 3).stdout
    return np.array([float(x) for x in _RTT.findall(out)])


def netem_overshoot_ms(delay_ms: float = 10.0, count: int = 20, interval_s: float = 0.05) -> float:
    """Median extra delay (ms) netem adds per traversal beyond its configured delay, >= 0.

    Needs root and netem.  The scratch namespaces are removed on success
    and on error.
    """
    from pyroute2 import NetNS, netns

    from .netem import NetemShaper

    tag = f"sgemu-cal{os.getpid() % 100000}{secrets.token_hex(2)}"
    a, b = f"{tag}-a", f"{tag}-b"
    made = []
    try:
        for name in (a, b):
            netns.create(name)
            made.append(name)
        with NetNS(a) as ia, NetNS(b) as ib:
            ia.link("add", ifname="cal0", kind="veth", peer={"ifname": "cal0", "net_ns_fd": b})
            ends = []
            for ipr, ip in ((ia, "10.255.0.0"), (ib, "10.255.0.1")):
                index = ipr.link_lookup(ifname="cal0")[0]
                ipr.addr("add", index=index, address=ip, prefixlen=31)
                ipr.link("set", index=index, state="up")
                shaper = NetemShaper(ipr)
                shaper.add(index, delay_ms=0.0)
                ends.append((shaper, index))
            _ping(a, "10.255.0.1", 3, 0.05)  # neighbour discovery, caches
            base = _ping(a, "10.255.0.1", count, interval_s)
            for shaper, index in ends:
                shaper.set_delay(index, delay_ms)
            shaped = _ping(a, "10.255.0.1", count, interval_s + 2 * delay_ms / 1000)
        if base.size < count // 2 or shaped.size < count // 2:
            raise RuntimeError(f"calibration pings went unanswered ({base.size}, {shaped.size} of {count})")
        return max(0.0, (float(np.median(shaped)) - float(np.median(base)) - 2 * delay_ms) / 2)
    finally:
        for name in made:
            try:
                netns.remove(name)
            except OSError:
                pass
