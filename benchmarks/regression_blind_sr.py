"""Degradation regressors on held-out images, and blind SR with SFTMD fed by a regressor.

``--part regression``: 64x64 crops of B100 (4 per photo, 400 images) and of the 16 other
photos in ``shared/data/train/HR`` (held out, 64 images), both blurred (isotropic Gaussian,
sigma 0.2-3) and noised (Gaussian, sigma 1-10) by ``rumpy degrade``. DegradationCNN and
ResNetRegressor learn ``blur_sigma`` and ``noise_sigma`` from 48x48 crops with ``rumpy
train``; the table gives their MAE on the held-out images beside predicting the training
mean for every image.

``--part blind-sr``: 96x96 HR crops of B100 and train/HR (6 per photo), blurred (sigma
0.2-4) and downsampled x4 by ``rumpy degrade``; Set14 degraded the same way (held out). A
DegradationCNN learns ``blur_sigma`` from the LR images; SFTMD is trained on the pairs once
with its SFT layers fed ``blur_sigma`` and once without conditioning (``sft_type = "none"``)
for the same number of steps. ``rumpy eval`` then reports PSNR/SSIM on the blurred Set14 with
the true sigma (the CSV), the predicted sigma (``metadata_from``), and no metadata.

    python benchmarks/regression_blind_sr.py --part regression --work /tmp/reg
    python benchmarks/regression_blind_sr.py --part blind-sr --work /tmp/blind

On a CPU, run with ``OMP_NUM_THREADS=1`` when the cores are shared: two intra-op threads
competing with other jobs can make each step many times slower.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import degrade_folder, photo_crops, rumpy_executable, shared_data_dir, write_config

REGRESSION_PIPELINE = {"pipeline": "blur-noise",
                       "deg_configs": {"blur": {"sigma": [0.2, 3.0], "pca_samples": 2000},
                                       "noise": {"gaussian_probability": 1.0, "gray_probability": 0.0,
                                                 "sigma": [1, 10]}}}
BLIND_PIPELINE = {"pipeline": "blur-downsample",
                  "deg_configs": {"blur": {"sigma": [0.2, 4.0], "pca_samples": 5000}, "downsample": {"scale": 4}}}


def rumpy(*args: object) -> str:
    result = subprocess.run([rumpy_executable(), *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"rumpy {args[0]} failed: {result.stderr.strip().splitlines()[-1]}")
    return result.stdout


def column(path: Path, name: str) -> np.ndarray:
    with open(path, newline="") as handle:
        return np.array([float(row[name]) for row in csv.DictReader(handle)])


def train(work: Path, name: str, model: str, params: dict, sets: dict, epochs: int, batch: int,
          extra: dict | None = None) -> Path:
    """``rumpy train`` one config (one-cycle schedule) and return its experiment folder."""
    lr = params.pop("lr")
    config = {
        "experiment": name, "experiment_save_loc": str(work / "runs"),
        "training": {"num_epochs": epochs, "seed": 1, "aim_track": False, "logging": "text", **(extra or {})},
        "model": {"name": model, "internal_params": {"lr": lr, "scheduler": "one_cycle_lr",
                                                     "scheduler_params": {"lr_max": lr}, **params}},
        "data": {"batch_size": batch, "eval_batch_size": 1, "dataloader_threads": 0, **sets},
    }
    rumpy("train", "--parameters", write_config(config, work / f"{name}.toml"), "--overwrite_data")
    return work / "runs" / name


def regression(work: Path, shared: Path, epochs: int) -> None:
    train_dir = degrade_folder(photo_crops(work / "src_train", sorted((shared / "B100" / "HR").glob("*.png")), 64, 4),
                               work / "train", REGRESSION_PIPELINE, 11, "--overwrite")
    test_dir = degrade_folder(photo_crops(work / "src_test", sorted((shared / "train" / "HR").glob("*.png")), 64, 4,
                                          seed=5), work / "test", REGRESSION_PIPELINE, 12, "--overwrite")
    sets = {"training_sets": {"train": {"lr": str(train_dir), "degradation_metadata": "on_site", "crop": 48,
                                        "random_augment": True, "repeat": 4}},
            "eval_sets": {"test": {"lr": str(test_dir), "degradation_metadata": "on_site"}}}
    targets = ["blur_sigma", "noise_sigma"]
    models = {"DegradationCNN": {"widths": [16, 32, 64, 128]}, "ResNetRegressor": {"width": 16}}
    print(f"held-out: {len(column(test_dir / 'degradation_metadata.csv', 'blur_sigma'))} images; "
          f"{epochs} epochs of {len(column(train_dir / 'degradation_metadata.csv', 'blur_sigma')) * 4 // 16} steps")
    print("| model | parameters | blur_sigma MAE | noise_sigma MAE | R² blur / noise |")
    print("|---|---:|---:|---:|---:|")
    means = {t: column(train_dir / "degradation_metadata.csv", t).mean() for t in targets}
    baseline = {t: np.abs(column(test_dir / "degradation_metadata.csv", t) - means[t]).mean() for t in targets}
    print(f"| predict the training mean | 0 | {baseline['blur_sigma']:.3f} | {baseline['noise_sigma']:.3f} | 0 / 0 |")
    for model, params in models.items():
        folder = train(work, model.lower(), model, {"lr": 1e-3, "targets": targets, **params}, sets, epochs, 16)
        last = read_summary(folder / "result_outputs" / "summary.csv")[-1]
        count = rumpy("check", "--parameters", work / f"{model.lower()}.toml").strip().splitlines()[-1].split()[-3]
        print(f"| {model} ({', '.join(f'{k}={v}' for k, v in params.items())}) | {count} | "
              f"{last['val-MAE-blur_sigma']:.3f} | {last['val-MAE-noise_sigma']:.3f} | "
              f"{last['val-R2-blur_sigma']:.3f} / {last['val-R2-noise_sigma']:.3f} |")


def blind_sr(work: Path, shared: Path, epochs: int, predictor_epochs: int) -> None:
    photos = sorted((shared / "B100" / "HR").glob("*.png")) + sorted((shared / "train" / "HR").glob("*.png"))
    hr = photo_crops(work / "hr_train", photos, 96, 6)
    lr = degrade_folder(hr, work / "lr_train", BLIND_PIPELINE, 21, "--overwrite")
    set14 = degrade_folder(shared / "Set14" / "HR", work / "set14_blur_x4", BLIND_PIPELINE, 22, "--overwrite")
    predictor = train(work, "predictor", "DegradationCNN",
                      {"lr": 1e-3, "targets": ["blur_sigma"], "widths": [16, 32, 64, 128]},
                      {"training_sets": {"train": {"lr": str(lr), "degradation_metadata": "on_site",
                                                   "random_augment": True}},
                       "eval_sets": {"set14": {"lr": str(set14), "degradation_metadata": "on_site"}}},
                      predictor_epochs, 16)
    last = read_summary(predictor / "result_outputs" / "summary.csv")[-1]
    mean = column(lr / "degradation_metadata.csv", "blur_sigma").mean()
    baseline = np.abs(column(set14 / "degradation_metadata.csv", "blur_sigma") - mean).mean()
    print(f"blur_sigma predictor on blurred Set14 x4: MAE {last['val-MAE-blur_sigma']:.3f} "
          f"(predicting the training mean: {baseline:.3f})")
    pairs = {"training_sets": {"train": {"lr": str(lr), "hr": str(hr), "degradation_metadata": "on_site",
                                         "random_augment": True}},
             "eval_sets": {"set14": {"lr": str(set14), "hr": str(shared / "Set14" / "HR"),
                                     "degradation_metadata": "on_site"}}}
    folders = {}
    for kind in ("standard", "none"):
        params = {"lr": 1e-3, "scale": 4, "num_features": 32, "num_blocks": 4, "metadata": ["blur_sigma"],
                  "sft_type": kind}
        folders[kind] = train(work, f"sftmd_{kind}", "SFTMD", params, pairs, epochs, 8,
                              {"eval_frequency": epochs, "save_samples": False})
    runs = {"true blur_sigma (CSV)": [folders["standard"]], "predicted blur_sigma (metadata_from)":
            [folders["standard"], "--metadata_from", predictor, "last"], "no metadata (sft_type none)":
            [folders["none"]]}
    print(f"| SFTMD x4 on blurred Set14 ({epochs} epochs) | PSNR (dB) | SSIM |")
    print("|---|---:|---:|")
    for label, (folder, *extra) in runs.items():
        out = rumpy("eval", "--lr_dir", set14, "--hr_dir", shared / "Set14" / "HR", "-me", folder, "last",
                    "--out_loc", work / "eval", "--results_name", folder.name + ("_blind" if extra else ""),
                    "--no_image_comparison", "--overwrite", "--json", *extra)
        rows = {row["model"]: row for row in json.loads(out)["summary"]}
        if label.startswith("true"):
            print(f"| bicubic | {rows['bicubic']['PSNR']:.2f} | {rows['bicubic']['SSIM']:.4f} |")
        print(f"| {label} | {rows[folder.name]['PSNR']:.2f} | {rows[folder.name]['SSIM']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["regression", "blind-sr"], required=True)
    parser.add_argument("--work", type=Path, required=True, help="folder for data, runs and evaluations")
    parser.add_argument("--epochs", type=int, help="training epochs (default 20 regression, 25 blind SR)")
    parser.add_argument("--predictor-epochs", type=int, default=100, help="blind SR: epochs of the predictor")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.part == "regression":
        regression(args.work, shared_data_dir(), args.epochs or 20)
    else:
        blind_sr(args.work, shared_data_dir(), args.epochs or 25, args.predictor_epochs)


if __name__ == "__main__":
    main()
