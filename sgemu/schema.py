"""Checking a YAML mapping against typed fields, with one-line errors that name the field.

Scenario sections are checked against the type hints of the dataclasses
that hold them: :func:`check_fields` rejects unknown keys (suggesting the
nearest known one), missing required keys and values of the wrong type, and
raises :class:`ScenarioError` with the dotted path of the offending field,
e.g. ``links[2].policy``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
import types
import typing

import yaml


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the field and what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ScenarioWarning(UserWarning):
    """Legal but suspicious input (e.g. TLEs used days from their epoch); printed as one line."""


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 4
_BRIEF.maxlevel = 2


def key_text(key) -> str:
    """A mapping key as it may appear in a field path: text cut to 40 characters."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def brief(value) -> str:
    """``repr(value)`` cut to a few dozen characters and two levels: safe to put in an error line."""
    return _BRIEF.repr(value)


#: The most YAML nodes a scenario may expand to once its aliases are followed (a bomb: billions).
MAX_YAML_NODES = 100_000
#: The largest scenario file read, in bytes.
MAX_SCENARIO_BYTES = 4_000_000


#: The deepest nesting of [ and { accepted.
MAX_YAML_DEPTH = 100


def _flow_depth(text: str) -> int:
    """The deepest nesting of flow brackets, counted over the raw text (brackets in quotes count too)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader; :func:`load_yaml` checks the node graph before constructing it."""


def _expanded_size(node, memo: dict, budget: int) -> int:
    """How many nodes ``node`` stands for with every alias expanded (stops counting past budget)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = budget + 1  # a node that contains itself expands without end
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, budget)
        if total > budget:
            break
    memo[key] = total
    return total


def load_yaml(text: str, source: str):
    """Parse YAML text safely: no Python objects, no more than :data:`MAX_YAML_NODES` nodes once
    aliases are expanded, no runaway nesting.  Raises ScenarioError naming ``source``, never
    echoing the text."""
    if _flow_depth(text) > MAX_YAML_DEPTH:  # PyYAML's scanner is quadratic in the depth of [ and {
        raise ScenarioError("scenario", f"{source}: nested too deeply (accepted: up to {MAX_YAML_DEPTH} levels)")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise ScenarioError("scenario", f"{source}: its aliases (&anchor/*ref) expand to more than "
                                            f"{MAX_YAML_NODES:,} values; accepted: plain YAML or a few aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError("scenario", f"{source} is not valid YAML{at}") from None
    except RecursionError:
        raise ScenarioError("scenario", f"{source}: nested too deeply (accepted: up to {MAX_YAML_DEPTH} levels)") from None
    finally:
        loader.dispose()


def check_range(value, lo: float, hi: float, where: str, unit: str = "", lo_open: bool = False) -> None:
    """Raise ScenarioError unless lo <= value <= hi (lo < value with lo_open); NaN never passes."""
    ok = isinstance(value, (int, float)) and not math.isnan(value) and (value > lo if lo_open else value >= lo) \
        and value <= hi
    if not ok:
        u = f" {unit}" if unit else ""
        low = f"above {lo:g}" if lo_open else f"{lo:g}"
        accepted = f"more than {lo:g}{u}" if math.isinf(hi) and lo_open else f"{low} to {hi:g}{u}"
        raise ScenarioError(where, f"{brief(value)} is out of range; accepted: {accepted}")


def _type_name(tp) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return origin.__name__
    return {"float": "number", "int": "integer", "str": "text", "bool": "true/false",
            "list": "list", "dict": "mapping", "tuple": "list"}.get(getattr(tp, "__name__", str(tp)), str(tp))


def coerce(value, tp, where: str):
    """Return value converted to type tp (int -> float allowed), else raise ScenarioError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return coerce(value, arg, where)
            except ScenarioError:
                continue
        raise ScenarioError(where, f"expected {_type_name(tp)}, got {brief(value)}")
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
            return float("inf")
    elif tp is str:
        if isinstance(value, str):
            return value
    elif (origin or tp) in (list, tuple):
        if isinstance(value, (list, tuple)):
            args = typing.get_args(tp)
            if args:
                value = [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
            return tuple(value) if (origin or tp) is tuple else list(value)
    elif (origin or tp) is dict:
        if isinstance(value, dict):
            return dict(value)
    else:
        return value
    raise ScenarioError(where, f"expected {_type_name(tp)}, got {brief(value)}")


def check_fields(cls, mapping, where: str, skip: tuple[str, ...] = ()) -> dict:
    """Validate mapping against dataclass cls's init fields; return converted kwargs."""
    if not isinstance(mapping, dict):
        raise ScenarioError(where, f"expected a mapping, got {brief(mapping)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    out = {}
    for key, value in mapping.items():
        if key in skip:
            continue
        if key not in fields:
            close = difflib.get_close_matches(str(key)[:100], list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(f"{where}.{key_text(key)}", f"unknown key{hint}; accepted: {', '.join(fields)}")
        out[key] = coerce(value, hints[key], f"{where}.{key}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in out:
            raise ScenarioError(f"{where}.{name}", "required field is missing")
    return out
