// sgemu view: a CesiumJS globe drawn from the scene JSON of viewer/scene.py.
// Satellites and stations are one PointPrimitiveCollection, links one
// PolylineCollection; positions are interpolated between the scene's position
// frames (ITRS km = Cesium's Earth-fixed frame) and links follow the per-step
// up/down deltas.  Nothing is fetched from outside the page's own server.
"use strict";

const M_PER_KM = 1000;
const SKY = "#05070d";  // the background in lite mode
const view = { ready: false, errors: [], fps: 0, live: { connected: false, steps: 0, lastStep: null, pings: 0 } };
window.sgemuView = view;

// ---- scene decoding -----------------------------------------------------------
const TYPED = { float32: Float32Array, int32: Int32Array, int8: Int8Array, uint16: Uint16Array };

function unpack(obj) {
  if (!obj) return null;
  const bin = atob(obj.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TYPED[obj.dtype](bytes.buffer);
}

function decodeScene(js) {
  const L = js.links;
  return {
    js, n: js.nodes.names.length, names: js.nodes.names, layer: js.nodes.layer, shell: js.nodes.shell,
    group: js.nodes.group, frameT: js.frames.t_s, pos: unpack(js.frames.positions_km),
    a: unpack(L.a), b: unpack(L.b), kind: unpack(L.kind), msPerKm: unpack(L.ms_per_km),
    initial: unpack(L.initial), upPtr: unpack(L.up_ptr), up: unpack(L.up),
    downPtr: unpack(L.down_ptr), down: unpack(L.down),
    index: new Map(js.nodes.names.map((n, i) => [n.toLowerCase(), i])),
  };
}

// ---- the Cesium viewer --------------------------------------------------------
function makeViewer(S) {
  Cesium.Ion.defaultAccessToken = "";
  const params = new URLSearchParams(location.search);
  view.renderer = rendererName();
  view.software = /swiftshader|llvmpipe|software/i.test(view.renderer);
  view.lite = params.get("lite") === "1" || (view.software && params.get("lite") !== "0");
  const imagery = Cesium.TileMapServiceImageryProvider.fromUrl(
    Cesium.buildModuleUrl("Assets/Textures/NaturalEarthII"));
  const viewer = new Cesium.Viewer("globe", {
    baseLayer: Cesium.ImageryLayer.fromProviderAsync(imagery),
    terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    baseLayerPicker: false, geocoder: false, homeButton: false, sceneModePicker: false,
    navigationHelpButton: false, infoBox: false, selectionIndicator: false, fullscreenButton: false,
    animation: true, timeline: true, shouldAnimate: false,
    requestRenderMode: true, maximumRenderTimeChange: 0,
    // software WebGL: no multisampled canvas, no translucency passes (lite draws links opaque)
    orderIndependentTranslucency: !view.lite,
    contextOptions: view.lite ? { webgl: { antialias: false } } : undefined,
  });
  const start = Cesium.JulianDate.fromIso8601(S.js.start);
  const clock = viewer.clock;
  clock.startTime = start.clone();
  clock.stopTime = Cesium.JulianDate.addSeconds(start, S.js.duration_s, new Cesium.JulianDate());
  clock.currentTime = Cesium.JulianDate.addSeconds(start, S.js.initial_t_s || 0, new Cesium.JulianDate());
  clock.clockRange = Cesium.ClockRange.LOOP_STOP;
  clock.multiplier = 10;
  viewer.timeline.zoomTo(clock.startTime, clock.stopTime);
  viewer.scene.globe.enableLighting = false;
  const cam = (params.get("camera") || "95,25,24000").split(",").map(Number);  // lon, lat (deg), height (km)
  viewer.scene.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(cam[0], cam[1], cam[2] * M_PER_KM) });
  if (view.lite) lite(viewer);
  const scale = Number(params.get("scale"));  // e.g. scale=0.5: draw a quarter of the pixels, upscaled
  if (scale >= 0.25 && scale <= 1) viewer.resolutionScale = scale;
  return { viewer, start };
}

// The WebGL renderer's name, asked of a throwaway context: whether WebGL is drawn by the CPU
// (SwiftShader, llvmpipe) decides options that only the viewer's constructor takes.
function rendererName() {
  const canvas = document.createElement("canvas");
  const gl = canvas.getContext("webgl2") || canvas.getContext("webgl");
  if (!gl) return "";
  const ext = gl.getExtension("WEBGL_debug_renderer_info");
  const name = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  const lose = gl.getExtension("WEBGL_lose_context");
  if (lose) lose.loseContext();
  return name;
}

