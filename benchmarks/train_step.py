"""Training-step speed: rumpy's trainer against a minimal hand-written PyTorch loop.

Both run in this one process on the same model, batch shapes and speed options:

(a) hand-written: float batches already on the device; forward (autocast if asked), L1,
    zero_grad, backward, Adam step.
(b) rumpy: the real epoch loop of ``rumpycore.training.trainer.Trainer`` (uint8 batches moved
    to the device and converted there, the task's step through the network's step runner, the
    run's callbacks: the lagged non-finite check, the console logger's running loss) fed from
    batches held in memory, so data loading is not part of the comparison.

The two alternate (a, b, a, b, ...) and each reports the median over its blocks of the mean
time per iteration. Example:

    python benchmarks/train_step.py --model edsr-baseline --batch 16 --patch 48 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rumpycore import config as cfg
from rumpycore import store
from rumpycore.data.cache import CachePlan
from rumpycore.data.loaders import ConcatSets
from rumpycore.data.metadata import MetadataScaling
from rumpycore.tasks.base import TaskContext
from rumpycore.training.distributed import Distributed
from rumpycore.training.networks import build_model, build_networks
from rumpycore.training.run import Run, _callbacks
from rumpycore.training.setup import DataBundle, Loaders
from rumpycore.training.speed import SpeedSettings, apply_backend_flags
from rumpycore.training.trainer import Trainer

MODELS = {
    "edsr-baseline": ("EDSR", {"num_features": 64, "num_blocks": 16, "res_scale": 1.0}),
    "edsr-reduced": ("EDSR", {"num_features": 32, "num_blocks": 4, "res_scale": 1.0}),
    "edsr": ("EDSR", {"num_features": 256, "num_blocks": 32, "res_scale": 0.1}),
    "rcan": ("RCAN", {}),
    "sftmd": ("SFTMD", {}),
}


class MemoryBatches:
    """A stand-in loader: the same pre-made uint8 batches every epoch, with the interface the
    trainer uses (``sampler.set_epoch``, ``batch_size``, ``len``)."""

    class _Sampler:
        def set_epoch(self, epoch: int, skip: int = 0) -> None:
            pass

    def __init__(self, batches: list[dict], batch_size: int) -> None:
        self.batches = batches
        self.batch_size = batch_size
        self.sampler = self._Sampler()

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class PeakMemory:
    """Peak GPU memory allocated inside the block; None on the CPU.

    Both variants share one process, so the CPU's resident-set size cannot be split between
    them: the CPU column is left empty rather than filled with a number that misleads.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: int | None = None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_config(args: argparse.Namespace, folder: Path) -> dict:
    name, params = MODELS[args.model]
    metadata = {"metadata": ["blur_sigma"]} if name == "SFTMD" else {}
    return {
        "experiment": "bench",
        "experiment_save_loc": str(folder),
        "training": {"num_epochs": 1, "aim_track": False, "precision": args.precision,
                     "channels_last": args.channels_last, "cuda_graph": args.cuda_graph, "compile": args.compile,
                     "gpu": "off" if args.device == "cpu" else "single", "save_samples": False},
        "model": {"name": name, "internal_params": {"scale": args.scale, **params, **metadata}},
        "data": {"batch_size": args.batch, "training_sets": {"t": {"lr": "x", "hr": "y"}},
                 "eval_sets": {"e": {"lr": "x", "hr": "y"}}},
    }


