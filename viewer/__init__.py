"""The web viewer: an offline 3-D globe of a scenario, a replayed run or a live emulation.

:mod:`viewer.scene` turns a link series and its satellites into the JSON the
page draws (nodes, positions, link deltas, routes, coverage overlays; pure,
no I/O); :mod:`viewer.server` serves that JSON, the page in ``viewer/web``
and CesiumJS from the npm package installed beside it (no CDN, no Ion
token, NaturalEarthII imagery shipped with Cesium) over HTTP, with a
WebSocket for live steps; :mod:`viewer.live` lets a running emulation
publish its steps and measured pings to that WebSocket; :mod:`viewer.export`
writes a folder any static web server can serve.  ``sgemu view`` is the
command in front of it all.
"""
