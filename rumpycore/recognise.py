"""Models recognised from a weights file: which installed model a state dict belongs to.

``rumpy eval -me FILE -`` and ``rumpy export FILE`` take a community checkpoint without a
config: rumpy reads the file itself (tensors only, see :func:`rumpycore.store.read_weights_file`)
and asks every registered model's ``detect`` whether the weights are its own; the one that
claims them says the scale and parameters, and the model is built from its spec exactly as a
training run would build it, then loaded strictly. A safetensors file written by ``rumpy
export`` names its model, scale and parameters in its metadata; those are used instead of
detection, since a state dict cannot show every parameter (SPAN's ``img_range``, say).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import params as P
from .errors import UserError
from .plugins import Registered, model_registry
from .specs import DetectedModel, ModelSpec
from .store import checkpoints, read_weights_file


@dataclass
class RecognisedModel:
    """A model built from a weights file, with its weights loaded."""

    model: Registered[ModelSpec]
    params: Any
    scale: int
    module: torch.nn.Module
    note: str


def detect(state: Mapping[str, torch.Tensor], where: str) -> tuple[Registered[ModelSpec], DetectedModel]:
    """The one installed model that recognises ``state``; none or several is one line."""
    claims = []
    for entry in model_registry():
        if entry.spec.detect is not None:
            found = entry.spec.detect(state)
            if found is not None:
                claims.append((entry, found))
    if not claims:
        detectors = ", ".join(e.spec.name for e in model_registry() if e.spec.detect is not None)
        raise UserError(f"{where}: no installed model recognises these weights (models that recognise weight "
                        f"files: {detectors or 'none'}); train with init_from instead, naming the model")
    if len(claims) > 1:
        names = ", ".join(f"{e.spec.name} ({e.provider.distribution})" for e, _ in claims)
        raise UserError(f"{where}: several installed models recognise these weights ({names}); pin the plugins "
                        f"to load with RUMPY_LOAD_PLUGINS")
    return claims[0]


def exported_model(path: Path, state: Mapping[str, torch.Tensor],
                   where: str) -> tuple[Registered[ModelSpec], DetectedModel] | None:
    """The model, scale and parameters a ``rumpy export`` safetensors file names in its metadata
    (None for any other file)."""
    if path.suffix.lower() != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if "rumpy_model" not in metadata:
        return None
    name = metadata["rumpy_model"]
    if name not in model_registry():
        raise UserError(f"{where}: {path} holds a {name} exported by rumpy, and no installed plugin provides {name}; "
                        f"install its plugin")
    params = json.loads(metadata.get("params") or "{}")
    return model_registry().get(name), DetectedModel(int(metadata["scale"]), params, state,
                                                     note=f"{name} x{metadata['scale']} (exported by rumpy)")


def load_file_model(path: Path, where: str, device: torch.device | str = "cpu") -> RecognisedModel:
    """The model a weights file holds, built by its plugin and loaded with its weights."""
    from .training.networks import build_module

    if not path.is_file():
        raise UserError(f"{where}: {path} does not exist; check the path")
    state = read_weights_file(path, None, where)
    entry, found = exported_model(path, state, where) or detect(state, f"{where}: {path}")
    params = P.parse(entry.spec.params, dict(found.params), f"{where} ({entry.spec.name} detected)")
    module = build_module(entry.spec, params, found.scale, where=where)
    checkpoints.load_weights(module, dict(found.weights), str(path),
                             f"{entry.spec.name}'s detection does not match its own build; report it to "
                             f"{entry.provider.distribution}")
    return RecognisedModel(entry, params, found.scale, module.to(device).eval(), found.note or entry.spec.name)
