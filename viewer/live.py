"""Live mode: a running emulation publishes its steps and measured pings to the viewer.

:class:`LiveViewer` serves the run's scene (the link series the emulation
follows) and forwards each event the emulation emits -- ``step``
(``k``, ``t_s``, ``late_ms``, ``apply_ms``), ``ping`` (``src``, ``dst``,
``t_s``, ``rtt_ms``, ``predicted_rtt_ms``) and ``end`` -- to every page
over the WebSocket.  :meth:`LiveViewer.publish` is safe to call from the
emulation's thread and never blocks it: the event is queued on the
server's own event loop.
"""

from __future__ import annotations

from .server import server_for


class LiveViewer:
    """The viewer of one live run: ``start()``, ``publish(event)`` per event, ``stop()``.

    ``series`` is the run's :class:`topologies.series.LinkSeries`;
    ``scenario`` the checked scenario (:class:`sgemu.scenario.Scenario`, or
    any object with ``.spec`` holding one) for satellite positions, name,
    ground transit and the ping pair the route panel opens with.
    """

    def __init__(self, series, scenario, host: str = "127.0.0.1", port: int = 8765, quiet: bool = False):
        spec = getattr(scenario, "spec", scenario)
        scene = spec.build_scene()
        pair = _first_ping(spec) or _first_two(series)
        self.server = server_for(series, scene, name=spec.name, ground_transit=spec.ground_transit,
                                 route=pair, host=host, port=port, live=True)
        self.quiet = quiet

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "LiveViewer":
        self.server.start()
        if not self.quiet:
            print(f"viewer: {self.url}", flush=True)
        return self

    def publish(self, event: dict) -> None:
        self.server.publish(event)

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _first_ping(spec) -> tuple[str, str] | None:
    for e in getattr(spec, "experiments", None) or []:
        if isinstance(e, dict) and e.get("type") == "ping" and e.get("src") and e.get("dst"):
            return str(e["src"]), str(e["dst"])
    return None


def _first_two(series) -> tuple[str, str] | None:
    g = series.ground_indices
    return (series.node_names[g[0]], series.node_names[g[1]]) if g.size >= 2 else None