function lite(viewer) {
  const s = viewer.scene;
  s.skyAtmosphere.show = false;
  s.globe.showGroundAtmosphere = false;
  s.fog.enabled = false;
  s.sun.show = false;
  s.moon.show = false;
  s.skyBox.show = false;
  s.backgroundColor = Cesium.Color.fromCssColorString(SKY);
  s.msaaSamples = 1;
  s.postProcessStages.fxaa.enabled = false;
  s.highDynamicRange = false;
  s.globe.maximumScreenSpaceError = 4;  // coarser imagery tiles: fewer to draw
  s.logarithmicDepthBuffer = false;   // no gl_FragDepth in every fragment shader (one frustum still spans GEO)
  s.useDepthPicking = false;          // no depth copy per frame (clicks pick by id; the camera by the ellipsoid)
}

function cssColor(hex, alpha) {
  return Cesium.Color.fromCssColorString(hex).withAlpha(alpha === undefined ? 1 : alpha);
}

// ---- nodes ----------------------------------------------------------------------
function makePoints(S, viewer) {
  const points = viewer.scene.primitives.add(new Cesium.PointPrimitiveCollection(
    view.lite ? { blendOption: Cesium.BlendOption.OPAQUE } : {}));  // lite: one pass, not two
  const groups = S.js.groups;
  for (let i = 0; i < S.n; i++) {
    const g = groups[S.group[i]];
    const ground = S.layer[i] === "GROUND";
    points.add({
      position: new Cesium.Cartesian3(S.pos[3 * i] * M_PER_KM, S.pos[3 * i + 1] * M_PER_KM, S.pos[3 * i + 2] * M_PER_KM),
      color: cssColor(g.color), pixelSize: ground ? 8 : (S.layer[i] === "LEO" ? 5 : 8),
      outlineColor: ground ? Cesium.Color.fromCssColorString("#d50000") : Cesium.Color.BLACK,
      outlineWidth: ground ? 2 : 1, id: { node: i },
    });
  }
  return points;
}

// Station names (stations do not move, so the labels are placed once).
function makeLabels(S, viewer) {
  const labels = viewer.scene.primitives.add(new Cesium.LabelCollection());
  for (let i = 0; i < S.n; i++) {
    if (S.layer[i] !== "GROUND") continue;
    labels.add({
      position: new Cesium.Cartesian3(S.pos[3 * i] * M_PER_KM, S.pos[3 * i + 1] * M_PER_KM, S.pos[3 * i + 2] * M_PER_KM),
      text: S.names[i], font: "12px sans-serif", fillColor: Cesium.Color.WHITE, outlineColor: Cesium.Color.BLACK,
      outlineWidth: 3, style: Cesium.LabelStyle.FILL_AND_OUTLINE, pixelOffset: new Cesium.Cartesian2(8, -8),
      horizontalOrigin: Cesium.HorizontalOrigin.LEFT, verticalOrigin: Cesium.VerticalOrigin.BOTTOM,
      distanceDisplayCondition: new Cesium.DistanceDisplayCondition(0, 5.0e7),
    });
  }
  return labels;
}

// Positions of every node at scenario time t (s), km, interpolated between frames.
function positionsAt(S, t, out) {
  const T = S.frameT, F = T.length, n = S.n;
  let lo = 0, hi = F - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (T[mid] <= t) lo = mid; else hi = mid; }
  const f = F > 1 ? Math.min(lo, F - 2) : 0;
  const g = F > 1 ? f + 1 : 0;
  const span = T[g] - T[f];
  const u = span > 0 ? Math.min(1, Math.max(0, (t - T[f]) / span)) : 0;
  const p0 = f * n * 3, p1 = g * n * 3;
  for (let j = 0; j < n * 3; j++) out[j] = S.pos[p0 + j] + u * (S.pos[p1 + j] - S.pos[p0 + j]);
  return out;
}

// ---- links ----------------------------------------------------------------------
// A link colour at some opacity; in lite mode an opaque colour mixed with the night sky instead,
// so that links are drawn in the opaque pass, with no translucency pass.
function linkColor(hex, alpha) {
  if (!view.lite) return cssColor(hex, alpha);
  const c = Cesium.Color.fromCssColorString(hex), bg = Cesium.Color.fromCssColorString(SKY);
  return new Cesium.Color(c.red * alpha + bg.red * (1 - alpha), c.green * alpha + bg.green * (1 - alpha),
                          c.blue * alpha + bg.blue * (1 - alpha), 1);
}

