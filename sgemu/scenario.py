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
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from orbits.planes import assign_planes
from orbits.presets import PRESETS
from orbits.satellite import LAYERS, Satellite, node_safe, tle_node_names
from orbits.mobile import MoverError, mover_station
from orbits.scene import Scene, UnknownGroup
from orbits.stations import GroundStation, UnknownStation, builtin_station
from orbits.timebase import TimeAxis, parse_utc
from orbits.tle import TLEError, compile_patterns, load_tle_file, select
from orbits.walker import WalkerShell
from topologies.fiber_links import Fiber
from topologies.ground_links import GroundAccess
from topologies.relay_links import InterLayer
from topologies.rules import KINDS, LinkParams
from topologies.shell_links import NearestK, PlusGrid, Ring, RuleError

from .schema import (MAX_SCENARIO_BYTES, ScenarioError, ScenarioWarning, brief, check_fields, check_range, coerce,
                     key_text, load_yaml)

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

#: Longest station and constellation names: node names end up in namespace names
#: (``sgemu-<tag>-<node>``) and FRR socket paths (``/var/run/frr/sgemu-<tag>-<node>/zserv.api``, 107 bytes).
MAX_STATION_NAME = 40
MAX_SHELL_NAME = 24
#: Words a constellation may not be called: they name groups of their own in link rules.
RESERVED_SHELLS = ("ground", "shell", "layer", "all")
#: A scenario name becomes a directory name (``runs/<name>-<time>``).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Years a scenario may start or end in (SGP4 and the built-in time scale are meaningless far outside).
YEARS = (1957, 2200)
#: TLEs this far from the scenario window get a warning / are refused (days).
TLE_WARN_DAYS = 7.0
TLE_MAX_DAYS = 365.0

#: Ranges of numeric keys, wherever they appear in a link rule or a station (lo, hi, unit, lo excluded?).
RANGES = {
    "min_elevation_deg": (-10.0, 90.0, "deg", False),
    "max_range_km": (0.0, float("inf"), "km", True),
    "max_lat_deg": (0.0, 90.0, "deg", False),
    "k": (1, 1000, "", False),
    "antennas": (1, 1000, "", False),
    "route_factor": (1.0, 10.0, "", False),
    "lookahead_s": (0.0, 86400.0, "s", False),
    "alt_m": (-500.0, 20000.0, "m", False),
    "slot_shift": (-1000, 1000, "", False),
    "handover_interval_s": (0.0, 86400.0, "s", True),
    # Walker shells
    "planes": (1, 1000, "", False),
    "sats_per_plane": (1, 1000, "", False),
    "inclination_deg": (0.0, 180.0, "deg", False),
    "altitude_km": (160.0, 100_000.0, "km", False),
    "mean_motion_rev_day": (0.05, 17.0, "rev/day", False),
    "phasing": (0, 1000, "", False),
    "eccentricity": (0.0, 0.95, "", False),
    "raan_spread_deg": (0.0, 360.0, "deg", False),
    "raan_offset_deg": (-360.0, 360.0, "deg", False),
}
#: Ranges of ``link_params.<kind>`` values.
LINK_PARAM_RANGES = {"capacity_mbps": (0.0, 100_000.0, "Mbit/s", True), "loss_pct": (0.0, 100.0, "%", False)}


