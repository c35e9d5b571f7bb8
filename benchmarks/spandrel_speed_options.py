"""Which speed options each spandrel architecture honours, found by trying them.

For every model of ``rumpy-spandrel`` (default parameters, x4 or x1), one training step
(forward, L1 loss, backward) on a small random batch runs in fp32, then under each option:
``bf16`` (CPU autocast), ``channels_last`` (model and input in NHWC) and, with ``--compile``,
``torch.compile`` (inductor). An option fails when the step raises or its loss is not
finite; the table prints the first line of the error. Failures belong in the model's
``unsupported`` entry of ``plugins/rumpy_spandrel/rumpy_spandrel/catalog.py``.

    OMP_NUM_THREADS=1 python benchmarks/spandrel_speed_options.py [--compile] [--models SwinIR SPAN]
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from rumpycore import params as P
from rumpycore.plugins import model_registry
from rumpycore.training.networks import build_module


def step(module: torch.nn.Module, image: torch.Tensor, option: str) -> float:
    """One training step's loss under ``option`` (``fp32``, ``bf16``, ``channels_last``, ``compile``)."""
    forward = module
    if option == "channels_last":
        module = module.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    if option == "compile":
        forward = torch.compile(module)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if option == "bf16" else contextlib.nullcontext()
    with autocast:
        output = forward(image)
    loss = output.float().abs().mean()
    loss.backward()
    return float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (slow: minutes per model)")
    parser.add_argument("--models", nargs="*", help="model names (default: every rumpy-spandrel model)")
    args = parser.parse_args()
    options = ["bf16", "channels_last", *(["compile"] if args.compile else [])]
    print(f"| model | {' | '.join(options)} |\n|---|{'---|' * len(options)}")
    for entry in model_registry():
        if entry.provider.distribution != "rumpy-spandrel" or (args.models and entry.spec.name not in args.models):
            continue
        spec = entry.spec
        params = P.parse(spec.params, {}, spec.name)
        scale = 4 if 4 in spec.scales else spec.scales[0]
        rule = spec.size_rule(params)
        side = rule.padded(max(16, rule.minimum))
        cells = []
        for option in options:
            torch.manual_seed(0)
            module = build_module(spec, params, scale)
            try:
                loss = step(module, torch.rand(2, 3, side, side), option)
                cells.append("ok" if torch.isfinite(torch.tensor(loss)) else f"non-finite loss {loss}")
            except Exception as exc:  # what fails, and how, is what this script reports
                text = str(exc).strip().splitlines()[0][:90] if str(exc).strip() else type(exc).__name__
                cells.append(f"fails: {type(exc).__name__}: {text}")
        print(f"| {spec.name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
