"""The scenario: what to emulate, read from YAML and checked field by field.

A scenario names the constellations (a preset, Walker parameters or a TLE
file), the ground stations (built-in names or explicit positions), the link
rules, and the time axis (start, duration, step).  :func:`load_scenario`
reads and checks it; :meth:`Scenario.build_scene` and
:meth:`Scenario.build_rules` hand it to the pipeline.  Every mistake becomes
a :class:`~sgemu.schema.ScenarioError` naming the field, before anything is
computed or built.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from orbits.planes import assign_planes
from orbits.presets import PRESETS
from orbits.satellite import Satellite, node_safe
from orbits.mobile import MoverError, mover_station
from orbits.scene import Scene, UnknownGroup
from orbits.stations import GroundStation, UnknownStation, builtin_station
from orbits.timebase import TimeAxis, parse_utc
from orbits.tle import TLEError, load_tle_file, select
from orbits.walker import WalkerShell
from topologies.fiber_links import Fiber
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.rules import KINDS, LinkParams
from topologies.shell_links import NearestK, PlusGrid, Ring, RuleError

from .schema import ScenarioError, check_fields, coerce

#: Link rule names accepted in ``links[].rule``.
RULES = {
    "plus-grid": PlusGrid,
    "ring": Ring,
    "nearest-k": NearestK,
    "inter-layer": InterLayer,
    "ground": GroundAccess,
    "fiber": Fiber,
    "none": None,
}


@dataclass
class ConstellationSpec:
    """One shell: exactly one of ``preset``, ``walker`` or ``tle``."""

    name: str
    preset: str | None = None
    walker: dict | None = None
    tle: str | None = None
    select: str | list | None = None
    planes: str | None = None  # "auto": group a TLE set into planes by RAAN


@dataclass
class StationSpec:
    """A ground station: a built-in name (position optional) or a full position."""

    name: str
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_m: float | None = None
    min_elevation_deg: float | None = None
    antennas: int | None = None


@dataclass
class Scenario:
    """A checked scenario (see the module docstring and ``sgemu/scenarios/default.yaml``)."""

    start: str
    duration_s: float
    step_s: float
    name: str = "scenario"
    description: str = ""
    grazing_km: float = 80.0
    ground_transit: bool = False
    constellations: list = field(default_factory=list)
    stations: list = field(default_factory=list)
    movers: list = field(default_factory=list)
    links: list = field(default_factory=list)
    link_params: dict = field(default_factory=dict)
    emulation: dict = field(default_factory=dict)
    experiments: list = field(default_factory=list)
    events: list = field(default_factory=list)
    _base_dir: Path = field(default=Path("."), repr=False)
    _raw: dict = field(default_factory=dict, repr=False)

    # -- derived --------------------------------------------------------------
    @property
    def axis(self) -> TimeAxis:
        return TimeAxis.from_duration(parse_utc(self.start), self.duration_s, self.step_s)

    @property
    def raw(self) -> dict:
        """The scenario as a plain mapping (with CLI overrides applied), for run directories."""
        return copy.deepcopy(self._raw)

    def build_scene(self) -> Scene:
        sats: list[Satellite] = []
        epoch = parse_utc(self.start)
        seen = set()
        for i, spec in enumerate(self.constellations):
            name = spec.get("name") if isinstance(spec, dict) else None
            if isinstance(name, str) and name.lower() in seen:
                raise ScenarioError(f"constellations[{i}].name", f"{name!r} is already the name of a constellation")
            seen.add(name.lower() if isinstance(name, str) else name)
            sats += _satellites(spec, f"constellations[{i}]", epoch, self._base_dir, 90001 + 2000 * i)
        stations = self.build_stations()
        try:
            return Scene(sats, stations)
        except ValueError as exc:
            raise ScenarioError("stations", str(exc)) from None

    def build_stations(self) -> list[GroundStation]:
        """The ground stations, then the movers, checked (cheap: no satellite is built)."""
        return [_station(s, f"stations[{i}]") for i, s in enumerate(self.stations)] + self.build_movers()

    def build_movers(self) -> list[GroundStation]:
        """The moving ground nodes (:mod:`orbits.mobile`), checked, their tracks read."""
        out = []
        for i, spec in enumerate(self.movers):
            try:
                st = mover_station(spec, parse_utc(self.start), self._base_dir, f"movers[{i}]")
            except MoverError as exc:
                raise ScenarioError(exc.field, str(exc)) from None
            if node_safe(st.name) != st.name or len(st.name) > 40:
                raise ScenarioError(f"movers[{i}].name", f"{st.name[:40]!r}: use up to 40 letters, digits and hyphens")
            out.append(st)
        return out

    def build_rules(self):
        rules = []
        for i, spec in enumerate(self.links):
            where = f"links[{i}]"
            name = spec.get("rule")
            if name not in RULES:
                raise ScenarioError(f"{where}.rule", f"unknown rule {name!r}; accepted: {', '.join(RULES)}")
            if RULES[name] is None:
                continue
            kwargs = check_fields(RULES[name], spec, where, skip=("rule",))
            try:
                rules.append(RULES[name](**kwargs))
            except (TypeError, ValueError) as exc:
                raise ScenarioError(where, str(exc)) from None
        return rules

    def link_parameters(self) -> dict[str, LinkParams]:
        out = {}
        for kind, params in self.link_params.items():
            if kind not in KINDS:
                raise ScenarioError(f"link_params.{kind}", f"unknown link kind; accepted: {', '.join(KINDS)}")
            out[kind] = LinkParams(**check_fields(LinkParams, params, f"link_params.{kind}"))
        return out

    def bind(self):
        """Build the scene and rules and bind each rule (catches unknown groups and nodes).

        Returns ``(scene, rules)`` ready for :func:`topologies.builder.build_series`.
        """
        scene = self.build_scene()
        rules = self.build_rules()
        self.link_parameters()
        axis = self.axis
        for i, rule in enumerate(rules):
            try:
                rule.bind(scene, axis, self.grazing_km)
            except (RuleError, UnknownGroup, UnknownStation) as exc:
                key = _key_holding(self.links[i], getattr(exc, "name", None))
                where = f"links[{i}].{key}" if key else f"links[{i}]"
                raise ScenarioError(where, str(exc).removeprefix("links: ")) from None
        return scene, rules

    def with_overrides(self, start=None, duration_s=None, step_s=None) -> "Scenario":
        """A copy with the time axis changed (CLI --start/--duration/--step), re-checked."""
        raw = self.raw
        for key, value in (("start", start), ("duration_s", duration_s), ("step_s", step_s)):
            if value is not None:
                raw[key] = value
        return parse_scenario(raw, self._base_dir)


def _key_holding(spec: dict, name: str | None) -> str | None:
    """The key of a rule spec whose value is (or lists) name, to point an error at that field."""
    if name is None:
        return None

    def holds(value) -> bool:
        if isinstance(value, (list, tuple)):
            return any(holds(v) for v in value)
        return isinstance(value, str) and value.lower() == name.lower()

    return next((k for k, v in spec.items() if k != "rule" and holds(v)), None)


def _satellites(spec: dict, where: str, epoch, base_dir: Path, first_satnum: int) -> list[Satellite]:
    c = ConstellationSpec(**check_fields(ConstellationSpec, spec, where))
    if node_safe(c.name) != c.name or not c.name:
        raise ScenarioError(f"{where}.name", f"{c.name!r}: use letters, digits and hyphens")
    given = [k for k in ("preset", "walker", "tle") if getattr(c, k) is not None]
    if len(given) != 1:
        raise ScenarioError(where, "give exactly one of preset, walker or tle")
    if c.preset is not None:
        if c.preset not in PRESETS:
            raise ScenarioError(f"{where}.preset", f"unknown preset {c.preset!r}; accepted: {', '.join(PRESETS)}")
        return PRESETS[c.preset].satellites(c.name, epoch, first_satnum)
    if c.walker is not None:
        kwargs = check_fields(WalkerShell, c.walker, f"{where}.walker")
        kwargs.setdefault("first_satnum", first_satnum)
        try:
            return WalkerShell(**kwargs).satellites(c.name, epoch)
        except ValueError as exc:
            raise ScenarioError(f"{where}.walker", str(exc)) from None
    path = Path(c.tle).expanduser()
    if not path.is_absolute() and not path.exists() and (base_dir / path).exists():
        path = base_dir / path
    try:
        tles = select(load_tle_file(path), c.select)
    except TLEError as exc:
        raise ScenarioError(f"{where}.tle", str(exc)) from None
    if not tles:
        raise ScenarioError(f"{where}.select", f"no satellite in {path} matches {c.select!r}")
    seen: dict[str, int] = {}
    sats = []
    for t in tles:
        node = f"{c.name}-{t.norad_id}"
        seen[node] = seen.get(node, 0) + 1
        if seen[node] > 1:
            continue  # the same object twice in a file: keep the first set
        sats.append(Satellite.from_tle(t, c.name, node))
    if c.planes is not None:
        if c.planes != "auto":
            raise ScenarioError(f"{where}.planes", "accepted: auto")
        assign_planes(sats)
    return sats


def _station(spec, where: str) -> GroundStation:
    if isinstance(spec, str):
        spec = {"name": spec}
    s = StationSpec(**check_fields(StationSpec, spec, where))
    if node_safe(s.name) != s.name:
        raise ScenarioError(f"{where}.name", f"{s.name!r}: use letters, digits and hyphens")
    if s.lat_deg is None and s.lon_deg is None:
        try:
            base = builtin_station(s.name)
        except UnknownStation as exc:
            raise ScenarioError(f"{where}.name", str(exc)) from None
        st = base.with_overrides(alt_m=s.alt_m, min_elevation_deg=s.min_elevation_deg, antennas=s.antennas)
    elif s.lat_deg is None or s.lon_deg is None:
        raise ScenarioError(where, "give both lat_deg and lon_deg (or neither, for a built-in station)")
    else:
        if not -90 <= s.lat_deg <= 90:
            raise ScenarioError(f"{where}.lat_deg", f"{s.lat_deg} is outside -90..90")
        if not -180 <= s.lon_deg <= 360:
            raise ScenarioError(f"{where}.lon_deg", f"{s.lon_deg} is outside -180..360")
        st = GroundStation(s.name, s.lat_deg, s.lon_deg, s.alt_m or 0.0, s.min_elevation_deg, s.antennas)
    if st.antennas is not None and st.antennas < 1:
        raise ScenarioError(f"{where}.antennas", "must be at least 1")
    return st


def parse_scenario(raw: dict, base_dir: Path = Path(".")) -> Scenario:
    """Check a scenario mapping; raise ScenarioError naming the first bad field."""
    if not isinstance(raw, dict):
        raise ScenarioError("scenario", "the file must hold a YAML mapping")
    raw = dict(raw)
    if isinstance(raw.get("start"), (dt.datetime, dt.date)):  # YAML reads bare timestamps itself
        raw["start"] = parse_utc(raw["start"]).isoformat()
    kwargs = check_fields(Scenario, raw, "scenario")
    scen = Scenario(**kwargs, _base_dir=base_dir, _raw=copy.deepcopy(raw))
    try:
        parse_utc(scen.start)
    except (ValueError, TypeError):
        raise ScenarioError("scenario.start", f"{scen.start!r} is not an ISO 8601 UTC time "
                                              "(e.g. 2024-07-16T00:00:00Z)") from None
    if not scen.step_s > 0:
        raise ScenarioError("scenario.step_s", f"must be a positive number of seconds, got {scen.step_s}")
    if not scen.duration_s >= 0:
        raise ScenarioError("scenario.duration_s", f"must be zero or more seconds, got {scen.duration_s}")
    if scen.duration_s / scen.step_s > 10_000_000:
        raise ScenarioError("scenario.step_s", "more than 10 million steps: use a larger step")
    if not scen.constellations:
        raise ScenarioError("scenario.constellations", "at least one constellation is needed")
    for i, spec in enumerate(scen.links):
        coerce(spec, dict, f"links[{i}]")
    return scen


def default_scenario_path() -> Path:
    return Path(str(resources.files("sgemu").joinpath("scenarios/default.yaml")))


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and check a scenario file (the built-in default when path is None)."""
    path = Path(path) if path else default_scenario_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError("scenario", f"no such file: {path}") from None
    except OSError as exc:
        raise ScenarioError("scenario", f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError("scenario", f"{path} is not valid YAML{at}") from None
    return parse_scenario(raw, path.parent)