function makeLinks(S, viewer) {
  const lines = viewer.scene.primitives.add(new Cesium.PolylineCollection());
  const kinds = S.js.kinds.map((k) => ({
    name: k.name, visible: true,
    material: Cesium.Material.fromType("Color", { color: linkColor(k.color, k.name === "isl" ? 0.55 : 0.85) }),
  }));
  return { lines, kinds, active: new Uint8Array(S.a.length), step: -1, pool: new Map(), shown: new Set(),
           shownStep: -1, kindsChanged: false, nextMove: 0 };
}

function applyDelta(S, links, k, forward) {
  const on = forward ? 1 : 0;
  for (let j = S.upPtr[k - 1]; j < S.upPtr[k]; j++) links.active[S.up[j]] = on;
  for (let j = S.downPtr[k - 1]; j < S.downPtr[k]; j++) links.active[S.down[j]] = 1 - on;
}

// Bring the link state to step k by applying (or undoing) the deltas in between.
function seekLinks(S, links, k) {
  if (links.step < 0) {
    for (const id of S.initial) links.active[id] = 1;
    links.step = 0;
  }
  while (links.step < k) { links.step++; applyDelta(S, links, links.step, true); }
  while (links.step > k) { applyDelta(S, links, links.step, false); links.step--; }
}

function isStation(S, i) { return S.layer[i] === "GROUND"; }

function surfaceArc(a, b) {
  const ca = Cesium.Cartographic.fromCartesian(a), cb = Cesium.Cartographic.fromCartesian(b);
  const geo = new Cesium.EllipsoidGeodesic(ca, cb);
  const out = [];
  for (let s = 0; s <= 16; s++) {
    const c = geo.interpolateUsingFraction(s / 16);
    out.push(Cesium.Cartesian3.fromRadians(c.longitude, c.latitude, 3000));
  }
  return out;
}

// Show the links up now (and of a visible kind) between the nodes' current positions.
// Which links show changes with the step; their ends move every frame, but moving thousands of
// polylines costs more than drawing them, so ends are moved at most once per 3x the time the
// last move took (every frame for small networks; a few times a second for Starlink-sized ones).
function drawLinks(S, links, cart, force) {
  const now = performance.now();
  const changed = links.shownStep !== links.step || links.kindsChanged;
  if (!changed && !force && now < links.nextMove) return false;
  if (changed) {
    const want = new Set();
    for (let id = 0; id < S.a.length; id++) {
      if (links.active[id] && links.kinds[S.kind[id]].visible) want.add(id);
    }
    for (const id of links.shown) if (!want.has(id)) links.pool.get(id).show = false;
    links.shown = want;
    links.shownStep = links.step;
    links.kindsChanged = false;
  }
  for (const id of links.shown) {
    const a = S.a[id], b = S.b[id];
    let pl = links.pool.get(id);
    const still = isStation(S, a) && isStation(S, b);
    if (!pl) {
      pl = links.lines.add({ positions: still ? surfaceArc(cart[a], cart[b]) : [cart[a], cart[b]],
                             width: S.js.kinds[S.kind[id]].name === "isl" || view.lite ? 1 : 1.5,  // fill costs in lite
                             material: links.kinds[S.kind[id]].material });
      links.pool.set(id, pl);
    } else if (!still) {
      pl.positions = [cart[a], cart[b]];
    }
    pl.show = true;
  }
  const took = performance.now() - now;
  links.nextMove = performance.now() + 3 * took;
  links.movedT = links.t;
  return true;
}

// ---- state and the frame loop --------------------------------------------------
function makeState(S, viewer, start) {
  const cart = Array.from({ length: S.n }, () => new Cesium.Cartesian3());
  return { S, viewer, start, cart, km: new Float64Array(S.n * 3), t: -1, k: -1, route: null,
           pings: S.js.pings.slice(), selected: null, overlay: null };
}

function scenarioSeconds(st, time) {
  const t = Cesium.JulianDate.secondsDifference(time, st.start);
  return Math.min(Math.max(t, 0), st.S.js.duration_s);
}

