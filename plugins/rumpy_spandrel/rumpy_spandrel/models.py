"""spandrel's architectures as rumpy models: typed parameters, building, input sizes, and
recognising a state dict.

spandrel is imported on first use (building a network, reading weights), never when rumpy
only lists or validates models.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Mapping
from typing import Any, Literal  # noqa: F401  (Literal is used by the evaluated type texts)

import torch

import rumpycore
from rumpycore import ConfigError, UserError, option

from .catalog import CHANNEL_KEYS, ENTRIES, SCALE_KEYS, Entry
from .derive import REQUIRED, constructor, spandrel_classes
from .signatures import SIGNATURES

_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None), "list": list, "Literal": Literal}

CONSTRUCTION_ERRORS = (AssertionError, ValueError, TypeError, RuntimeError, ZeroDivisionError, IndexError, KeyError,
                       NameError)
"""What spandrel's constructors raise for parameters that do not fit together."""


def _bounds(name: str, hint: Any) -> dict[str, float]:
    """Sizes, ratios and rates are never negative; probabilities of dropping are at most 1."""
    numeric = {int, float} & set(typing.get_args(hint) or (hint,)) or hint in (list[int], list[float])
    if not numeric:
        return {}
    if "drop" in name:
        return {"min": 0.0, "max": 1.0}
    return {"min": 0}


def params_class(entry: Entry) -> type:
    """The ``[model.internal_params]`` dataclass of ``entry``, from the generated signature table
    with the catalog's defaults."""
    fields = []
    for name, text, default in SIGNATURES[entry.name]:
        hint = eval(text, {"__builtins__": {}}, _TYPES)  # texts written by derive.type_text: plain types only
        default = entry.defaults.get(name, default)
        source = f"spandrel's {entry.constructor or entry.arch} argument {name}"
        if default == REQUIRED:
            fields.append((name, hint, option(help=source, **_bounds(name, hint))))
        else:
            fields.append((name, hint, option(default, help=source, **_bounds(name, hint))))
    required = [f for f in fields if f[2].default is dataclasses.MISSING and f[2].default_factory is dataclasses.MISSING]
    return dataclasses.make_dataclass(f"{entry.name}Params", fields, kw_only=bool(required),
                                      namespace={"__doc__": f"[model.internal_params] of {entry.name} (from spandrel)."})


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _arguments(entry: Entry, cls: type, params: Any, scale: int) -> dict[str, Any]:
    """Everything passed to ``cls``: the params, the fixed arguments, RGB channels and the scale."""
    names = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {**entry.fixed, **dataclasses.asdict(params)}
    kwargs.update({key: 3 for key in CHANNEL_KEYS if key in names})
    kwargs.update({key: scale for key in SCALE_KEYS if key in names})
    return kwargs


def build(entry: Entry, params: Any, ctx: rumpycore.ModelContext) -> torch.nn.Module:
    """``entry``'s network for the run's scale; parameters spandrel's constructor refuses are one line."""
    cls = constructor(entry, ctx.scale)
    try:
        return cls(**_arguments(entry, cls, params, ctx.scale))
    except CONSTRUCTION_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model.internal_params: {entry.name} cannot be built with these parameters ({reason}); "
                          f"check them against {entry.paper}") from None


def _frozen(params: Any) -> tuple:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in dataclasses.asdict(params).items())


@functools.lru_cache(maxsize=64)
def _size_rule(entry_name: str, frozen: tuple) -> rumpycore.InputSize:
    entry = next(e for e in ENTRIES if e.name == entry_name)
    params = params_class(entry)(**{k: list(v) if isinstance(v, tuple) else v for k, v in frozen})
    scale = 4 if 4 in entry.scales else entry.scales[0]
    descriptor = _describe(entry, build(entry, params, rumpycore.ModelContext(scale=scale)).state_dict())
    need = descriptor.size_requirements
    return rumpycore.InputSize(multiple=need.multiple_of, minimum=max(need.minimum, 1))


def input_size(entry: Entry, params: Any) -> rumpycore.InputSize:
    """What ``entry``'s network with ``params`` needs of its input sides, as spandrel describes it."""
    return _size_rule(entry.name, _frozen(params))


def _describe(entry: Entry, state: Mapping[str, torch.Tensor]) -> Any:
    """spandrel's descriptor of a state dict of ``entry``'s architecture (weights loaded)."""
    from spandrel import MAIN_REGISTRY

    return MAIN_REGISTRY.get(entry.arch).architecture.load(dict(state))


def recognised_architecture(state: Mapping[str, torch.Tensor]) -> str | None:
    """The id of the first of spandrel's architectures (in its detection order) that claims ``state``."""
    from spandrel import MAIN_REGISTRY

    return next((s.architecture.id for s in MAIN_REGISTRY if s.architecture.detect(state)), None)


def detect(entry: Entry, state: Mapping[str, torch.Tensor]) -> rumpycore.DetectedModel | None:
    """``entry``'s parameters, scale and weights when spandrel recognises ``state`` as its network."""
    from spandrel import canonicalize_state_dict

    state = canonicalize_state_dict(dict(state))
    if recognised_architecture(state) != entry.arch:
        return None
    try:
        descriptor = _describe(entry, state)
    except CONSTRUCTION_ERRORS as exc:
        raise UserError(f"spandrel recognises the weights as {entry.arch} but cannot read them "
                        f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
                        ) from None
    model = descriptor.model
    wanted = entry.by_scale.get(descriptor.scale) if entry.by_scale else entry.constructor
    if wanted and type(model).__name__ != wanted:
        if entry.by_scale or type(model).__name__ not in spandrel_classes(entry.arch):
            raise UserError(f"the weights are spandrel's {type(model).__name__} ({entry.arch}), a variant rumpy does "
                            f"not register")
        return None  # another model of the same architecture (RealPLKSR beside PLKSR) claims it
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise UserError(f"the weights are a {entry.name} with {descriptor.input_channels} input and "
                        f"{descriptor.output_channels} output channels; rumpy's models take and give RGB images")
    if descriptor.scale not in entry.scales:
        raise UserError(f"the weights are a x{descriptor.scale} {entry.name}; rumpy registers it for scales "
                        f"{', '.join(str(s) for s in entry.scales)}")
    hyper = {k: _plain(v) for k, v in model.hyperparameters.items()}
    values = {f.name: hyper[f.name] for f in dataclasses.fields(params_class(entry))}
    expected = _arguments(entry, type(model), params_class(entry)(**values), descriptor.scale)
    differing = [k for k, v in expected.items() if k in hyper and _plain(v) != hyper[k]]
    if differing:
        raise UserError(f"the weights are a {entry.name} with {', '.join(f'{k} = {hyper[k]!r}' for k in differing)}, "
                        f"which rumpy's {entry.name} does not offer")
    return rumpycore.DetectedModel(descriptor.scale, values, model.state_dict(),
                                   note=f"{entry.name} x{descriptor.scale} (recognised by spandrel as {entry.arch})")


def spec(entry: Entry) -> rumpycore.ModelSpec:
    """The rumpy model of ``entry``."""
    return rumpycore.ModelSpec(
        name=entry.name,
        build=functools.partial(build, entry),
        params=params_class(entry),
        task="sisr",
        scales=entry.scales,
        summary=entry.summary,
        unsupported=dict(entry.unsupported),
        presets={name: dict(preset.params) for name, preset in entry.presets.items()},
        input_size=functools.partial(input_size, entry),
        detect=functools.partial(detect, entry),
        fallback=entry.fallback,
        paper=entry.paper,
    )
