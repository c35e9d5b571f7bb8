"""Where a training run's memory goes: imports, the decoded images, and each loader worker.

Part 1 (imports): PSS of a fresh Python process after each step of what ``rumpy train`` loads.

Part 2 (processes): a real ``rumpy train`` (EDSR 32/4, batch 8, LR 16, the 16 photos of
``shared/data/train/HR`` with x4 LR, every image 25 times per epoch) with 2 loader workers,
per data path; when the epoch-2 line appears, the PSS and USS (private memory) of the main
process and of each worker are read from ``/proc``. A worker holding its own copy of the
decoded images would show them in its USS; sharing them shows as a USS far below their size.

    python benchmarks/memory.py [--workers 2] [--paths cached,per-sample]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import toml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import tree  # noqa: E402

IMPORT_STEPS = """
import sys
def pss():
    return int(next(l for l in open('/proc/self/smaps_rollup') if l.startswith('Pss:')).split()[1]) / 1024
print(f"python|{pss():.0f}")
import numpy, PIL.Image
print(f"numpy, Pillow|{pss():.0f}")
import torch
print(f"torch|{pss():.0f}")
from rumpycore.cli import cli
print(f"rumpycore.cli|{pss():.0f}")
from rumpycore import plugins
plugins.host()
print(f"plugins (EDSR, RCAN, SFTMD, regression)|{pss():.0f}")
import rumpycore.training.run, rumpycore.loggers.plots, rumpycore.data.hdf5
print(f"training, plots (matplotlib), h5py|{pss():.0f}")
import aim
print(f"aim (aim_track = true)|{pss():.0f}")
import torchvision
print(f"torchvision (not imported by rumpy train)|{pss():.0f}")
"""


def imports() -> None:
    out = subprocess.run([sys.executable, "-c", IMPORT_STEPS], capture_output=True, text=True, check=True).stdout
    print("| after importing | PSS MiB | added |")
    print("|---|---:|---:|")
    previous = 0.0
    for line in out.strip().splitlines():
        name, value = line.split("|")
        print(f"| {name} | {float(value):.0f} | {float(value) - previous:+.0f} |")
        previous = float(value)


def train_config(work: Path, name: str, lr: str, hr: str, workers: int, cache: bool | str, aim: bool) -> Path:
    raw = {
        "experiment": name, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": 3, "metrics": ["PSNR"], "aim_track": aim, "logging": "text", "save_samples": False,
                     "eval_frequency": 1000, "overwrite_data": True},
        "model": {"name": "EDSR", "internal_params": {"scale": 4, "num_features": 32, "num_blocks": 4,
                                                      "res_scale": 1.0}},
        "data": {"batch_size": 8, "dataloader_threads": workers,
                 "training_sets": {"t": {"lr": lr, "hr": hr, "crop": 16, "random_augment": True, "repeat": 25,
                                         "cache": cache}},
                 "eval_sets": {"e": {"lr": lr, "hr": hr, "cutoff": 1, "cache": cache}}},
    }
    path = work / f"{name}.toml"
    path.write_text(toml.dumps(raw))
    return path


def processes(work: Path, lr: str, hr: str, path_name: str, workers: int, aim: bool) -> list[tuple[str, dict]]:
    cache = {"cached": True, "per-sample": False}[path_name]
    cfg = train_config(work, path_name, lr, hr, workers, cache, aim)
    process = subprocess.Popen([sys.executable, "-m", "rumpycore.cli", "train", "--parameters", str(cfg)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    snapshot: dict[int, dict[str, int]] = {}
    for line in process.stderr:
        if line.startswith("epoch 2/3"):
            time.sleep(0.5)
            snapshot = tree(process.pid)
    process.wait()
    if process.returncode or not snapshot:
        sys.exit(f"{path_name}: rumpy train failed")
    rows = [("main", snapshot.pop(process.pid))]
    rows += [(f"worker {i + 1}", values) for i, (_, values) in enumerate(sorted(snapshot.items()))]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--paths", default="cached,per-sample")
    parser.add_argument("--aim", action="store_true", help="with aim_track = true (the default of a config)")
    args = parser.parse_args()
    from rumpycore.testing import shared_data_dir

    shared = shared_data_dir()
    print(f"# {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}\n")
    imports()
    decoded = sum(3 * w * h * (1 + 1 / 16) for w, h in
                  (__import__("PIL.Image").Image.open(p).size for p in sorted((shared / "train" / "HR").glob("*.png"))))
    print(f"\nDecoded training images (HR + LR): {decoded / 2**20:.0f} MiB\n")
    print("| data path | process | PSS MiB | USS (private) MiB |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lr = work / "lr"
        subprocess.run([sys.executable, "-m", "rumpycore.cli", "degrade", "--source-dir", str(shared / "train" / "HR"),
                        "--output-dir", str(lr), "--pipeline", "downsample", "--scale", "4"], check=True,
                       capture_output=True)
        for path_name in args.paths.split(","):
            rows = processes(work, str(lr), str(shared / "train" / "HR"), path_name, args.workers, args.aim)
            for process, values in rows:
                print(f"| {path_name} | {process} | {values['Pss'] / 2**20:.0f} | {values['Uss'] / 2**20:.0f} |")
            total = sum(values["Pss"] for _, values in rows)
            print(f"| {path_name} | **all** | **{total / 2**20:.0f}** | |", flush=True)


if __name__ == "__main__":
    main()