function update(st, points, links, time, force) {
  const t = scenarioSeconds(st, time);
  if (t === st.t) {
    // time stands still: catch up on link ends a throttled move left behind
    if (links.movedT !== t && drawLinks(st.S, links, st.cart, false)) st.viewer.scene.requestRender();
    return;
  }
  st.t = t;
  const S = st.S;
  positionsAt(S, t, st.km);
  for (let i = 0; i < S.n; i++) {
    const c = st.cart[i];
    c.x = st.km[3 * i] * M_PER_KM; c.y = st.km[3 * i + 1] * M_PER_KM; c.z = st.km[3 * i + 2] * M_PER_KM;
    points.get(i).position = c;
  }
  const k = Math.min(S.js.n_steps - 1, Math.floor(t / S.js.step_s + 1e-9));
  seekLinks(S, links, k);
  links.t = t;
  drawLinks(S, links, st.cart, force);
  st.k = k;
  updateRoute(st);
  updateInfo(st, links);
  updateOverlay(st);
  st.viewer.scene.requestRender();
}

// ---- route panel ---------------------------------------------------------------
function pathAt(route, k) {
  let path = [];
  for (const p of route.paths) { if (p.step <= k) path = p.path; else break; }
  return path;
}

function fmtMs(v) { return v === null || v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(1)} ms`; }

function measuredNear(st, src, dst, t) {
  let best = null;
  for (const p of st.pings) {
    if (p.src.toLowerCase() !== src.toLowerCase() || p.dst.toLowerCase() !== dst.toLowerCase()) continue;
    const inStep = p.t_s < (st.k + 1) * st.S.js.step_s;  // a sample belongs to the step it was sent in
    if (inStep && t - p.t_s <= Math.max(5, 2 * st.S.js.step_s) && (!best || p.t_s >= best.t_s)) best = p;
  }
  return best;
}

function updateRoute(st) {
  const r = st.route;
  const rttCell = document.getElementById("route-rtt");
  if (!r) { st.routeLine && (st.routeLine.show = false); return; }
  const k = st.k, rtt = r.rtt_ms[k];
  rttCell.textContent = fmtMs(rtt);
  rttCell.dataset.rttMs = rtt === null ? "" : String(rtt);
  rttCell.dataset.step = String(k);
  const m = measuredNear(st, r.src, r.dst, st.t);
  const mc = document.getElementById("route-measured");
  mc.textContent = m ? `${fmtMs(m.rtt_ms)} (at ${m.t_s.toFixed(1)} s)` : "–";
  mc.dataset.rttMs = m && m.rtt_ms !== null ? String(m.rtt_ms) : "";
  const path = pathAt(r, k);
  document.getElementById("route-nhops").textContent = path.length ? String(path.length - 1) : "unreachable";
  const key = path.join(",");
  if (key !== st.routeKey) {
    st.routeKey = key;
    const ol = document.getElementById("route-hops");
    ol.replaceChildren(...path.map((i) => {
      const li = document.createElement("li");
      li.textContent = st.S.names[i];
      li.onclick = () => select(st, i);
      return li;
    }));
  }
  st.routeLine.show = path.length > 1;
  if (path.length > 1) st.routeLine.positions = path.map((i) => st.cart[i]);
}

async function loadRoute(st, src, dst) {
  st.route = null; st.routeKey = null;
  const note = document.getElementById("route-note");
  note.textContent = "";
  if (!src || !dst || src === dst) { note.textContent = "choose two stations"; st.t = -1; return; }
  const resp = await fetch(`api/route/${encodeURIComponent(src)}/${encodeURIComponent(dst)}.json`);
  if (!resp.ok) {
    note.textContent = st.S.js.static ? "this export holds only the routes it was made with" : "no route data";
    st.t = -1; return;
  }
  st.route = await resp.json();
  const s = st.route.summary;
  note.textContent = s.rtt_ms_min === null ? "never reachable" :
    `over the run: ${s.rtt_ms_min.toFixed(1)}–${s.rtt_ms_max.toFixed(1)} ms, ${s.path_changes} path changes`;
  st.t = -1;  // redraw at the current time
}

function setupRoute(st) {
  const src = document.getElementById("route-src"), dst = document.getElementById("route-dst");
  for (const sel of [src, dst]) {
    for (const name of st.S.js.stations) sel.add(new Option(name, name));
  }
  const params = new URLSearchParams(location.search);
  const pair = (params.get("route") || "").split(":");
  const def = pair.length === 2 ? pair : (st.S.js.route || st.S.js.stations.slice(0, 2));
  if (def && def.length === 2) { src.value = def[0]; dst.value = def[1]; }
  const reload = () => loadRoute(st, src.value, dst.value);
  src.onchange = reload; dst.onchange = reload;
  return reload();
}

// ---- clicked node ----------------------------------------------------------------
// The clicked node is drawn larger, ringed in yellow, until another is clicked.
function select(st, i) {
  const points = st.points;
  if (st.selected !== null && st.ring) Object.assign(points.get(st.selected), st.ring);
  const p = points.get(i);
  st.ring = { pixelSize: p.pixelSize, outlineColor: p.outlineColor.clone(), outlineWidth: p.outlineWidth };
  Object.assign(p, { pixelSize: p.pixelSize + 6, outlineColor: Cesium.Color.YELLOW, outlineWidth: 3 });
  st.selected = i;
  document.getElementById("info").hidden = false;
  st.infoKey = null;
  st.t = -1;
}

function infoRow(th, td) {
  const tr = document.createElement("tr");
  tr.innerHTML = "<th></th><td></td>";
  tr.children[0].textContent = th; tr.children[1].textContent = td;
  return tr;
}

function updateInfo(st, links) {
  const i = st.selected;
  if (i === null) return;
  const S = st.S;
  const c = Cesium.Cartographic.fromCartesian(st.cart[i]);
  const g = S.js.groups[S.group[i]];
  document.getElementById("info-name").textContent = S.names[i];
  const x = st.km.subarray(3 * i, 3 * i + 3);
  document.getElementById("info-table").replaceChildren(
    infoRow("layer", S.layer[i] === "GROUND" ? "ground station" : `${g.shell} ${S.layer[i]}`),
    infoRow("lat, lon", `${Cesium.Math.toDegrees(c.latitude).toFixed(3)}°, ${Cesium.Math.toDegrees(c.longitude).toFixed(3)}°`),
    infoRow("altitude", `${(c.height / 1000).toFixed(1)} km (WGS84)`),
    infoRow("ITRS km", `${x[0].toFixed(0)}, ${x[1].toFixed(0)}, ${x[2].toFixed(0)}`),
    infoRow("t", `${st.t.toFixed(1)} s (step ${st.k})`));
  const items = [];
  for (let id = 0; id < S.a.length; id++) {
    if (!links.active[id] || (S.a[id] !== i && S.b[id] !== i)) continue;
    const peer = S.a[id] === i ? S.b[id] : S.a[id];
    const d = Cesium.Cartesian3.distance(st.cart[i], st.cart[peer]) / M_PER_KM;
    const li = document.createElement("li");
    li.textContent = `${S.names[peer]} · ${S.js.kinds[S.kind[id]].name} · ${(d * S.msPerKm[id]).toFixed(2)} ms`;
    li.onclick = () => select(st, peer);
    items.push(li);
  }
  document.getElementById("info-links").replaceChildren(...items);
}

// ---- coverage overlay -------------------------------------------------------------
function rampColor(u) {  // viridis: dark purple -> blue -> green -> yellow
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, u)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  return stops[i].map((v, j) => Math.round(v + f * (stops[i + 1][j] - v)));
}

function pdopColor(p) {  // green at 1, yellow at 3, red at 6 and above
  if (!Number.isFinite(p)) return null;
  const u = Math.min(1, Math.max(0, (p - 1) / 5));
  return u < 0.4 ? [Math.round(40 + 520 * u), 200, 60] : [250, Math.round(200 - 300 * (u - 0.4)), 40];
}

function overlayColor(ov, field, v) {
  const span = ov.maxVisible - ov.minVisible;
  return field === "pdop" ? pdopColor(v) : rampColor(span > 0 ? (v - ov.minVisible) / span : 1);
}

function drawOverlayFrame(st, f) {
  const ov = st.overlay, field = ov.field;
  const nLat = ov.js.lat_deg.length, nLon = ov.js.lon_deg.length, cell = nLat * nLon;
  const data = field === "pdop" ? ov.pdop : ov.visible;
  const img = ov.ctx.createImageData(nLon, nLat);
  for (let r = 0; r < nLat; r++) {
    for (let c = 0; c < nLon; c++) {
      const v = data[f * cell + (nLat - 1 - r) * nLon + c];  // canvas row 0 is the north edge
      const col = overlayColor(ov, field, v), o = 4 * (r * nLon + c);
      if (col) { img.data[o] = col[0]; img.data[o + 1] = col[1]; img.data[o + 2] = col[2]; img.data[o + 3] = 255; }
    }
  }
  ov.ctx.putImageData(img, 0, 0);
  const provider = new Cesium.SingleTileImageryProvider({
    url: ov.canvas.toDataURL(), rectangle: Cesium.Rectangle.fromDegrees(-180, -90, 180, 90),
    tileWidth: nLon, tileHeight: nLat });
  const layer = st.viewer.imageryLayers.addImageryProvider(provider);
  layer.alpha = 0.75;
  if (ov.layer) st.viewer.imageryLayers.remove(ov.layer, true);
  ov.layer = layer;
  ov.frame = f;
}

function updateOverlay(st) {
  const ov = st.overlay;
  if (!ov) return;
  const T = ov.js.t_s;
  let f = 0;
  while (f + 1 < T.length && T[f + 1] <= st.t + 1e-9) f++;
  if (f !== ov.frame) drawOverlayFrame(st, f);
}

function overlayLegend(ov) {
  const bar = document.getElementById("coverage-bar"), ctx = bar.getContext("2d");
  for (let x = 0; x < bar.width; x++) {
    const u = x / (bar.width - 1);
    const col = ov.field === "pdop" ? pdopColor(1 + 5 * u) : rampColor(u);
    ctx.fillStyle = `rgb(${col[0]},${col[1]},${col[2]})`;
    ctx.fillRect(x, 0, 1, bar.height);
  }
  document.getElementById("coverage-lo").textContent = ov.field === "pdop" ? "PDOP 1" : `${ov.minVisible} in view`;
  document.getElementById("coverage-hi").textContent = ov.field === "pdop" ? "≥ 6" : `${ov.maxVisible} in view`;
  document.getElementById("coverage-note").textContent =
    `${ov.js.group}: ${ov.js.satellites} satellites, elevation ≥ ${ov.js.min_elevation_deg}°, ` +
    `${ov.js.step_deg}° cells` + (ov.field === "pdop" ? "; clear = no fix (fewer than 4 in view)" : "");
  document.getElementById("coverage-legend").hidden = false;
}

async function setOverlay(st, group, field) {
  if (st.overlay && st.overlay.layer) st.viewer.imageryLayers.remove(st.overlay.layer, true);
  st.overlay = null;
  document.getElementById("coverage-legend").hidden = true;
  if (!group) return;
  const resp = await fetch(`api/coverage/${encodeURIComponent(group)}.json`);
  if (!resp.ok) { document.getElementById("coverage-note").textContent = "not available"; return; }
  const js = await resp.json();
  if (field === "pdop" && !js.pdop) field = "visible";
  document.getElementById("coverage-field").value = field;
  const canvas = document.createElement("canvas");
  canvas.width = js.lon_deg.length; canvas.height = js.lat_deg.length;
  const visible = unpack(js.visible);
  st.overlay = { js, field, canvas, ctx: canvas.getContext("2d"), visible, pdop: unpack(js.pdop),
                 maxVisible: visible.reduce((m, v) => Math.max(m, v), 0),
                 minVisible: visible.reduce((m, v) => Math.min(m, v), Infinity), frame: -1, layer: null };
  overlayLegend(st.overlay);
  st.t = -1;
}

function setupOverlay(st) {
  const gsel = document.getElementById("coverage-group"), fsel = document.getElementById("coverage-field");
  for (const g of st.S.js.coverage_groups) gsel.add(new Option(g, g));
  const params = new URLSearchParams(location.search);
  if (params.get("coverage")) gsel.value = params.get("coverage");
  if (params.get("field")) fsel.value = params.get("field");
  const apply = () => setOverlay(st, gsel.value, fsel.value);
  gsel.onchange = apply; fsel.onchange = apply;
  return apply();
}

// ---- legend, speed, status --------------------------------------------------------
function legendItem(color, text, count, cls) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="${cls}"></span><span></span><span class="count"></span>`;
  li.children[0].style.background = color;
  li.children[1].textContent = text;
  li.children[2].textContent = count === null ? "" : String(count);
  return li;
}