def check_ranges(spec: dict, where: str) -> None:
    """Check every numeric key of spec listed in :data:`RANGES` (mappings per layer included)."""
    for key, value in spec.items():
        if key not in RANGES or value is None:
            continue
        lo, hi, unit, lo_open = RANGES[key]
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for sub, v in items:
            if sub is not None and str(sub).upper() not in LAYERS:
                raise ScenarioError(f"{where}.{key}.{key_text(sub)}", f"unknown layer; accepted: "
                                                                       f"{', '.join(l.lower() for l in LAYERS)}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue  # wrong types are reported by check_fields
            check_range(v, lo, hi, f"{where}.{key}" + (f".{sub}" if sub is not None else ""), unit, lo_open)


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
    link_budget: dict = field(default_factory=dict)
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
                raise ScenarioError(f"constellations[{i}].name", f"{brief(name)} is already the name of a constellation")
            seen.add(name.lower() if isinstance(name, str) else name)
            window = (epoch, epoch + dt.timedelta(seconds=self.duration_s))
            sats += _satellites(spec, f"constellations[{i}]", window, self._base_dir,
                                90001 + 2000 * i)
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
            if not isinstance(name, str) or name not in RULES:
                raise ScenarioError(f"{where}.rule", f"unknown rule {brief(name)}; accepted: {', '.join(RULES)}")
            if RULES[name] is None:
                continue
            kwargs = check_fields(RULES[name], spec, where, skip=("rule",))
            check_ranges(kwargs, where)
            try:
                rules.append(RULES[name](**kwargs))
            except (TypeError, ValueError) as exc:
                raise ScenarioError(where, str(exc)) from None
        return rules

    def link_parameters(self) -> dict[str, LinkParams]:
        out = {}
        for kind, params in self.link_params.items():
            if kind not in KINDS:
                raise ScenarioError(f"link_params.{key_text(kind)}", f"unknown link kind; accepted: {', '.join(KINDS)}")
            kwargs = check_fields(LinkParams, params, f"link_params.{kind}")
            for key, value in kwargs.items():
                if value is not None and key in LINK_PARAM_RANGES:
                    lo, hi, unit, lo_open = LINK_PARAM_RANGES[key]
                    check_range(value, lo, hi, f"link_params.{kind}.{key}", unit, lo_open)
            out[kind] = LinkParams(**kwargs)
        return out

    def link_budget_for(self, scene):
        """The ``link_budget`` section bound to scene's nodes (:class:`topologies.linkbudget.LinkBudget`), or None."""
        from topologies.linkbudget import BudgetError, LinkBudget, parse_link_budget

        if not self.link_budget:
            return None
        try:
            entries = parse_link_budget(self.link_budget, check_fields)
            stations = {g.name: (g.lat_deg, g.lon_deg, g.alt_m) for g in scene.stations}
            return LinkBudget(entries, scene.node_names, scene.node_shell, scene.node_layer, stations)
        except BudgetError as exc:
            raise ScenarioError(exc.field, str(exc).removeprefix(f"{exc.field}: ")) from None

    def bind(self):
        """Build the scene and rules and bind each rule (catches unknown groups and nodes).

        Returns ``(scene, rules)`` ready for :func:`topologies.builder.build_series`.
        """
        scene = self.build_scene()
        rules = self.build_rules()
        self.link_parameters()
        self.link_budget_for(scene)
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


def _check_shell_name(name: str, where: str) -> None:
    if not name or node_safe(name) != name or len(name) > MAX_SHELL_NAME:
        raise ScenarioError(f"{where}.name", f"{brief(name)}: use up to {MAX_SHELL_NAME} letters, digits and hyphens")
    if name.lower() in RESERVED_SHELLS:
        raise ScenarioError(f"{where}.name", f"{name!r} names a group of its own in link rules; "
                                             f"accepted: any other name (not {', '.join(RESERVED_SHELLS)})")


def _satellites(spec: dict, where: str, window, base_dir: Path, first_satnum: int) -> list[Satellite]:
    """The satellites of one ``constellations[]`` entry; ``window`` is the scenario's (start, end) UTC."""
    c = ConstellationSpec(**check_fields(ConstellationSpec, spec, where))
    _check_shell_name(c.name, where)
    given = [k for k in ("preset", "walker", "tle") if getattr(c, k) is not None]
    if len(given) != 1:
        raise ScenarioError(where, "give exactly one of preset, walker or tle")
    if c.preset is not None:
        if c.preset not in PRESETS:
            raise ScenarioError(f"{where}.preset", f"unknown preset {brief(c.preset)}; accepted: {', '.join(PRESETS)}")
        return PRESETS[c.preset].satellites(c.name, window[0], first_satnum)
    if c.walker is not None:
        kwargs = check_fields(WalkerShell, c.walker, f"{where}.walker")
        check_ranges(kwargs, f"{where}.walker")
        kwargs.setdefault("first_satnum", first_satnum)
        try:
            return WalkerShell(**kwargs).satellites(c.name, window[0])
        except ValueError as exc:
            raise ScenarioError(f"{where}.walker", str(exc)) from None
    return _tle_satellites(c, where, window, base_dir)


def tle_path(tle: str, base_dir: Path) -> Path:
    """A ``tle:`` path as given, else relative to the scenario file's folder."""
    path = Path(tle).expanduser()
    if not path.is_absolute() and not path.exists() and (base_dir / path).exists():
        path = base_dir / path
    return path


def _tle_satellites(c: ConstellationSpec, where: str, window, base_dir: Path) -> list[Satellite]:
    try:
        compile_patterns(c.select)
    except TLEError as exc:
        raise ScenarioError(f"{where}.select", str(exc).removeprefix("select: ")) from None
    path = tle_path(c.tle, base_dir)
    try:
        tles = select(load_tle_file(path), c.select)
    except TLEError as exc:
        raise ScenarioError(f"{where}.tle", str(exc)) from None
    if not tles:
        raise ScenarioError(f"{where}.select", f"no satellite in {path} matches {brief(c.select)}")
    first: dict[int, object] = {}
    for t in tles:
        first.setdefault(t.norad_id, t)  # the same object twice in a file: keep the first set
    tles = list(first.values())
    _check_epochs(tles, where, window)
    nodes = tle_node_names(c.name, [t.name for t in tles], [t.norad_id for t in tles])
    sats = []
    for t, node in zip(tles, nodes):
        sat = Satellite.from_tle(t, c.name, node)
        if sat.satrec.error:
            raise ScenarioError(f"{where}.tle", f"{path}: SGP4 cannot use the set of catalogue number "
                                                f"{t.norad_id} (error {sat.satrec.error})")
        sats.append(sat)
    if c.planes is not None:
        if c.planes != "auto":
            raise ScenarioError(f"{where}.planes", "accepted: auto")
        assign_planes(sats)
    return sats


def _check_epochs(tles, where: str, window) -> None:
    """Refuse element sets more than :data:`TLE_MAX_DAYS` from the scenario window; warn past :data:`TLE_WARN_DAYS`."""
    start, end = window
    worst, worst_tle = 0.0, None
    for t in tles:
        e = t.epoch
        days = max((start - e).total_seconds(), (e - end).total_seconds(), 0.0) / 86400.0
        if days > worst:
            worst, worst_tle = days, t
    if worst_tle is None:
        return
    span = f"{worst / 365.25:.1f} years" if worst >= 365.25 else f"{worst:.1f} days"
    what = (f"the set of catalogue number {worst_tle.norad_id} (epoch {worst_tle.epoch:%Y-%m-%d}) is {span} from the "
            f"scenario window ({start:%Y-%m-%d} to {end:%Y-%m-%d})")
    if worst > TLE_MAX_DAYS:
        raise ScenarioError(f"{where}.tle", f"{what}; SGP4 positions that far from the epoch are not positions: "
                                            f"use element sets within {TLE_MAX_DAYS:g} days of the scenario")
    if worst > TLE_WARN_DAYS:
        warnings.warn(ScenarioWarning(f"{where}.tle: {what}; LEO positions drift kilometres per day away "
                                      f"from the epoch"), stacklevel=2)


def _station(spec, where: str) -> GroundStation:
    if isinstance(spec, str):
        spec = {"name": spec}
    kwargs = check_fields(StationSpec, spec, where)
    check_ranges(kwargs, where)
    s = StationSpec(**kwargs)
    if not s.name or node_safe(s.name) != s.name or len(s.name) > MAX_STATION_NAME:
        raise ScenarioError(f"{where}.name", f"{brief(s.name)}: use up to {MAX_STATION_NAME} letters, digits and "
                                             "hyphens")
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
    if not NAME_RE.fullmatch(scen.name):
        raise ScenarioError("scenario.name", f"{brief(scen.name)}: it names run directories; accepted: up to 64 "
                                             "letters, digits, '.', '_' and '-', starting with a letter or digit")
    _check_time_axis(scen)
    check_range(scen.grazing_km, 0.0, 10_000.0, "scenario.grazing_km", "km")
    if not scen.constellations:
        raise ScenarioError("scenario.constellations", "at least one constellation is needed")
    for i, spec in enumerate(scen.links):
        coerce(spec, dict, f"links[{i}]")
    return scen


def _check_time_axis(scen: Scenario) -> None:
    try:
        start = parse_utc(scen.start)
    except (ValueError, TypeError, OverflowError):
        raise ScenarioError("scenario.start", f"{brief(scen.start)} is not an ISO 8601 UTC time "
                                              "(e.g. 2024-07-16T00:00:00Z)") from None
    check_range(scen.step_s, 0.0, 86_400.0, "scenario.step_s", "s", lo_open=True)
    check_range(scen.duration_s, 0.0, 100 * 365.25 * 86400, "scenario.duration_s", "s")
    if scen.step_s > scen.duration_s > 0:
        raise ScenarioError("scenario.step_s", f"{scen.step_s:g} s is longer than the duration ({scen.duration_s:g} s); "
                                               "accepted: a step up to the duration")
    if scen.duration_s / scen.step_s > 10_000_000:
        raise ScenarioError("scenario.step_s", "more than 10 million steps: use a larger step")
    end = start + dt.timedelta(seconds=scen.duration_s) if start.year < 9999 else start
    if not (YEARS[0] <= start.year and end.year < YEARS[1] and start.year < YEARS[1]):
        raise ScenarioError("scenario.start", f"{start:%Y-%m-%d} to {end:%Y-%m-%d} is outside the years SGP4 and the "
                                              f"time scale cover; accepted: {YEARS[0]} to {YEARS[1] - 1}")


def default_scenario_path() -> Path:
    return Path(str(resources.files("sgemu").joinpath("scenarios/default.yaml")))


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and check a scenario file (the built-in default when path is None)."""
    path = Path(path) if path else default_scenario_path()
    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError("scenario", f"{path} is larger than {MAX_SCENARIO_BYTES // 1_000_000} MB; "
                                            "accepted: a scenario YAML file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError("scenario", f"no such file: {path}") from None
    except IsADirectoryError:
        raise ScenarioError("scenario", f"{path} is a directory; accepted: a scenario YAML file") from None
    except OSError as exc:
        raise ScenarioError("scenario", f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError("scenario", f"{path} is not UTF-8 text (byte {exc.start}); accepted: a UTF-8 "
                                        "YAML file") from None
    return parse_scenario(load_yaml(text, str(path)), path.parent)
