"""Checking what a live run is asked to do, before anything is built.

The scenario's ``emulation:`` section (routing mode, OSPF options, route
watch, calibration) and the experiments (from the scenario, the command line
or the API) are checked here, without root and without computing links:
every mistake is a :class:`~sgemu.schema.ScenarioError` naming the field (or
the command-line option) and what is accepted.
"""

from __future__ import annotations

import math

from .schema import ScenarioError

OSPF_KEYS = {"hello_s": int, "dead_s": int, "costs": str, "min_cost_change": int, "cost_update_every_s": (int, float),
             "areas": (str, dict), "timers": str, "links": str}
LAYERS = ("LEO", "MEO", "IGSO", "GEO", "GROUND")
EMULATION_KEYS = ("routing", "ospf", "route_watch", "calibrate", "queue_limit_pkts", "bgp")
BGP_KEYS = ("ases", "space_as", "route_reflectors", "keepalive_s", "hold_s")
SHAPING = ("auto", "netem", "tbf", "none")
DYNAMIC_ROUTING = ("ospf", "isis")


def emulation_options(section: dict, routing=None, base_dir=".", where: str = "routing",
                      ground_transit: bool = True) -> dict:
    """The checked ``emulation:`` section: routing (``routing`` overrides it), ospf, route_watch,
    calibrate, queue_limit_pkts.

    ``routing`` in the result is ``"ospf"`` or ``"isis"`` (FRR in the nodes) or ``"static"`` (routes decided
    centrally and installed over netlink); ``strategy`` is then the
    :class:`topologies.strategies.RoutingSpec` deciding them (``static`` = shortest-delay, a
    built-in name, ``python: module:function`` relative to ``base_dir``, a mapping, a callable)."""
    emu = dict(section or {})
    unknown = set(emu) - set(EMULATION_KEYS)
    if unknown:
        raise ScenarioError(f"emulation.{sorted(unknown)[0]}", f"unknown key; accepted: {', '.join(EMULATION_KEYS)}")
    cal = emu.get("calibrate", "auto")
    if not (cal in ("auto", "off") or (_number(cal) and 0 <= cal < 50)):
        raise ScenarioError("emulation.calibrate", f"{cal!r}; accepted: auto, off, or an offset in ms (0 to 50)")
    watch = emu.get("route_watch", "auto")
    if watch not in ("auto", True, False):
        raise ScenarioError("emulation.route_watch", f"{watch!r}; accepted: auto, true, false")
    queue = emu.get("queue_limit_pkts", 1000)
    if not (isinstance(queue, int) and not isinstance(queue, bool) and 1 <= queue <= 1_000_000):
        raise ScenarioError("emulation.queue_limit_pkts", f"{_short(queue)}; accepted: 1 to 1000000 packets")
    where = where if routing is not None else "emulation.routing"
    routing = routing if routing is not None else emu.get("routing", "static")
    mode, strategy = (routing, None) if routing in DYNAMIC_ROUTING else ("static", _strategy(routing, base_dir, where))
    ospf = ospf_options(emu.get("ospf") or {})
    if mode == "isis":
        _isis_options(ospf)
    bgp = bgp_options(emu.get("bgp"), mode, ground_transit)
    return {"routing": mode, "strategy": strategy, "ospf": ospf, "bgp": bgp,
            "route_watch": None if watch == "auto" else watch, "calibrate": cal, "queue_limit_pkts": queue}


def _strategy(value, base_dir, where: str):
    """The routing strategy (:func:`topologies.strategies.parse_routing`); its errors as ScenarioError."""
    from topologies.strategies import StrategyError, parse_routing

    try:
        return parse_routing(value, base_dir, where)
    except StrategyError as exc:
        field, _, why = str(exc).partition(": ")
        if isinstance(value, str) and field == f"{where}.strategy":  # the user wrote `routing: NAME`
            field, why = where, why.replace("accepted: ", "accepted: static, ospf, isis, ", 1)
        raise ScenarioError(field, why) from None