// Long links that cross the screen (inter-layer: LEO to MEO/GEO) start hidden when there are more
// than LONG_LINKS_SHOWN of them: a Starlink-sized shell makes them a hairball that tells nothing, and
// in software WebGL they take about 40 % of a frame's time (bench_viewer).  Their legend box turns them on.
const LONG_LINKS_SHOWN = 500;

function hideCrowdedKinds(S, links) {
  const code = S.js.kinds.findIndex((k) => k.name === "inter-layer");
  let n = 0;
  for (const id of S.initial) if (S.kind[id] === code) n++;
  if (n > LONG_LINKS_SHOWN) {
    links.kinds[code].visible = false;
    links.kindsChanged = true;
    return `${n} inter-layer links up: hidden until ticked`;
  }
  return "";
}

function setupLegend(st, links) {
  const S = st.S;
  const only = new URLSearchParams(location.search).get("links");  // e.g. links=ground,fiber
  if (only !== null) {
    const keep = only.split(",");
    links.kinds.forEach((k) => { k.visible = keep.includes(k.name); });
    links.kindsChanged = true;
  }
  const hidden = only === null ? hideCrowdedKinds(S, links) : "";
  document.getElementById("legend-nodes").replaceChildren(
    ...S.js.groups.map((g) => legendItem(g.color, g.label, g.count, "dot")));
  const ul = document.getElementById("legend-links");
  ul.replaceChildren();
  S.js.kinds.forEach((k, code) => {
    if (!S.kind.some((c) => c === code)) return;
    const li = document.createElement("li");
    li.innerHTML = `<label><input type="checkbox"><span class="line"></span><span></span></label>`;
    li.querySelector("input").checked = links.kinds[code].visible;
    li.querySelector(".line").style.background = k.color;
    li.querySelector("span:last-child").textContent = k.name;
    li.querySelector("input").onchange = (e) => {
      links.kinds[code].visible = e.target.checked; links.kindsChanged = true; st.t = -1;
      document.getElementById("links-note").hidden = true; };
    ul.appendChild(li);
  });
  ul.appendChild(legendItem(S.js.route_color, "route", null, "line"));
  const note = document.getElementById("links-note");
  note.textContent = hidden;
  note.hidden = !hidden;
}

