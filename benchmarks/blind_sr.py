"""Blind SR on a blurred Set14: SFTMD fed the true kernel code, SFTMD with IKC's predictor and
corrector, and RCAN-DAN, beside bicubic, at a CPU budget.

96x96 HR crops of the 16 photos in ``shared/data/train/HR`` (8 per photo), blurred (isotropic
Gaussian, sigma 0.2-4 px) and downsampled x4 by ``rumpy degrade``, which records each image's
``blur_kernel`` (10-value PCA code); Set14 degraded the same way (another seed) with the
training run's PCA basis (``pca_matrix``; rumpy degrade fits the same basis for the same blur
settings whatever the seed, so this only makes it explicit). Every network is small
and trains for the same number of steps (batch 8, one-cycle schedule up to 1e-3, seed 1):

- SFTMD (``sisr``) fed the true ``blur_kernel``;
- IKC (``ikc``): that SFTMD (``init_from``), frozen, with a predictor and a corrector trained
  for the same number of steps; evaluated blind;
- RCAN-DAN (``dan``, ``mode = "v1QRCAN"``): restorer and estimator trained together; blind.

``rumpy eval`` reports PSNR/SSIM on the blurred Set14 (Y channel, border 4) and, for the blind
models, the mean absolute error of their estimated codes (``blur_kernel-error``, PCA units),
beside the error of guessing the training sets' mean code for every image.

    OMP_NUM_THREADS=1 python benchmarks/blind_sr.py --work /tmp/blind_sr --epochs 12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from regression_blind_sr import BLIND_PIPELINE, rumpy

from rumpycore.data.metadata import parse_cell, read_metadata_csv
from rumpycore.testing import degrade_folder, photo_crops, shared_data_dir, write_config

SFTMD = {"num_features": 16, "num_blocks": 2, "metadata": ["blur_kernel"]}
ESTIMATOR = {"nf": 16, "lr": 1e-3}  # constant rate: the corrector updates CORRECTION_STEPS times per batch
RCAN_DAN = {"mode": "v1QRCAN", "n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4,
            "estimator_features": 16, "estimator_blocks": 2, "loop": 4, "metadata": ["blur_kernel"]}
CORRECTION_STEPS = 4


def config(work: Path, name: str, model: dict, sets: dict, epochs: int) -> Path:
    """A training config: ``model`` is the ``[model]`` table (its ``internal_params`` get the schedule)."""
    model["internal_params"].update(scale=4, lr=1e-3, scheduler="one_cycle_lr", scheduler_params={"lr_max": 1e-3})
    table = {
        "experiment": name, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": epochs, "seed": 1, "aim_track": False, "logging": "text",
                     "eval_frequency": epochs, "save_samples": False},
        "model": model,
        "data": {"batch_size": 8, "eval_batch_size": 1, "dataloader_threads": 0, **sets},
    }
    return write_config(table, work / f"{name}.toml")


def train(work: Path, name: str, model: dict, sets: dict, epochs: int) -> float:
    started = time.perf_counter()
    rumpy("train", "--parameters", config(work, name, model, sets, epochs), "--overwrite_data")
    return time.perf_counter() - started


def codes(folder: Path) -> np.ndarray:
    table = read_metadata_csv(folder / "degradation_metadata.csv", str(folder))
    column = table.find_column("blur_kernel", str(folder))
    return np.array([parse_cell(row[column], "blur_kernel") for row in table.rows.values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for data, runs and evaluations")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (16 steps each)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shared = shared_data_dir()
    hr = photo_crops(args.work / "hr_train", sorted((shared / "train" / "HR").glob("*.png")), 96, 8)
    lr = degrade_folder(hr, args.work / "lr_train", BLIND_PIPELINE, 31, "--overwrite")
    same_basis = {"pipeline": "blur-downsample", "deg_configs": {
        "blur": {**BLIND_PIPELINE["deg_configs"]["blur"], "pca_matrix": str(lr / "blur_kernel_pca.npz")},
        "downsample": {"scale": 4}}}
    set14 = degrade_folder(shared / "Set14" / "HR", args.work / "set14_blur_x4", same_basis, 32, "--overwrite")
    sets = {"training_sets": {"train": {"lr": str(lr), "hr": str(hr), "degradation_metadata": "on_site",
                                        "random_augment": True}},
            "eval_sets": {"set14": {"lr": str(set14), "hr": str(shared / "Set14" / "HR"),
                                    "degradation_metadata": "on_site"}}}
    runs = args.work / "runs"
    seconds = {
        "sftmd": train(args.work, "sftmd", {"name": "SFTMD", "internal_params": dict(SFTMD)}, sets, args.epochs),
        "ikc": train(args.work, "ikc", {
            "name": "SFTMD", "task": "ikc", "internal_params": {**SFTMD, "init_from": {"experiment": str(runs / "sftmd"),
                                                                                       "epoch": "last"}},
            "task_params": {"correction_steps": CORRECTION_STEPS},
            "predictor": {"internal_params": dict(ESTIMATOR)}, "corrector": {"internal_params": dict(ESTIMATOR)}},
            sets, args.epochs),
        "rcan_dan": train(args.work, "rcan_dan", {"name": "DAN", "internal_params": dict(RCAN_DAN)}, sets, args.epochs),
    }
    out = rumpy("eval", "--lr_dir", set14, "--hr_dir", shared / "Set14" / "HR", *[
        arg for name in seconds for arg in ("-me", runs / name, "last")],
        "--out_loc", args.work / "eval", "--results_name", "set14", "--no_image_comparison", "--overwrite", "--json")
    rows = {row["model"]: row for row in json.loads(out)["summary"]}
    guess = float(np.abs(codes(set14) - codes(lr).mean(axis=0)).mean())
    steps = args.epochs * 16
    print(f"| x4, blurred Set14 ({steps} steps each) | PSNR (dB) | SSIM | blur_kernel error | training (s) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| bicubic | {rows['bicubic']['PSNR']:.2f} | {rows['bicubic']['SSIM']:.4f} | | |")
    print(f"| training mean code for every image | | | {guess:.4f} | |")
    labels = {"sftmd": "SFTMD, true `blur_kernel`", "ikc": f"SFTMD + IKC ({CORRECTION_STEPS} steps), blind",
              "rcan_dan": "RCAN-DAN, blind"}
    for name, label in labels.items():
        row = rows[name]
        error = f"{row['blur_kernel-error']:.4f}" if "blur_kernel-error" in row else ""
        print(f"| {label} | {row['PSNR']:.2f} | {row['SSIM']:.4f} | {error} | {seconds[name]:.0f} |")
    print("| RCAN-SupMoCo | not provided yet | | | |")


if __name__ == "__main__":
    main()