def make_batches(args: argparse.Namespace, count: int, metadata_size: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    hr_size = args.patch * args.scale
    batches = []
    for _ in range(count):
        batch = {
            "lr": torch.randint(0, 256, (args.batch, 3, args.patch, args.patch), dtype=torch.uint8, generator=generator),
            "hr": torch.randint(0, 256, (args.batch, 3, hr_size, hr_size), dtype=torch.uint8, generator=generator),
            "name": ["x"] * args.batch,
        }
        if metadata_size:
            batch["metadata"] = torch.rand(args.batch, metadata_size, generator=generator)
        if args.device != "cpu":
            batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        batches.append(batch)
    return batches


def build_rumpy(args: argparse.Namespace, folder: Path, device: torch.device, batches: list[dict]) -> Trainer:
    """rumpy's trainer for the benchmark's config, its loader replaced by ``batches`` in memory."""
    raw = raw_config(args, folder)
    config = cfg.validate(raw, folder / "bench.toml")
    speed = SpeedSettings(precision=args.precision, channels_last=args.channels_last, cuda_graph=args.cuda_graph,
                          compile=args.compile, optimizer_impl="fused" if device.type == "cuda" else "default")
    apply_backend_flags(speed, device)
    metadata_dims = {name: 1 for name in config.model_metadata}
    scaling = (MetadataScaling(metadata_dims, "none", np.zeros(len(metadata_dims)), np.ones(len(metadata_dims)))
               if metadata_dims else None)
    torch.manual_seed(0)
    networks = build_networks(config, metadata_dims, device, speed, len(batches), wrap=lambda module: module)
    task = config.task.spec.build(config.task_params, TaskContext(
        networks=networks, device=device, scale=config.scale, memory_format=speed.memory_format, metadata=scaling))
    plan = store.plan(config.save_loc, config.experiment, config.training)
    ddp = Distributed()
    run = Run(config, plan, device, ddp, speed, DataBundle(ConcatSets([]), {}, metadata_dims),
              Loaders(MemoryBatches(batches, args.batch), {}, CachePlan(budget=0)), networks, task, {},
              _callbacks(config, plan, networks, ddp, raw), raw)
    return Trainer(run)


def hand_written(args: argparse.Namespace, model: torch.nn.Module, device: torch.device, speed: SpeedSettings):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, **({"fused": True} if device.type == "cuda" else {}))
    forward = torch.compile(model) if args.compile else model

    def step(lr, hr, metadata):
        with speed.autocast(device):
            out = forward(lr, metadata) if metadata is not None else forward(lr)
            loss = torch.nn.functional.l1_loss(out.float(), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def measure(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name, _ = MODELS[args.model]
        batches = make_batches(args, args.iters, 1 if name == "SFTMD" else 0)
        trainer = build_rumpy(args, folder, device, batches)
        config, speed = trainer.run.config, trainer.run.speed

        torch.manual_seed(0)
        plain = build_model(config.primary, config.scale, {n: 1 for n in config.model_metadata})
        plain = plain.to(device, memory_format=speed.memory_format)
        step = hand_written(args, plain, device, speed)
        fmt = speed.memory_format
        floats = [(b["lr"].to(device).float().div(255).contiguous(memory_format=fmt),
                   b["hr"].to(device).float().div(255).contiguous(memory_format=fmt),
                   b["metadata"].to(device) if "metadata" in b else None) for b in batches]

        def run_hand():
            for lr, hr, metadata in floats:
                step(lr, hr, metadata)
            sync(device)

        epoch = [0]

        def run_rumpy():
            epoch[0] += 1
            trainer._train_epoch(epoch[0])
            sync(device)

        results = {"hand-written": [], "rumpy": []}
        peaks: dict[str, int | None] = {"hand-written": None, "rumpy": None}
        for name, fn in (("hand-written", run_hand), ("rumpy", run_rumpy)):
            for _ in range(args.warmup):
                fn()
        for _ in range(args.blocks):
            for name, fn in (("hand-written", run_hand), ("rumpy", run_rumpy)):
                with PeakMemory(device) as memory:
                    start = time.perf_counter()
                    fn()
                    elapsed = time.perf_counter() - start
                results[name].append(1000 * elapsed / len(batches))
                if memory.peak is not None:
                    peaks[name] = max(peaks[name] or 0, memory.peak)
    return [(name, statistics.median(times), peaks[name]) for name, times in results.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="edsr-baseline")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="LR patch size")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--cuda-graph", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile both variants' forward pass")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=10, help="iterations per timed block")
    parser.add_argument("--warmup", type=int, default=1, help="untimed blocks first")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per variant (median reported)")
    parser.add_argument("--repeats", type=int, default=1, help="run the whole comparison this many times")
    args = parser.parse_args(argv)
    print(f"# {args.model} x{args.scale}, batch {args.batch}, LR patch {args.patch}, {args.precision}, "
          f"channels_last={args.channels_last}, cuda_graph={args.cuda_graph}, compile={args.compile}, "
          f"device={args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| run | variant | ms/iter | it/s | peak memory (MiB) | ratio rumpy/hand |")
    print("|---|---|---|---|---|---|")
    for repeat in range(1, args.repeats + 1):
        rows = measure(args)
        hand = rows[0][1]
        for name, ms, peak in rows:
            ratio = f"{ms / hand:.3f}" if name == "rumpy" else ""
            memory = "-" if peak is None else f"{peak / 2**20:.0f}"
            print(f"| {repeat} | {name} | {ms:.1f} | {1000 / ms:.2f} | {memory} | {ratio} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
