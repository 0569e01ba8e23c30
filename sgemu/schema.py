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
import types
import typing


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the field and what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


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
        raise ScenarioError(where, f"expected {_type_name(tp)}, got {value!r}")
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
    raise ScenarioError(where, f"expected {_type_name(tp)}, got {value!r}")


def check_fields(cls, mapping, where: str, skip: tuple[str, ...] = ()) -> dict:
    """Validate mapping against dataclass cls's init fields; return converted kwargs."""
    if not isinstance(mapping, dict):
        raise ScenarioError(where, f"expected a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    out = {}
    for key, value in mapping.items():
        if key in skip:
            continue
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(f"{where}.{key}", f"unknown key{hint}; accepted: {', '.join(fields)}")
        out[key] = coerce(value, hints[key], f"{where}.{key}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in out:
            raise ScenarioError(f"{where}.{name}", "required field is missing")
    return out