function setupSpeed(st) {
  const clock = st.viewer.clock, play = document.getElementById("play"), speed = document.getElementById("speed");
  const sync = () => { play.textContent = clock.shouldAnimate ? "pause" : "play"; };
  play.onclick = () => { clock.shouldAnimate = !clock.shouldAnimate; sync(); };
  speed.onchange = () => { clock.multiplier = Number(speed.value); };
  clock.onTick.addEventListener(sync);
  clock.multiplier = Number(speed.value);
}

function setupFps(st) {
  let frames = 0, since = performance.now();
  st.viewer.scene.postRender.addEventListener(() => {
    frames++;
    const now = performance.now();
    if (now - since >= 1000) {
      view.fps = frames * 1000 / (now - since);
      document.getElementById("fps").textContent = st.viewer.clock.shouldAnimate ? `${view.fps.toFixed(1)} fps` : "";
      frames = 0; since = now;
    }
  });
}

function status(text, live) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("live", !!live);
}

// ---- live events --------------------------------------------------------------------
function handleEvent(st, ev) {
  if (ev.seq !== undefined) {
    if (st.seen.has(ev.seq)) return;
    st.seen.add(ev.seq);
  }
  if (ev.type === "step") {
    view.live.steps++;
    view.live.lastStep = ev.k;
    st.viewer.clock.shouldAnimate = false;
    st.viewer.clock.currentTime = Cesium.JulianDate.addSeconds(st.start, ev.t_s, new Cesium.JulianDate());
    status(`live · step ${ev.k} · t = ${ev.t_s.toFixed(0)} s · late ${(ev.late_ms || 0).toFixed(1)} ms`, true);
  } else if (ev.type === "ping") {
    view.live.pings++;
    st.pings.push({ t_s: ev.t_s, src: ev.src, dst: ev.dst, rtt_ms: ev.rtt_ms, predicted_rtt_ms: ev.predicted_rtt_ms });
    st.t = -1;
  } else if (ev.type === "end") {
    view.live.ended = true;
    status(ev.interrupted ? "live run interrupted" : "live run ended", false);
  }
}

