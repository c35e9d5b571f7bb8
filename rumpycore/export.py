"""``rumpy export``: a trained model (a rumpy experiment and epoch, or a weights file an installed
plugin recognises) to ONNX or safetensors.

ONNX files take ``lr`` (``N x 3 x H x W``, RGB in [0, 1], any height and width) and give
``sr``; they are exported by PyTorch's TorchScript-based exporter with dynamic batch, height
and width, then run by onnxruntime on a check image of another size than the one traced, and
refused (nothing written) unless they agree with PyTorch within ``TOLERANCE``. safetensors
files hold the model's state dict in rumpy's layout (what ``init_from = { file = ... }`` and
``rumpy eval --model_file`` read) with the model's name, scale and parameters as metadata.
A network the exporter cannot trace is one line saying why.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write_bytes
from .data.images import load_rgb
from .errors import UserError

TOLERANCE = 1e-4
"""Largest difference between the ONNX file and PyTorch accepted on the check image (fp32)."""
TRACE_SIZE = (37, 29)
"""LR height and width the network is traced at: odd, so a shape fixed by the trace cannot pass the check."""
OPSET = 17


@dataclass
class ExportSource:
    """The model to export: its module (evaluation mode, CPU), name, scale and parameters."""

    module: torch.nn.Module
    name: str
    scale: int
    params: Any
    label: str


@dataclass
class ExportReport:
    """What was written, and for ONNX how far onnxruntime is from PyTorch on the check image."""

    path: Path
    max_difference: float | None = None
    checked_on: str = ""


_BOILERPLATE = (" Please feel free to request support", " [Caused by the value")
"""Where PyTorch's exporter errors stop saying why and start asking for pull requests or dumping values."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    for marker in _BOILERPLATE:
        line = line.split(marker)[0]
    return line.rstrip(". ")[:300]


def check_image(path: Path | None) -> tuple[torch.Tensor, str]:
    """The LR image the ONNX file is checked on (``1 x 3 x H x W`` in [0, 1]) and its description:
    the given file, or a smooth synthetic pattern when none is given."""
    if path is None:
        y, x = torch.meshgrid(torch.linspace(0, 1, 45), torch.linspace(0, 1, 52), indexing="ij")
        image = torch.stack([x, y, (x * 7).sin() * (y * 5).cos() * 0.5 + 0.5]).unsqueeze(0)
        return image.float(), "a synthetic 52x45 pattern (give --check_image for a real image)"
    if not path.is_file():
        raise UserError(f"export.check_image: {path} does not exist; check the path")
    pixels, _ = load_rgb(path)
    image = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0).float().div(255.0)
    return image, f"{path.name} ({pixels.shape[1]}x{pixels.shape[0]})"


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Discard what native code writes to standard output meanwhile: PyTorch's TorchScript
    exporter logs its whole graph there (through C++) when it fails, which would bury the one
    line that says why."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        libc.fflush(None)  # C stdio buffers what C++ wrote: drop it into /dev/null before fd 1 returns
        os.dup2(saved, 1)
        os.close(saved)


def onnx_bytes(source: ExportSource) -> bytes:
    """The ONNX file of ``source.module`` with dynamic batch, height and width."""
    buffer = io.BytesIO()
    dummy = torch.rand(1, 3, *TRACE_SIZE)
    axes = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "sr_height", 3: "sr_width"}}
    try:
        with warnings.catch_warnings(), torch.no_grad(), _native_stdout_silenced():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(source.module, (dummy,), buffer, dynamo=False, input_names=["lr"],
                              output_names=["sr"], dynamic_axes=axes, opset_version=OPSET)
    except Exception as exc:  # the exporter raises many kinds of errors for operations it cannot express
        raise UserError(f"{source.label} cannot be exported to ONNX: {_first_line(exc)}") from None
    return buffer.getvalue()


def onnx_difference(data: bytes, source: ExportSource, image: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime running ``data`` and PyTorch on ``image``."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        exported = session.run(None, {"lr": image.numpy()})[0]
    except Exception as exc:  # onnxruntime's errors have no common base class
        raise UserError(f"{source.label}: the exported ONNX file does not run in onnxruntime on the check image: "
                        f"{_first_line(exc)}") from None
    with torch.no_grad():
        reference = source.module(image).numpy()
    if exported.shape != reference.shape:
        raise UserError(f"{source.label}: the exported ONNX file gives {exported.shape} on the check image where "
                        f"PyTorch gives {reference.shape} (a shape the trace fixed); it cannot be exported")
    return float(np.abs(exported - reference).max())


def safetensors_bytes(source: ExportSource) -> bytes:
    """The state dict as safetensors, with the model's name, scale and parameters as metadata."""
    from safetensors.torch import save

    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in source.module.state_dict().items()}
    metadata = {"rumpy_model": source.name, "scale": str(source.scale),
                "params": json.dumps(asdict(source.params) if source.params is not None else {})}
    return save(tensors, metadata=metadata)


def export(source: ExportSource, out: Path, image_path: Path | None = None) -> ExportReport:
    """Write ``source`` to ``out`` (``.onnx`` or ``.safetensors``, by its suffix); nothing is
    written unless the ONNX check passes."""
    if out.suffix.lower() == ".safetensors":
        atomic_write_bytes(out, safetensors_bytes(source))
        return ExportReport(out)
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError("rumpy export to ONNX needs the onnx and onnxruntime packages: pip install "
                        "'rumpycore[export]'") from None
    image, described = check_image(image_path)
    data = onnx_bytes(source)
    difference = onnx_difference(data, source, image)
    if not difference <= TOLERANCE:
        raise UserError(f"{source.label}: the exported ONNX file differs from PyTorch by {difference:.3g} on "
                        f"{described} (more than {TOLERANCE:g}); nothing was written")
    atomic_write_bytes(out, data)
    return ExportReport(out, difference, described)


def experiment_source(folder: Path, epoch: int | str) -> ExportSource:
    """The ``[model]`` network of a rumpy experiment at ``epoch`` (its averaged weights when kept)."""
    from . import config as cfg
    from .store import checkpoints, experiment_root, resolve_epoch
    from .training.networks import inference_networks

    where = "export.model_and_epoch"
    path = folder / "config.toml"
    if not path.is_file():
        raise UserError(f"{where}: {folder} has no config.toml; point it at an experiment folder written by rumpy train")
    try:
        config = cfg.validate(cfg.read_toml(path), path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    if config.task.spec.output != "image" or config.model_metadata or config.model.spec.inputs:
        raise UserError(f"{where}: {config.model.spec.name} does not map an LR image alone to an SR image (it is a "
                        f"{config.task_name} model, or takes metadata or interpolated inputs); export supports "
                        f"image-to-image models")
    checkpoint, number = resolve_epoch(folder, epoch, experiment_root(folder), where)
    state = checkpoints.load(checkpoint)
    module = inference_networks(config, {}, state, torch.device("cpu"), checkpoint)[config.primary.role].module
    return ExportSource(module, config.model.spec.name, config.scale, config.model_params,
                        f"{config.model.spec.name} ({folder.name}, epoch {number})")


def file_source(path: Path) -> ExportSource:
    """The model a weights file holds, as an installed plugin recognises it."""
    from .recognise import load_file_model

    found = load_file_model(path, "export.model_file")
    return ExportSource(found.module, found.model.spec.name, found.scale, found.params,
                        f"{found.model.spec.name} ({path.name})")