def _isis_options(ospf: dict) -> None:
    """What IS-IS accepts of ``emulation.ospf`` beyond OSPF's checks: one area, a hold time of at most
    100 hellos, hellos of at most 600 s."""
    from emulator.frr import isis_hello_multiplier

    if ospf.get("areas", "single") != "single":
        raise ScenarioError("emulation.ospf.areas", f"{_short(ospf['areas'])} with routing isis; accepted: single "
                                                    "(IS-IS runs one level-2 area here)")
    hello, dead = ospf.get("hello_s", 1), ospf.get("dead_s", 4)
    try:
        isis_hello_multiplier(hello, dead)
    except ValueError as exc:
        raise ScenarioError("emulation.ospf.dead_s" if "100" in str(exc) else "emulation.ospf.hello_s",
                            f"{exc} (routing isis); accepted: hello_s 1 to 600 s, dead_s above it and at most "
                            "100 x hello_s") from None


def bgp_options(bgp, routing: str, ground_transit: bool = True) -> dict | None:
    """The checked ``emulation.bgp`` mapping (None: no BGP): ``ases`` {AS number: [station, ...]},
    ``space_as``, ``route_reflectors`` (a count or satellite names), ``keepalive_s``, ``hold_s``
    (:mod:`emulator.bgp`).  BGP needs an IGP inside the ASes (routing ospf or isis) and stations that
    forward (``ground_transit: true``).  Station and satellite names are checked by :func:`check_bgp_names`."""
    if bgp is None:
        return None
    if not isinstance(bgp, dict):
        raise ScenarioError("emulation.bgp", f"{_short(bgp)}; accepted: a mapping with {', '.join(BGP_KEYS)}")
    unknown = sorted(set(map(str, bgp)) - set(BGP_KEYS))
    if unknown:
        raise ScenarioError(f"emulation.bgp.{unknown[0][:40]}", f"unknown key; accepted: {', '.join(BGP_KEYS)}")
    if routing not in DYNAMIC_ROUTING:
        raise ScenarioError("emulation.bgp", f"with routing {routing!r}; accepted with bgp: routing "
                                             f"{' or '.join(DYNAMIC_ROUTING)} (the IGP inside each AS)")
    if not ground_transit:
        raise ScenarioError("ground_transit", "false with emulation.bgp; accepted: true (stations are their "
                                              "ASes' routers, so they forward)")
    from emulator import bgp as defaults

    space = _asn(bgp.get("space_as", defaults.SPACE_ASN), "emulation.bgp.space_as")
    ases = _bgp_ases(bgp.get("ases", {}), space)
    rr = bgp.get("route_reflectors", defaults.ROUTE_REFLECTORS)
    if not ((isinstance(rr, int) and not isinstance(rr, bool) and 0 <= rr <= 100)
            or (isinstance(rr, list) and rr and all(isinstance(x, str) for x in rr))):
        raise ScenarioError("emulation.bgp.route_reflectors", f"{_short(rr)}; accepted: 0 to 100 (how many "
                                                              "satellites to pick) or a list of satellite names")
    keepalive, hold = bgp.get("keepalive_s", defaults.KEEPALIVE_S), bgp.get("hold_s", defaults.HOLD_S)
    if not (isinstance(keepalive, int) and not isinstance(keepalive, bool) and 1 <= keepalive <= 21845):
        raise ScenarioError("emulation.bgp.keepalive_s", f"{_short(keepalive)}; accepted: 1 to 21845 s")
    if not (isinstance(hold, int) and not isinstance(hold, bool) and max(3, keepalive + 1) <= hold <= 65535):
        raise ScenarioError("emulation.bgp.hold_s", f"{_short(hold)}; accepted: 3 to 65535 s, above keepalive_s")
    return {"ases": ases, "space_asn": space, "route_reflectors": rr, "keepalive_s": keepalive, "hold_s": hold}


def _asn(value, where: str) -> int:
    from emulator.bgp import ASN_RANGE

    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not (isinstance(value, int) and not isinstance(value, bool) and ASN_RANGE[0] <= value <= ASN_RANGE[1]):
        raise ScenarioError(where, f"{_short(value)}; accepted: an AS number {ASN_RANGE[0]} to {ASN_RANGE[1]}")
    return value


