"""A static export: the page, its scene JSON, routes, overlays and CesiumJS in one folder.

The folder mirrors the server's URLs (``index.html``, ``app.js``,
``api/scene.json``, ``api/route/SRC/DST.json``, ``api/coverage/GROUP.json``,
``cesium/...``), so any static web server can serve it
(``python3 -m http.server -d DIR``).  Opening ``index.html`` from the disk
(``file://``) does not work: browsers refuse ``fetch()`` of local files and
the Web Workers Cesium builds its geometry with (an opaque ``null`` origin
fails the same-origin and CORS checks), so the page could not even read
its scene.  Without a server there is no live WebSocket either; the page
knows it is static from ``"static": true`` in the scene and offers only the
routes and overlays written here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .scene import coverage_json, route_json, scene_json
from .server import PAGE_FILES, WEB_DIR, cesium_dir


def export_site(out: Path, series, scene, name: str = "scenario", ground_transit: bool = False, pings=None,
                route: tuple[str, str] | None = None, t_s: float = 0.0, coverage: list[str] = ()) -> Path:
    """Write the static site into ``out`` (created; must not exist or be empty) and return it.

    Everything is computed before the first file is written, and a failure
    while writing removes what was written.
    """
    from experiments.coverage import satellite_groups

    cesium = cesium_dir()
    for group in coverage:
        satellite_groups(scene, group)  # raises UnknownLayer before anything is written
    data = scene_json(series, scene, name=name, pings=pings, route=route, t_s=t_s)
    data["static"] = True
    data["coverage_groups"] = [g.lower() for g in coverage]
    files = {"api/scene.json": data}
    if route:
        r = route_json(series, route[0], route[1], ground_transit)
        files[f"api/route/{r['src']}/{r['dst']}.json"] = r
    for group in coverage:
        files[f"api/coverage/{group.lower()}.json"] = coverage_json(scene, series.axis, group)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for rel, obj in files.items():
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(obj, separators=(",", ":")))
        for page in PAGE_FILES:
            shutil.copy2(WEB_DIR / page, out / page)
        shutil.copytree(cesium, out / "cesium")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True) if created else _empty(out)
        raise
    return out


def _empty(d: Path) -> None:
    for child in d.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
