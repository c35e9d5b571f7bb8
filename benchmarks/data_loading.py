"""Training patches per second from PNG folders, a packed HDF5 file and the in-memory cache.

Reads B100 (x4) the way training does: LR crop 48 (HR 192), random flips, batch 16, uint8
batches, through the real dataset factory and training loader, with 0, 1 and 2 loader
workers. The first epoch (worker start-up, page cache) is not timed. Prints a Markdown table.

    python benchmarks/data_loading.py [--data ../shared/data/B100] [--workers 0 1 2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from rumpycore.data.hdf5 import pack
from rumpycore.data.loaders import train_loader
from rumpycore.data.paired import PairedParams, build_paired
from rumpycore.data.sources import FolderSource
from rumpycore.specs import DatasetContext

REPO = Path(__file__).resolve().parents[1]
CROP, SCALE, BATCH, REPEAT = 48, 4, 16, 8


def patches_per_second(params: PairedParams, workers: int, epochs: int) -> float:
    dataset = build_paired(params, DatasetContext("bench", "train", SCALE, "sisr", Path.cwd()))
    loader = train_loader(dataset, BATCH, workers, seed=1, pin=False, drop_last=True)
    counted, elapsed = 0, 0.0
    for epoch in range(epochs + 1):
        loader.sampler.set_epoch(epoch)
        start = time.perf_counter()
        seen = sum(batch["lr"].shape[0] for batch in loader)
        if epoch > 0:  # epoch 0 warms up workers and the page cache
            counted += seen
            elapsed += time.perf_counter() - start
    del loader
    return counted / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "B100")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs of 100 images x 8 repeats")
    args = parser.parse_args()
    lr, hr = args.data / "LR_bicubic" / "X4", args.data / "HR"
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        packed = Path(tmp) / "b100_x4.h5"
        start = time.perf_counter()
        sources = {"lr": FolderSource(lr, "lr"), "hr": FolderSource(hr, "hr")}
        pack(packed, sources)
        pack_seconds = time.perf_counter() - start
        common = dict(crop=CROP, random_augment=True, repeat=REPEAT)
        variants = {
            "PNG folders": PairedParams(lr=str(lr), hr=str(hr), **common),
            "HDF5 (rumpy pack)": PairedParams(lr=str(packed), hr=str(packed), **common),
            "PNG folders, cache = true": PairedParams(lr=str(lr), hr=str(hr), cache=True, **common),
        }
        print(f"B100 x4, LR crop {CROP} (HR {CROP * SCALE}), batch {BATCH}, random flips; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
        print(f"packing 100 LR + 100 HR images took {pack_seconds:.1f} s ({packed.stat().st_size / 1e6:.0f} MB)\n")
        print("| source | " + " | ".join(f"{w} workers" for w in args.workers) + " |")
        print("|---|" + "---:|" * len(args.workers))
        for name, params in variants.items():
            rates = [patches_per_second(params, w, args.epochs) for w in args.workers]
            print(f"| {name} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |", flush=True)
        print("\npatch pairs per second (LR + HR), timed over epochs after the first")


if __name__ == "__main__":
    main()