def _bgp_ases(ases, space: int) -> dict[int, list[str]]:
    if not isinstance(ases, dict):
        raise ScenarioError("emulation.bgp.ases", f"{_short(ases)}; accepted: a mapping AS number: [station, ...]")
    out: dict[int, list[str]] = {}
    seen: dict[str, int] = {}
    for key, names in ases.items():
        where = f"emulation.bgp.ases.{str(key)[:20]}"
        asn = _asn(key, where)
        if asn == space:
            raise ScenarioError(where, f"is the space AS; accepted: AS numbers other than space_as ({space})")
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            raise ScenarioError(where, f"{_short(names)}; accepted: a list of station names")
        for name in names:
            if name in seen:
                raise ScenarioError(where, f"{name!r} is already in AS {seen[name]}; a station is in one AS")
            seen[name] = asn
        out[asn] = list(names)
    return out


def check_bgp_names(bgp: dict | None, stations, satellites) -> None:
    """Every station of ``emulation.bgp.ases`` a station, every named route reflector a satellite."""
    if not bgp:
        return
    stations, satellites = list(stations), set(satellites)
    for asn, names in bgp["ases"].items():
        for name in names:
            if name not in stations:
                raise ScenarioError(f"emulation.bgp.ases.{asn}", f"{_short(name)} is not a station; accepted: "
                                                                 f"{', '.join(stations)}")
    if isinstance(bgp["route_reflectors"], list):
        for name in bgp["route_reflectors"]:
            if name not in satellites:
                raise ScenarioError("emulation.bgp.route_reflectors", f"{_short(name)} is not a satellite of "
                                                                      "the scenario")
    elif bgp["route_reflectors"] > len(satellites):
        raise ScenarioError("emulation.bgp.route_reflectors", f"{bgp['route_reflectors']}; accepted: 0 to "
                                                              f"{len(satellites)} (the scenario's satellites)")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def ospf_options(ospf) -> dict:
    """The checked ``emulation.ospf`` mapping (see the README for every key)."""
    if not isinstance(ospf, dict):
        raise ScenarioError("emulation.ospf", "expected a mapping")
    for key, value in ospf.items():
        if key not in OSPF_KEYS:
            raise ScenarioError(f"emulation.ospf.{key}", f"unknown key; accepted: {', '.join(OSPF_KEYS)}")
        if not isinstance(value, OSPF_KEYS[key]) or isinstance(value, bool):
            raise ScenarioError(f"emulation.ospf.{key}", f"wrong type {_short(value)}")
    _choice(ospf, "costs", ("delay", "hops"), "delay")
    _choice(ospf, "timers", ("auto", "fast", "large"), "auto")
    _choice(ospf, "links", ("unnumbered", "numbered"), "unnumbered")
    _areas(ospf.get("areas", "single"))
    hello, dead = ospf.get("hello_s", 1), ospf.get("dead_s", 4)
    if not 1 <= hello <= 3600:
        raise ScenarioError("emulation.ospf.hello_s", f"{hello}; accepted: 1 to 3600 s")
    if not 2 <= dead <= 65535:
        raise ScenarioError("emulation.ospf.dead_s", f"{dead}; accepted: 2 to 65535 s")
    if dead <= hello:
        raise ScenarioError("emulation.ospf.dead_s", f"{dead} is not longer than hello_s ({hello}); "
                                                     "accepted: a dead interval above the hello interval")
    every = ospf.get("cost_update_every_s", 1.0)
    if not (_number(every) and every > 0):
        raise ScenarioError("emulation.ospf.cost_update_every_s", f"{_short(every)}; accepted: a positive number of s")
    if ospf.get("min_cost_change", 20) < 0:
        raise ScenarioError("emulation.ospf.min_cost_change", "accepted: 0 or more")
    return dict(ospf)


def _choice(d: dict, key: str, accepted: tuple, default) -> None:
    if d.get(key, default) not in accepted:
        raise ScenarioError(f"emulation.ospf.{key}", f"{_short(d[key])}; accepted: {', '.join(accepted)}")


def _areas(areas) -> None:
    if isinstance(areas, str):
        if areas not in ("single", "per-layer"):
            raise ScenarioError("emulation.ospf.areas", f"{_short(areas)}; accepted: single, per-layer, "
                                                        "or a mapping layer: area")
        return
    from emulator.frr import area_id

    for layer, area in areas.items():
        if str(layer).upper() not in LAYERS:
            raise ScenarioError(f"emulation.ospf.areas.{str(layer)[:40]}", f"unknown layer; accepted: {', '.join(LAYERS)}")
        try:
            area_id(area)
        except (ValueError, TypeError):
            raise ScenarioError(f"emulation.ospf.areas.{layer}", f"{_short(area)} is not an OSPF area "
                                                                 "(like 0.0.0.1)") from None


