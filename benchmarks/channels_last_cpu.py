"""Does ``channels_last`` speed up a training step on the CPU? One model, both layouts, alternated.

Builds the model as rumpy does (``train_step.py``'s configurations; ``--param key=value``
shrinks it), then times a plain training step (forward, L1, backward, Adam) on random batches
in the default (NCHW) layout and in channels_last, alternating blocks of ``--iters`` steps, and
prints the median ms per step of each layout and their ratio.

    python benchmarks/channels_last_cpu.py --model edsr-baseline --batch 16 --patch 48
    python benchmarks/channels_last_cpu.py --model rcan --param n_resgroups=2 --batch 8 --patch 32
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rumpycore import config as cfg
from rumpycore.training.networks import build_model

from train_step import raw_config


def step_timer(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, metadata: torch.Tensor | None):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def run(iters: int) -> float:
        start = time.perf_counter()
        for _ in range(iters):
            out = model(lr, metadata) if metadata is not None else model(lr)
            loss = torch.nn.functional.l1_loss(out, hr)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return 1000 * (time.perf_counter() - start) / iters

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="edsr-baseline")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="model parameter (int)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--iters", type=int, default=2, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per layout (median reported)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    args.precision, args.channels_last, args.cuda_graph, args.compile, args.device = "fp32", False, False, False, "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_config(args, Path(tmp))
        for setting in args.param:
            key, value = setting.split("=", 1)
            raw["model"]["internal_params"][key] = int(value)
        config = cfg.validate(raw, Path(tmp) / "bench.toml")
    dims = {name: 1 for name in config.model_metadata}
    generator = torch.Generator().manual_seed(0)
    lr = torch.rand(args.batch, 3, args.patch, args.patch, generator=generator)
    hr = torch.rand(args.batch, 3, args.patch * args.scale, args.patch * args.scale, generator=generator)
    metadata = torch.rand(args.batch, sum(dims.values()), generator=generator) if dims else None
    runs = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(0)
        model = build_model(config.primary, config.scale, dims).to(memory_format=layout)
        runs[layout] = step_timer(model, lr.contiguous(memory_format=layout), hr.contiguous(memory_format=layout),
                                  metadata)
        runs[layout](1)  # warm-up
    times = {layout: [] for layout in runs}
    for _ in range(args.blocks):
        for layout, run in runs.items():
            times[layout].append(run(args.iters))
    nchw, nhwc = (statistics.median(times[layout]) for layout in runs)
    params = ", ".join(args.param) or "defaults"
    print(f"| {args.model} ({params}) | {args.batch}, {args.patch} | {torch.get_num_threads()} | {nchw:.0f} | "
          f"{nhwc:.0f} | {nhwc / nchw:.2f} |", flush=True)


if __name__ == "__main__":
    main()
