"""Typed parameter descriptions: dataclasses whose fields carry defaults, ranges and help.

The core describes its own config sections this way, and plugins describe the
parameters of their models, datasets, metrics, schedulers and loggers the same way, so
one validator catches unknown, mistyped and out-of-range values before anything runs::

    @dataclass
    class EDSRParams:
        num_features: int = option(64, min=1, help="channels per residual block")
        num_blocks: int = option(16, min=1, help="number of residual blocks")
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

from .errors import ConfigError

REQUIRED: Any = dataclasses.MISSING

INT_LIMIT = 2**31 - 1
"""Largest magnitude an integer option may take unless it declares its own ``max`` (or ``min``):
larger values are never meant and would overflow sizes and seeds further down."""


def option(
    default: Any = REQUIRED,
    *,
    help: str = "",
    min: float | None = None,
    max: float | None = None,
    aliases: Iterable[str] = (),
    path: bool = False,
    keywords: Iterable[str] = (),
) -> Any:
    """Declare a parameter field: its default (omit it for a required key), bounds and help.

    ``aliases`` are other accepted spellings (for example the original toolbox's names);
    they are folded into the canonical name when a config is read. List and dict defaults
    are copied for each instance. A ``path`` option holds a file or folder: a relative value
    is relative to the config's folder, and the config written into an experiment makes it
    absolute (except the ``keywords`` values, which are not paths, such as ``"on_site"``).
    """
    metadata = {"help": help, "min": min, "max": max, "aliases": tuple(aliases), "path": path,
                "keywords": tuple(keywords)}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ParamInfo:
    """One parameter as shown to users: name, type, default, bounds and help."""

    name: str
    type_name: str
    default: Any
    required: bool
    help: str
    min: float | None
    max: float | None
    aliases: tuple[str, ...]


def describe(cls: type) -> list[ParamInfo]:
    """List the parameters a params dataclass declares, in declaration order."""
    hints = typing.get_type_hints(cls)
    infos = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        infos.append(
            ParamInfo(
                name=f.name,
                type_name=type_name(hints[f.name]),
                default=default,
                required=required,
                help=f.metadata.get("help", ""),
                min=f.metadata.get("min"),
                max=f.metadata.get("max"),
                aliases=f.metadata.get("aliases", ()),
            )
        )
    return infos


def absolute_paths(instance: Any, base: Any) -> dict[str, Any]:
    """The fields of a params dataclass ``instance`` as a dict, ``path`` options made absolute
    against the folder ``base`` (``~`` expanded; keyword values kept)."""
    from .safety import user_path

    values = dataclasses.asdict(instance)
    for f in dataclasses.fields(instance):
        value = values[f.name]
        if f.metadata.get("path") and isinstance(value, str) and value.lower() not in f.metadata.get("keywords", ()):
            values[f.name] = str(user_path(value, base, f.name).resolve())
    return values


def accepted_names(cls: type) -> set[str]:
    """Every spelling (name or alias, lower case) a params dataclass accepts as a key."""
    return {n.lower() for info in describe(cls) for n in (info.name, *info.aliases)}


def typo_distance(a: str, b: str) -> int:
    """Edits (insertions, deletions, substitutions, swaps of neighbours) turning ``a`` into ``b``."""
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        earlier, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], earlier[j - 2] + 1)
    return current[len(b)]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling of (case-insensitive), if any.

    Only likely typos are suggested: at most one edit away for names of up to four letters (for
    three letters or fewer, a letter added, dropped or swapped: ``dan`` is not a typo of ``han``)
    and two for longer ones (see :func:`typo_distance`), or a shortening or lengthening of the
    candidate (``eps`` for ``epsilon``); a merely similar-looking name (``in_features`` for
    ``num_features``) gets no suggestion, since a wrong one misleads more than none.
    """
    wanted = name.lower()
    limit = 1 if len(wanted) <= 4 else 2
    scored = []
    for candidate in candidates:
        lowered = candidate.lower()
        distance = typo_distance(wanted, lowered)
        shorter, longer = sorted((wanted, lowered), key=len)
        other_letter = len(wanted) <= 3 and len(lowered) == len(wanted) and sorted(lowered) != sorted(wanted)
        if (distance <= limit and not other_letter) or (len(shorter) >= 3 and longer.startswith(shorter)):
            similarity = difflib.SequenceMatcher(None, wanted, lowered).ratio()
            scored.append((distance, -similarity, lowered, candidate))
    return min(scored)[3] if scored else None


def unknown_key_message(where: str, key: str, known: Iterable[str]) -> str:
    """The one-line message for a key nobody declared, with the closest known key."""
    known = sorted(known)
    suggestion = closest(key, known)
    if suggestion:
        return f"{where}.{key}: unknown key; did you mean {suggestion}?"
    listing = ", ".join(known) if known else "none"
    return f"{where}.{key}: unknown key; known keys are: {listing}"


def parse(cls: type, raw: Mapping[str, Any] | None, where: str) -> Any:
    """Validate ``raw`` against the params dataclass ``cls`` and return an instance.

    ``where`` is the dotted config path of the table (``training``, ``model.internal_params``)
    used in error messages. Unknown keys, wrong types, values out of range and missing
    required keys raise :class:`ConfigError` naming the key.
    """
    raw = dict(raw or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    spelling = {}
    for f in fields.values():
        spelling[f.name.lower()] = f.name
        for alias in f.metadata.get("aliases", ()):
            spelling[alias.lower()] = f.name
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = spelling.get(str(key).lower())
        if name is None:
            raise ConfigError(unknown_key_message(where, str(key), fields))
        if name in values:
            raise ConfigError(f"{where}.{key}: given twice (also as {name}); keep one")
        values[name] = coerce(value, hints[name], f"{where}.{key}")
        _check_range(values[name], fields[name], f"{where}.{key}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in values:
            hint = f" ({f.metadata['help']})" if f.metadata.get("help") else ""
            raise ConfigError(f"{where}.{name}: missing required key{hint}")
    return cls(**values)


def _check_range(value: Any, f: dataclasses.Field, where: str) -> None:
    low, high = f.metadata.get("min"), f.metadata.get("max")
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        top = high if high is not None or isinstance(item, float) else INT_LIMIT
        bottom = low if low is not None or isinstance(item, float) else -INT_LIMIT
        if bottom is not None and item < bottom:
            raise ConfigError(f"{where}: {item} is below the minimum {bottom}")
        if top is not None and item > top:
            raise ConfigError(f"{where}: {item} is above the maximum {top}")


class _NotFinite(ConfigError):
    """A NaN or infinity where a number is expected."""


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type ``hint`` and return it in canonical form."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _coerce_union(value, args, hint, where)
    if origin is Literal:
        return _coerce_literal(value, args, where)
    if origin in (list, typing.List):
        item_hint = args[0] if args else Any
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and item_hint is not Any:
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected {type_name(hint)}, got {value!r}")
        return [coerce(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{where}: expected {type_name(hint)}, got {value!r}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise _NotFinite(f"{where}: {value!r} is not a finite number; give a real value")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {hint!r} at {where}")


def _coerce_union(value: Any, args: tuple, hint: Any, where: str) -> Any:
    options = [a for a in args if a is not type(None)]
    if value is None and len(options) < len(args):
        return None
    if len(options) == 1:
        return coerce(value, options[0], where)
    # bool before int and int before float, so 3 stays an int where both are allowed.
    order = {bool: 0, int: 1, float: 2}
    for option_hint in sorted(options, key=lambda a: order.get(a, 3)):
        try:
            return coerce(value, option_hint, where)
        except _NotFinite:
            raise  # the right type with a wrong value: no other member of the union fits better
        except ConfigError:
            continue
    raise ConfigError(f"{where}: expected {type_name(hint)}, got {value!r}")


def _coerce_literal(value: Any, args: tuple, where: str) -> Any:
    for allowed in args:
        if isinstance(allowed, str) and isinstance(value, str) and value.lower() == allowed.lower():
            return allowed
        if value == allowed and type(value) is type(allowed):
            return allowed
    choices = ", ".join(repr(a) for a in args)
    raise ConfigError(f"{where}: {value!r} is not one of {choices}")


def type_name(hint: Any) -> str:
    """A short human-readable name for a type hint (``int``, ``list of str``, ``'a' | 'b'``)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (list, typing.List):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is tuple:
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "table"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(hint, str(hint))
