"""The viewer's web server: the page, CesiumJS, scene JSON, and a WebSocket of live events.

An :mod:`aiohttp` application run on its own event loop in a background
thread, so the same server serves ``sgemu view`` (the main thread just
waits) and a running emulation (whose thread calls :meth:`ViewerServer.publish`).
It binds 127.0.0.1 unless told otherwise.

Routes (all GET):

* ``/`` and ``/app.js``, ``/style.css`` -- the page (``viewer/web``);
* ``/cesium/...`` -- ``node_modules/cesium/Build/Cesium`` (script, workers,
  widgets CSS, NaturalEarthII imagery);
* ``/api/scene.json`` -- :func:`viewer.scene.scene_json`;
* ``/api/route/SRC/DST.json`` -- :func:`viewer.scene.route_json` (404 with a
  JSON ``error`` for an unknown station);
* ``/api/coverage/GROUP.json`` -- :func:`viewer.scene.coverage_json`;
* ``/ws`` -- a WebSocket: on connecting, ``{"type": "hello", "live": bool,
  "history": [...]}`` (the events so far), then every published event,
  each numbered by ``seq``.

The same relative URLs are files in a static export (:mod:`viewer.export`),
so the page does not know which it is talking to.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Callable

from aiohttp import WSMsgType, web

WEB_DIR = Path(__file__).resolve().parent / "web"
CESIUM_SUBDIR = Path("node_modules/cesium/Build/Cesium")
PAGE_FILES = ("index.html", "app.js", "style.css")
#: Events kept for pages that connect late (steps are few; pings at 5 Hz for an hour fit).
HISTORY_MAX = 20_000


class AssetsMissing(RuntimeError):
    """CesiumJS is not installed beside the page (``npm ci`` was not run)."""


def cesium_dir(web_dir: Path | None = None) -> Path:
    """The Cesium build served under /cesium; raises :class:`AssetsMissing` with how to install it."""
    web_dir = web_dir or WEB_DIR
    d = web_dir / CESIUM_SUBDIR
    if not (d / "Cesium.js").is_file() or not (d / "Assets/Textures/NaturalEarthII/tilemapresource.xml").is_file():
        raise AssetsMissing(f"the viewer's CesiumJS assets are not installed: run `make viewer-assets` "
                            f"in the sgemu source tree, or `npm ci --prefix {web_dir}`")
    return d


class ViewerServer:
    """The HTTP + WebSocket server of one viewer session (a context manager).

    ``scene`` is the scene JSON (a dict); ``route(src, dst)`` and
    ``coverage(group)`` compute the on-demand JSON and may raise
    ``KeyError`` (unknown station or group: 404).  ``live`` says whether
    events will be published.  ``port=0`` picks a free port (see :attr:`url`).
    """

    def __init__(self, scene: dict, route: Callable[[str, str], dict], coverage: Callable[[str], dict],
                 host: str = "127.0.0.1", port: int = 8765, live: bool = False, web_dir: Path | None = None):
        self.web_dir = web_dir or WEB_DIR
        self.cesium = cesium_dir(self.web_dir)
        self.host, self.port, self.live = host, port, live
        self._scene_bytes = json.dumps(scene, separators=(",", ":")).encode()
        self._route, self._coverage = route, coverage
        self._cache: dict[tuple, bytes] = {}
        self._history: list[dict] = []
        self._seq = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------
    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> "ViewerServer":
        """Bind and serve from a background thread; returns once the port is open (raises OSError if not)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=run, name="sgemu-viewer", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every socket and the listener; idempotent."""
        if self._thread and self._loop and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._index)
        for name in PAGE_FILES[1:]:
            app.router.add_get(f"/{name}", self._page_file)
        app.router.add_get("/api/scene.json", self._scene)
        app.router.add_get("/api/route/{src}/{dst}.json", self._route_handler)
        app.router.add_get("/api/coverage/{group}.json", self._coverage_handler)
        app.router.add_get("/ws", self._ws)
        app.router.add_static("/cesium/", self.cesium, follow_symlinks=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    # -- events -----------------------------------------------------------------
    def publish(self, event: dict) -> None:
        """Send an event to every connected page; callable from any thread, never blocks."""
        with self._lock:
            self._seq += 1
            event = {**event, "seq": self._seq}
            self._history.append(event)
            if len(self._history) > HISTORY_MAX:
                del self._history[: len(self._history) - HISTORY_MAX]
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._broadcast, json.dumps(event, separators=(",", ":")))

    def _broadcast(self, text: str) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                asyncio.ensure_future(ws.send_str(text))

    # -- handlers ---------------------------------------------------------------
    async def _index(self, request):
        return web.FileResponse(self.web_dir / "index.html", headers={"Cache-Control": "no-cache"})

    async def _page_file(self, request):
        return web.FileResponse(self.web_dir / request.path.lstrip("/"), headers={"Cache-Control": "no-cache"})

    async def _scene(self, request):
        return web.Response(body=self._scene_bytes, content_type="application/json")

    async def _route_handler(self, request):
        src, dst = request.match_info["src"], request.match_info["dst"]
        return await self._computed(("route", src.lower(), dst.lower()), self._route, src, dst)

    async def _coverage_handler(self, request):
        group = request.match_info["group"]
        return await self._computed(("coverage", group.lower()), self._coverage, group)

    async def _computed(self, key, fn, *args):
        if key not in self._cache:
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, fn, *args)
            except (KeyError, ValueError) as exc:
                msg = exc.args[0] if exc.args else str(exc)
                return web.json_response({"error": str(msg)}, status=404)
            self._cache[key] = json.dumps(result, separators=(",", ":")).encode()
        return web.Response(body=self._cache[key], content_type="application/json")

    async def _ws(self, request):
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self._sockets.add(ws)  # events published from now on reach it; the page drops repeats by seq
        with self._lock:
            history = list(self._history)
        try:
            await ws.send_str(json.dumps({"type": "hello", "live": self.live, "history": history}))
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(ws)
        return ws


def server_for(series, scene, name: str = "scenario", ground_transit: bool = False, pings=None,
               route: tuple[str, str] | None = None, t_s: float = 0.0, host: str = "127.0.0.1",
               port: int = 8765, live: bool = False) -> ViewerServer:
    """A (not yet started) :class:`ViewerServer` for a link series and its orbits scene."""
    from .scene import route_json, scene_json

    cesium_dir()  # fail before computing anything
    data = scene_json(series, scene, name=name, pings=pings, route=route, t_s=t_s)
    return ViewerServer(data, lambda src, dst: route_json(series, src, dst, ground_transit),
                        lambda group: _coverage(scene, series.axis, group), host=host, port=port, live=live)


def _coverage(scene, axis, group):
    from experiments.coverage import UnknownLayer

    from .scene import coverage_json

    try:
        return coverage_json(scene, axis, group)
    except UnknownLayer as exc:
        raise KeyError(str(exc)) from None
