"""Scale: a DIV2K-sized training folder (``make_div2k_like.py``) against 16 of its images.

Real ``rumpy train`` runs (EDSR 32/4, batch 8, LR crop 16, 100 iterations per epoch: 16
images visited 50 times, or 800 images once), each in its own process:

- time from the command to the end of the first step (headers scanned, the memory plan made,
  images decoded into memory when they fit, workers started),
- seconds of each epoch (the training part; evaluation only after the last),
- the process tree's PSS at the end of each epoch, to see whether memory stays flat.

    python benchmarks/make_div2k_like.py /tmp/div2k_like
    python benchmarks/scale.py /tmp/div2k_like --runs 16:auto:3,800:auto:10,800:false:2
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import toml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procmem import tree  # noqa: E402


def run(work: Path, folder: Path, images: int, cache: str | bool, epochs: int) -> dict:
    name = f"n{images}_{cache}"
    repeat = max(1, 800 // images)  # 800 samples, 100 iterations, per epoch whatever the folder size
    raw = {
        "experiment": name, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": epochs, "metrics": ["PSNR"], "aim_track": False, "logging": "text",
                     "save_samples": False, "eval_frequency": 1000, "overwrite_data": True,
                     "logger_params": {"console": {"log_seconds": 0}}},
        "model": {"name": "EDSR", "internal_params": {"scale": 4, "num_features": 32, "num_blocks": 4,
                                                      "res_scale": 1.0}},
        "data": {"batch_size": 8,
                 "training_sets": {"div2k": {"lr": str(folder / "LR"), "hr": str(folder / "HR"), "crop": 16,
                                             "random_augment": True, "cutoff": images, "repeat": repeat,
                                             "cache": cache}},
                 "eval_sets": {"e": {"lr": str(folder / "LR"), "hr": str(folder / "HR"), "cutoff": [799, 800],
                                     "cache": False}}},
    }
    path = work / f"{name}.toml"
    path.write_text(toml.dumps(raw))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "rumpycore.cli", "train", "--parameters", str(path)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    first, pss, messages, last = math.nan, [], [], ""
    for line in process.stderr:
        if math.isnan(first) and line.startswith("epoch 1: batch 1/"):
            first = time.perf_counter() - started
        elif line.startswith("epoch ") and "/" in line.split()[1] and " | " in line:
            pss.append(sum(v["Pss"] for v in tree(process.pid).values()) / 2**30)
        elif line.startswith("rumpy: data:"):
            messages.append(line.strip())
        last = line
    process.wait()
    if process.returncode:
        sys.exit(f"{name}: rumpy train failed: {last.strip()}")
    from rumpycore.loggers.summary import read_summary

    rows = read_summary(work / "runs" / name / "result_outputs" / "summary.csv")
    return {"name": name, "first": first, "epochs": [r["train-time"] for r in rows],
            "data": [r["data-time"] / r["train-time"] for r in rows], "pss": pss, "messages": messages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="made by make_div2k_like.py (HR/, LR/)")
    parser.add_argument("--runs", default="16:auto:3,800:auto:10,800:false:2",
                        help="images:cache:epochs of each run (cache: auto, true or false)")
    args = parser.parse_args()
    from rumpycore.data.cache import available_memory

    print(f"# {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}, "
          f"MemAvailable {available_memory() / 1e9:.1f} GB")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.runs.split(","):
            images, cache, epochs = spec.split(":")
            cache_value = {"true": True, "false": False}.get(cache, cache)
            result = run(Path(tmp), args.folder, int(images), cache_value, int(epochs))
            results.append(result)
            for message in result["messages"]:
                print(f"# {result['name']}: {message}")
            sys.stdout.flush()
    print("| images | cache | first step s | epoch s (1, 2, ..., last) | data share, last epoch | PSS GiB per epoch |")
    print("|---:|---|---:|---|---:|---|")
    for result in results:
        images, cache = result["name"][1:].split("_")
        epochs = ", ".join(f"{t:.1f}" for t in result["epochs"])
        pss = ", ".join(f"{p:.2f}" for p in result["pss"])
        print(f"| {images} | {cache} | {result['first']:.1f} | {epochs} | {result['data'][-1]:.0%} | {pss} |")
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
