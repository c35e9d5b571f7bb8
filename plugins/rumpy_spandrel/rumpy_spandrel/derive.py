"""Typed parameters from spandrel's constructor signatures.

Importing spandrel loads every architecture it has (seconds of CPU), which every ``rumpy``
command would pay if the plugin read the signatures when it registers. So the table is
generated once per spandrel release into :mod:`.signatures` (plain literals, read at no cost)
by ``python -m rumpy_spandrel.derive``, and a test checks that it matches the installed
spandrel.

A parameter is kept when its annotation is a plain type (a number, a string, a boolean, a
``Literal``, a list of those, optionally ``| None``) or, without annotation, when its default
is a number, a string, a boolean or a non-empty list or tuple of one kind of those. The rest
(layer classes, callables, ``None`` without a type) keeps its default. Arguments that take the
scale or the channel count come from the run, and an entry's ``fixed`` arguments are not
parameters either.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from .catalog import CHANNEL_KEYS, ENTRIES, SCALE_KEYS, Entry

REQUIRED = "required"
"""The default written for a parameter without one (the catalog's ``defaults`` must give it)."""

_SCALARS = {int: "int", float: "float", bool: "bool", str: "str"}


def spandrel_classes(arch_id: str) -> dict[str, type]:
    """The network classes of spandrel's architecture ``arch_id``, by class name."""
    from spandrel import MAIN_REGISTRY

    architecture = MAIN_REGISTRY.get(arch_id).architecture
    generic = next(base for base in type(architecture).__orig_bases__ if typing.get_args(base))
    model = typing.get_args(generic)[0]
    members = typing.get_args(model) if typing.get_origin(model) is Union else (model,)
    return {cls.__name__: cls for cls in members}


def constructor(entry: Entry, scale: int | None = None) -> type:
    """The class ``entry`` builds (at ``scale`` for a network per scale)."""
    classes = spandrel_classes(entry.arch)
    name = entry.by_scale.get(scale, "") if scale is not None and entry.by_scale else entry.constructor
    if not name:
        if len(classes) != 1:
            raise RuntimeError(f"{entry.arch} has several classes ({', '.join(classes)}); name one in the catalog")
        return next(iter(classes.values()))
    return classes[name]


def type_text(hint: Any) -> str | None:
    """The hint as a plain type's text (``int``, ``list[float]``, ``Literal['a', 'b']``, ``int | None``), or
    None when it is not plain."""
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal and all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (list, tuple) and len(args) == 1 and args[0] in _SCALARS:
        return f"list[{_SCALARS[args[0]]}]"
    if origin in (Union, types.UnionType):
        parts = [type_text(a) if a is not type(None) else "None" for a in args]
        return None if None in parts else " | ".join(parts)
    return None


def default_type(default: Any) -> str | None:
    """The plain type a default implies, or None."""
    if type(default) in _SCALARS:
        return _SCALARS[type(default)]
    if isinstance(default, (list, tuple)) and default:
        kinds = {type(v) for v in default}
        if kinds <= {int, float} and bool not in kinds:
            return "list[float]" if float in kinds else "list[int]"
        if len(kinds) == 1 and kinds <= {bool, str}:
            return f"list[{_SCALARS[kinds.pop()]}]"
    return None


def derive(cls: type, entry: Entry) -> list[tuple[str, str, Any]]:
    """``(name, type text, default)`` of every parameter of ``cls`` that becomes a model key."""
    hints = typing.get_type_hints(cls.__init__)
    rows = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name in SCALE_KEYS or name in CHANNEL_KEYS or name in entry.fixed:
            continue
        default = parameter.default
        text = type_text(hints[name]) if name in hints else None
        if default is inspect.Parameter.empty:
            if text is not None:
                rows.append((name, text, REQUIRED))
            continue
        text = text or default_type(default)
        if text is None or (default is None and "None" not in text):
            continue
        rows.append((name, text, list(default) if isinstance(default, tuple) else default))
    return rows


def table() -> dict[str, list[tuple[str, str, Any]]]:
    """Every registered model's parameters from the installed spandrel, by rumpy model name."""
    return {entry.name: derive(constructor(entry), entry) for entry in ENTRIES}


def render(rows: dict[str, list[tuple[str, str, Any]]]) -> str:
    """The source of :mod:`.signatures` for ``rows``."""
    import spandrel

    lines = [
        f'"""Constructor parameters of spandrel {spandrel.__version__}\'s architectures, by rumpy model name:',
        "(name, type, default). Generated by ``python -m rumpy_spandrel.derive``; do not edit.\"\"\"",
        "",
        f"SPANDREL_VERSION = {spandrel.__version__!r}",
        "",
        "SIGNATURES = {",
    ]
    for model, params in rows.items():
        lines.append(f"    {model!r}: [")
        lines += [f"        {row!r}," for row in params]
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(__file__).with_name("signatures.py")
    target.write_text(render(table()))
    print(f"wrote {target}")