def _short(value, limit: int = 40) -> str:
    """A value for an error message, never longer than ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_shaping(shaping: str) -> str:
    if shaping not in SHAPING:
        raise ScenarioError("shaping", f"{_short(shaping)}; accepted: {', '.join(SHAPING)}")
    return shaping


def routing_option(text: str | None):
    """``--routing`` as Emulation's ``routing``: ospf, static, a strategy ``NAME[:key=value...]``, or
    ``python: module:function``; None keeps the scenario's."""
    from topologies.strategies import StrategyError, strategy_mapping

    if text is None or text in DYNAMIC_ROUTING or text == "static" or text.startswith("python:"):
        return text
    try:
        mapping = strategy_mapping(text, "--routing")
    except StrategyError as exc:
        raise ScenarioError("--routing", str(exc).partition(": ")[2]) from None
    return mapping if len(mapping) > 1 else mapping["strategy"]


def check_cluster(address, routing: str, strategy=None):
    """``cluster``: the Ray head's GCS address ``HOST:PORT`` or None; delay-shortest static routing
    (the hosts' agents plan their own routes) or OSPF / IS-IS (each host's agent runs FRR in its nodes).
    Whether anything answers there is checked at start."""
    if address is None:
        return None
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or len(address) > 200 or \
            any(c.isspace() or c == "/" for c in address):
        raise ScenarioError("cluster", f"{_short(address)}; accepted: the Ray head's address HOST:PORT "
                                       "(e.g. 10.0.0.1:6379)")
    label = routing if strategy is None else strategy.label
    if label not in ("shortest-delay", *DYNAMIC_ROUTING):
        raise ScenarioError("routing", f"{label!r} across a cluster is not supported yet; accepted with "
                                       f"cluster: static (delay-shortest), {', '.join(DYNAMIC_ROUTING)}")
    return address


def check_speed(speed, where: str = "--speed") -> float:
    if not (_number(speed) and 0 < speed <= 1000):
        raise ScenarioError(where, f"{_short(speed)}; accepted: a number above 0 and at most 1000 "
                                   "(scenario seconds per wall second)")
    return float(speed)


def experiments(scen, cli_pings=(), cli_iperfs=(), default_ping: bool = True) -> list:
    """The scenario's experiments plus the command line's, checked against the stations and times.

    With none at all, a ping between the first two stations (when ``default_ping``).  Errors
    name the option (``--ping``) or the scenario field, and list the stations."""
    from experiments.spec import ExperimentError, Ping, check_experiments, from_cli, parse_experiments

    names = [s.name for s in scen.build_stations()]
    try:
        exps = parse_experiments(scen.experiments)
        cli = from_cli(list(cli_pings or []), list(cli_iperfs or []))
    except ExperimentError as exc:
        raise _as_scenario_error(str(exc)) from None
    if not exps and not cli and default_ping and len(names) >= 2:
        cli = [Ping(names[0], names[1])]
    end_s = scen.axis.duration_s + scen.axis.step_s
    try:
        check_experiments(exps, names, {n.lower() for n in names}, end_s)
        check_experiments(cli, names, {n.lower() for n in names}, end_s, where="--cli")
    except ExperimentError as exc:
        raise _as_scenario_error(_name_cli_option(str(exc), cli), names) from None
    return exps + cli


def _name_cli_option(message: str, cli: list) -> str:
    """``--cli[i].src: ...`` -> ``--ping Beijing:Paris: ...`` (the option the user typed)."""
    if not message.startswith("--cli["):
        return message
    i = int(message[len("--cli["):message.index("]")])
    e = cli[i]
    rest = message.split(":", 1)[1].strip() if ":" in message else message
    return f"--{e.type} {e.src}:{e.dst}: {rest}"


def _as_scenario_error(message: str, stations: list[str] | None = None) -> ScenarioError:
    field, _, why = message.partition(": ")
    if stations and "unknown node" in why:
        why += f"; stations here: {', '.join(stations)}"
    return ScenarioError(field, why)