function connectLive(st) {
  if (st.S.js.static) return;
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "hello") {
      view.live.connected = true;
      view.live.isLive = ev.live;
      if (ev.live) status("live · waiting for the first step", true);
      for (const h of ev.history) handleEvent(st, h);
    } else {
      handleEvent(st, ev);
    }
  };
  ws.onclose = () => { view.live.connected = false; };
}

// ---- what tests (and curious users) can read ---------------------------------------
function expose(st, points, links) {
  const S = st.S;
  let sats = 0, stations = 0;
  for (let i = 0; i < points.length; i++) {
    const p = points.get(i);
    if (!p.show) continue;
    if (S.layer[p.id.node] === "GROUND") stations++; else sats++;
  }
  Object.assign(view, {
    viewer: st.viewer,
    counts: { satellites: sats, stations, points: points.length, scenarioSatellites: S.js.nodes.n_satellites,
              scenarioStations: S.js.nodes.n_stations },
    names: S.names,
    point: (i) => points.get(i),
    time: () => st.t,
    step: () => st.k,
    setTime(t_s) {
      st.viewer.clock.shouldAnimate = false;
      st.viewer.clock.currentTime = Cesium.JulianDate.addSeconds(st.start, t_s, new Cesium.JulianDate());
      update(st, points, links, st.viewer.clock.currentTime, true);
      return st.t;
    },
    // what the point primitives hold now, km in Cesium's Earth-fixed frame (ITRS)
    drawnPositionsKm: () => Array.from({ length: points.length },
      (_, i) => { const p = points.get(i).position; return [p.x / M_PER_KM, p.y / M_PER_KM, p.z / M_PER_KM]; }),
    linksShown: () => { let n = 0; for (const id of links.shown) if (links.pool.get(id).show) n++; return n; },
    toWindow(xyzKm) {
      const c = Cesium.SceneTransforms.worldToWindowCoordinates(st.viewer.scene,
        new Cesium.Cartesian3(xyzKm[0] * M_PER_KM, xyzKm[1] * M_PER_KM, xyzKm[2] * M_PER_KM));
      return c ? [c.x, c.y] : null;
    },
    routeReady: () => st.route !== null,
    setRoute(src, dst) {
      document.getElementById("route-src").value = src;
      document.getElementById("route-dst").value = dst;
      return loadRoute(st, src, dst).then(() => update(st, points, links, st.viewer.clock.currentTime));
    },
    select: (i) => { select(st, i); update(st, points, links, st.viewer.clock.currentTime); },
    overlayFrame: () => (st.overlay && st.overlay.layer ? st.overlay.frame : null),
    overlayShown: () => !!(st.overlay && st.overlay.layer && st.viewer.imageryLayers.contains(st.overlay.layer)),
  });
}

