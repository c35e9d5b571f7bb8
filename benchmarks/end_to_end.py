"""End-to-end training speed: whole ``rumpy train`` epochs, real data loader included.

For each data set (the 16 full-size photos of ``shared/data/train/HR`` with x4 LR made by
``rumpy degrade``, and B100 with its MATLAB LR files) and each storage format (PNG folders,
an HDF5 file made by ``rumpy pack``), it runs ``rumpy train`` and reads the epoch's
``train-time`` and ``data-wait-time`` from ``summary.csv``, then prints iterations per second
and the share of training time spent waiting for data. Example:

    python benchmarks/end_to_end.py --device cuda --model edsr-baseline --workers 8 --repeat 20 \
        --set training.precision=bf16 --set training.cuda_graph=true
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import toml

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import rumpy_executable, shared_data_dir

MODELS = {
    "edsr-baseline": ("EDSR", {"num_features": 64, "num_blocks": 16, "res_scale": 1.0}),
    "edsr-reduced": ("EDSR", {"num_features": 32, "num_blocks": 4, "res_scale": 1.0}),
    "rcan": ("RCAN", {}),
}


def rumpy(*args: str) -> None:
    result = subprocess.run([rumpy_executable(), *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"rumpy {' '.join(args[:1])} failed: {result.stderr.strip().splitlines()[-1]}")


def prepare(work: Path, shared: Path, formats: list[str],
            sets: list[str]) -> dict[str, dict[str, tuple[str, str, int]]]:
    """LR/HR sources per set and format: (lr, hr, number of images)."""
    train_lr = work / "train_lr"
    if "train" in sets:
        rumpy("degrade", "--source-dir", str(shared / "train" / "HR"), "--output-dir", str(train_lr),
              "--pipeline", "downsample", "--scale", "4")
    folders = {"train": (train_lr, shared / "train" / "HR"), "b100": (shared / "B100" / "LR_bicubic" / "X4",
                                                                    shared / "B100" / "HR")}
    sources: dict[str, dict[str, tuple[str, str, int]]] = {}
    for name, (lr, hr) in ((name, folders[name]) for name in sets):
        count = len(list(Path(hr).glob("*.png")))
        sources[name] = {}
        if "png" in formats:
            sources[name]["png"] = (str(lr), str(hr), count)
        if "hdf5" in formats:
            rumpy("pack", "--lr", str(lr), "--hr", str(hr), "--out", str(work / f"{name}.h5"))
            sources[name]["hdf5"] = (str(work / f"{name}.h5"), str(work / f"{name}.h5"), count)
    return sources


def run(args: argparse.Namespace, work: Path, name: str, fmt: str, lr: str, hr: str,
        count: int) -> tuple[float, float, float]:
    model, params = MODELS[args.model]
    experiment = f"{name}_{fmt}"
    workers = {"dataloader_threads": args.workers} if args.workers is not None else {}
    config = {
        "experiment": experiment, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": args.epochs, "metrics": ["PSNR"], "aim_track": False, "logging": "text",
                     "save_samples": False, "eval_frequency": 1000,
                     "gpu": "off" if args.device == "cpu" else args.gpu},
        "model": {"name": model, "internal_params": {"scale": 4, **params}},
        "data": {"batch_size": args.batch, **workers,
                 "training_sets": {"t": {"lr": lr, "hr": hr, "crop": args.patch, "random_augment": True,
                                         "repeat": args.repeat, "cache": args.cache}},
                 "eval_sets": {"e": {"lr": lr, "hr": hr, "cutoff": 1}}},
    }
    path = work / f"{experiment}.toml"
    path.write_text(toml.dumps(config))
    rumpy("train", "--parameters", str(path), *[arg for setting in args.set for arg in ("--set", setting)])
    row = read_summary(work / "runs" / experiment / "result_outputs" / "summary.csv")[-1]
    iterations = math.ceil(count * args.repeat / args.batch)
    return (iterations / row["train-time"], row["data-wait-time"] / row["train-time"],
            row["data-time"] / row["train-time"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="edsr-reduced")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48, help="LR crop")
    parser.add_argument("--workers", type=int, default=None, help="loader workers (default: rumpy's choice)")
    parser.add_argument("--cache", choices=["auto", "true", "false"], default="false",
                        help="the training set's cache key (default false: read the folder or pack per sample)")
    parser.add_argument("--gpu", choices=["single", "multiple"], default="single", help="with --device cuda")
    parser.add_argument("--repeat", type=int, default=1, help="visits of each image per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="the last epoch is reported (the first warms up)")
    parser.add_argument("--sets", default="train,b100")
    parser.add_argument("--formats", default="png,hdf5")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="any config override passed on to rumpy train (speed options, ...)")
    args = parser.parse_args(argv)
    args.cache = {"true": True, "false": False}.get(args.cache, args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = prepare(work, shared_data_dir(), args.formats.split(","), args.sets.split(","))
        workers = args.workers if args.workers is not None else "default"
        print(f"# {args.model} x4, batch {args.batch}, LR crop {args.patch}, {workers} workers, repeat {args.repeat}, "
              f"cache {args.cache}, device {args.device} ({args.gpu}), overrides {args.set or 'none'}")
        print("| set | format | it/s | data wait | data share (wait + slowed steps) |")
        print("|---|---|---|---|---|")
        for name in args.sets.split(","):
            for fmt, (lr, hr, count) in sources[name].items():
                speed, wait, share = run(args, work, name, fmt, lr, hr, count)
                print(f"| {name} | {fmt} | {speed:.2f} | {wait:.0%} | {share:.0%} |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
