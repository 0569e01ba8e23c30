"""Connecting this process to a Ray cluster without letting Ray take over its signals.

``ray.init`` installs a SIGTERM handler that calls ``sys.exit``.  Every
child this process forks later inherits it -- pyroute2 forks one per
namespace socket and stops it with SIGTERM -- and such a child would then
unwind into its parent's code (a test's teardown, a run's cleanup) instead
of exiting.  sgemu's own handlers (:class:`experiments.run.StopSignals`)
already stop runs at safe points, so the caller's handlers are put back.
"""

from __future__ import annotations

import signal


def ray_init(address: str, **kwargs) -> None:
    """``ray.init(address, ...)`` keeping this process's SIGINT and SIGTERM handlers."""
    import ray

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(address=address, **kwargs)
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