async function main() {
  const resp = await fetch("api/scene.json");
  const S = decodeScene(await resp.json());
  const { viewer, start } = makeViewer(S);
  const st = makeState(S, viewer, start);
  st.seen = new Set();
  document.getElementById("title").textContent = `sgemu view · ${S.js.name}`;
  status(`${S.js.nodes.n_satellites} satellites, ${S.js.nodes.n_stations} stations, ` +
         `${S.js.n_steps} steps of ${S.js.step_s} s`);
  const points = makePoints(S, viewer);
  st.points = points;
  makeLabels(S, viewer);
  const links = makeLinks(S, viewer);
  st.routeLine = viewer.scene.primitives.add(new Cesium.PolylineCollection()).add({
    positions: [Cesium.Cartesian3.UNIT_X, Cesium.Cartesian3.UNIT_Y], width: 4, show: false,
    material: Cesium.Material.fromType("Color", { color: cssColor(S.js.route_color) }) });
  viewer.scene.preUpdate.addEventListener((scene, time) => update(st, points, links, time));
  const handler = new Cesium.ScreenSpaceEventHandler(viewer.scene.canvas);
  handler.setInputAction((e) => {
    // links and the route start at the nodes: look under them for a point
    const picked = viewer.scene.drillPick(e.position, 6).find((p) => p.id && p.id.node !== undefined);
    if (picked) select(st, picked.id.node);
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);
  setupLegend(st, links);
  setupSpeed(st);
  setupFps(st);
  expose(st, points, links);
  update(st, points, links, viewer.clock.currentTime);
  await Promise.all([setupRoute(st), setupOverlay(st)]);
  connectLive(st);
  const params = new URLSearchParams(location.search);
  const chosen = S.index.get((params.get("select") || "").toLowerCase());
  if (chosen !== undefined) select(st, chosen);
  if (params.get("play")) viewer.clock.shouldAnimate = true;
  view.ready = true;
}

main().catch((err) => { view.errors.push(String(err)); status(`error: ${err}`); console.error(err); });
