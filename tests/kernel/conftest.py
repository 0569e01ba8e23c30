"""The kernel lane: tests that shape real interfaces with netem.

They need root (namespaces, tc) and a kernel with ``sch_netem``.  Anywhere
else they skip, and the reason is printed at the end of the run.  On a host
without netem, run them in a throwaway VM instead::

    .venv/bin/python -m emulator.vm -- .venv/bin/python -m pytest -m kernel tests/kernel

Namespaces made here are named ``sgemu-t<pid>-<random>-<label>`` and are
removed at teardown, also when the test fails.
"""

from __future__ import annotations

import functools
import os
import platform
import secrets

import pytest

from emulator import kernel

_skipped: list[str] = []


@functools.lru_cache(maxsize=1)
def netem_skip_reason() -> str | None:
    """Why kernel tests cannot run here, or None when they can."""
    if not kernel.is_root():
        return "needs root for network namespaces and tc"
    kernel.modprobe_netem()
    if not kernel.netem_available():
        return (f"kernel {platform.release()} cannot add a netem qdisc (no sch_netem); "
                "run them in a VM: python -m emulator.vm -- python -m pytest -m kernel tests/kernel")
    return None


@pytest.fixture(autouse=True)
def _needs_netem(request):
    if request.node.get_closest_marker("kernel") is None:
        return
    reason = netem_skip_reason()
    if reason is not None:
        _skipped.append(request.node.nodeid)
        pytest.skip(reason)


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(
            f"kernel tests skipped ({len(_skipped)}): {netem_skip_reason()}", yellow=True)


@pytest.fixture
def netns_factory():
    """``make(label) -> (name, IPRoute bound to it)``; every namespace is removed afterwards."""
    from pyroute2 import IPRoute, netns

    token = f"{os.getpid()}-{secrets.token_hex(2)}"
    made: list[tuple[str, object]] = []

    def make(label: str):
        name = f"sgemu-t{token}-{label}"
        ipr = IPRoute(netns=name)  # creates the namespace
        made.append((name, ipr))
        return name, ipr

    try:
        yield make
    finally:
        for name, ipr in made:
            ipr.close()
            try:
                netns.remove(name)
            except FileNotFoundError:
                pass
