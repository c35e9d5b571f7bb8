"""Seconds per iteration and peak memory of whole ``rumpy train`` runs, per data path, against
the bare training step.

Data: the 16 photos of ``shared/data/train/HR`` with x4 LR made by ``rumpy degrade``. Paths
(each a real ``rumpy train`` in its own process, runs alternated round by round):

- ``png``: the folders with every default (decoded into memory when they fit, workers and
  threads chosen for the machine),
- ``png-per-sample``: the folders with ``cache = false`` (decoded at every visit), default workers,
- ``png-per-sample-2w``: the same with 2 workers and all cores for the step (the old default),
- ``hdf5``: a file written by ``rumpy pack``, ``cache = false``, default workers,
- ``hand``: a hand-written loop on random tensors (forward, L1, backward, Adam): the step alone.

Per run it reports the last epoch's seconds per iteration, the data share rumpy reports
(``data-time`` over ``train-time``: waiting plus slowed steps) and the plain wait share, the
time from start to the first step, and the peak PSS of the process tree (main + workers).

    python benchmarks/data_paths.py --setting small --rounds 2
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import toml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import PeakSampler  # noqa: E402

SETTINGS = {
    "small": {"features": 32, "blocks": 4, "batch": 8, "patch": 16, "repeat": 25},
    "baseline": {"features": 64, "blocks": 16, "batch": 16, "patch": 48, "repeat": 2},
}
PATHS = ("png", "png-per-sample", "png-per-sample-2w", "hdf5", "hand")


def rumpy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rumpycore.cli", *args]


def prepare(work: Path, shared: Path) -> dict[str, tuple[str, str]]:
    lr = work / "train_lr"
    subprocess.run(rumpy_command("degrade", "--source-dir", str(shared / "train" / "HR"), "--output-dir", str(lr),
                                 "--pipeline", "downsample", "--scale", "4"), check=True, capture_output=True)
    packed = work / "train.h5"
    subprocess.run(rumpy_command("pack", "--lr", str(lr), "--hr", str(shared / "train" / "HR"), "--out",
                                 str(packed)), check=True, capture_output=True)
    return {"folders": (str(lr), str(shared / "train" / "HR")), "packed": (str(packed), str(packed))}


def config(work: Path, name: str, setting: dict, lr: str, hr: str, epochs: int, extra: dict) -> Path:
    training_set = {"lr": lr, "hr": hr, "crop": setting["patch"], "random_augment": True,
                    "repeat": setting["repeat"], **extra.get("set", {})}
    raw = {
        "experiment": name, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": epochs, "metrics": ["PSNR"], "aim_track": False, "logging": "text",
                     "save_samples": False, "eval_frequency": 1000, "overwrite_data": True,
                     "logger_params": {"console": {"log_seconds": 0}}},
        "model": {"name": "EDSR", "internal_params": {"scale": 4, "num_features": setting["features"],
                                                      "num_blocks": setting["blocks"], "res_scale": 1.0}},
        "data": {"batch_size": setting["batch"], **extra.get("data", {}),
                 "training_sets": {"t": training_set}, "eval_sets": {"e": {"lr": lr, "hr": hr, "cutoff": 1}}},
    }
    path = work / f"{name}.toml"
    path.write_text(toml.dumps(raw))
    return path


def run_rumpy(work: Path, path_name: str, setting: dict, sources: dict, epochs: int,
              threads: int | None) -> dict[str, float]:
    extra = {"png": {}, "png-per-sample": {"set": {"cache": False}},
             "png-per-sample-2w": {"set": {"cache": False}, "data": {"dataloader_threads": 2}},
             "hdf5": {"set": {"cache": False}}}[path_name]
    lr, hr = sources["packed" if path_name == "hdf5" else "folders"]
    cfg = config(work, path_name, setting, lr, hr, epochs, extra)
    if threads or path_name == "png-per-sample-2w":
        raw = toml.load(cfg)
        raw["training"]["cpu_threads"] = threads or os.cpu_count()
        cfg.write_text(toml.dumps(raw))
    started = time.perf_counter()
    process = subprocess.Popen(rumpy_command("train", "--parameters", str(cfg)), stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True)
    first_step = math.nan
    with PeakSampler(process.pid) as sampler:
        for line in process.stderr:
            if math.isnan(first_step) and line.startswith("epoch 1: batch 1/"):
                first_step = time.perf_counter() - started
            last = line
        process.wait()
    if process.returncode:
        sys.exit(f"{path_name}: rumpy train failed: {last.strip()}")
    from rumpycore.loggers.summary import read_summary

    row = read_summary(work / "runs" / path_name / "result_outputs" / "summary.csv")[-1]
    iterations = math.ceil(16 * setting["repeat"] / setting["batch"])
    return {"s/it": row["train-time"] / iterations, "data": row["data-time"] / row["train-time"],
            "wait": row["data-wait-time"] / row["train-time"], "first": first_step, "pss": sampler.peak / 2**30}


def hand_loop(setting: dict, iterations: int, threads: int | None) -> None:
    """The step alone (run in a child process, so its memory is measured alone too)."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    from rumpy_edsr.network import EDSR

    torch.manual_seed(0)
    model = EDSR(scale=4, num_features=setting["features"], num_blocks=setting["blocks"], res_scale=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr = torch.rand(setting["batch"], 3, setting["patch"], setting["patch"])
    hr = torch.rand(setting["batch"], 3, setting["patch"] * 4, setting["patch"] * 4)
    times = []
    for _ in range(iterations + 2):
        start = time.perf_counter()
        loss = torch.nn.functional.l1_loss(model(lr), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    print(statistics.median(times[2:]))


def run_hand(setting_name: str, setting: dict, threads: int | None) -> dict[str, float]:
    iterations = min(50, math.ceil(16 * setting["repeat"] / setting["batch"]))
    command = [sys.executable, __file__, "--setting", setting_name, "--hand-loop", str(iterations)]
    process = subprocess.Popen(command + (["--threads", str(threads)] if threads else []), stdout=subprocess.PIPE,
                               text=True)
    with PeakSampler(process.pid) as sampler:
        out, _ = process.communicate()
    return {"s/it": float(out.strip().splitlines()[-1]), "data": math.nan, "wait": math.nan, "first": math.nan,
            "pss": sampler.peak / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="small")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--rounds", type=int, default=2, help="runs of every path, alternated")
    parser.add_argument("--epochs", type=int, default=2, help="the last epoch is reported")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, help="CPU threads of every variant (default: rumpy's choice, "
                                                     "torch's for the hand loop)")
    parser.add_argument("--hand-loop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setting = SETTINGS[args.setting]
    if args.hand_loop:
        hand_loop(setting, args.hand_loop, args.threads)
        return
    from rumpycore.testing import shared_data_dir

    shared = args.data if args.data.is_dir() else shared_data_dir()
    print(f"# EDSR {setting['features']}/{setting['blocks']} x4, batch {setting['batch']}, LR {setting['patch']}, "
          f"16 photos x{setting['repeat']} per epoch, {os.cpu_count()} CPUs, threads {args.threads or 'default'}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    print("| round | path | s/it | data share (rumpy) | wait share | first step s | peak PSS GiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = prepare(work, shared)
        for round_number in range(1, args.rounds + 1):
            for name in args.paths.split(","):
                result = (run_hand(args.setting, setting, args.threads) if name == "hand"
                          else run_rumpy(work, name, setting, sources, args.epochs, args.threads))
                print(f"| {round_number} | {name} | {result['s/it']:.3f} | {result['data']:.0%} | "
                      f"{result['wait']:.0%} | {result['first']:.1f} | {result['pss']:.2f} |".replace("nan%", "-")
                      .replace("| nan |", "| - |"), flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
