"""Blind SR on a blurred Set14: SFTMD fed the true kernel code, SFTMD with IKC's predictor and
corrector, RCAN-DAN and RCAN-SupMoCo, beside bicubic, at a CPU budget.

96x96 HR crops of the 16 photos in ``shared/data/train/HR`` (8 per photo), blurred (isotropic
Gaussian, sigma 0.2-4 px) and downsampled x4 by ``rumpy degrade``, which records each image's
``blur_kernel`` (10-value PCA code); Set14 degraded the same way (another seed) with the
training run's PCA basis (``pca_matrix``; rumpy degrade fits the same basis for the same blur
settings whatever the seed, so this only makes it explicit). Every network is small
and trains for the same number of steps (batch 8, one-cycle schedule up to 1e-3, seed 1):

- SFTMD (``sisr``) fed the true ``blur_kernel``;
- IKC (``ikc``): that SFTMD (``init_from``), frozen, with a predictor and a corrector trained
  for the same number of steps; evaluated blind;
- RCAN-DAN (``dan``, ``mode = "v1QRCAN"``): restorer and estimator trained together; blind;
- RCAN-SupMoCo: a SupMoCo encoder (``contrastive``; classes: ``blur_sigma`` in 3 intervals)
  trained for the same number of steps, then a QRCAN of RCAN-DAN's size fed its embedding
  (``contrastive_blind_sr``, encoder frozen) for the same number again; blind;
- RCAN of that size with no degradation input (``sisr``), the control for both QRCANs.

``rumpy eval`` reports PSNR/SSIM on the blurred Set14 (Y channel, border 4) and, for the blind
models, the mean absolute error of their estimated codes (``blur_kernel-error``, PCA units),
beside the error of guessing the training sets' mean code for every image. The encoder's
embedding of the Set14 images is judged by its nearest neighbours (``val-nn-error``: mean
absolute difference of normalised ``blur_sigma`` to the image nearest by the embedding;
``val-nn-accuracy``: share of nearest pairs of the same class) beside random neighbours.

    OMP_NUM_THREADS=1 python benchmarks/blind_sr.py --work /tmp/blind_sr --epochs 12
    OMP_NUM_THREADS=1 python benchmarks/blind_sr.py --work /tmp/blind_sr --epochs 12 --models rcan_supmoco
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from regression_blind_sr import BLIND_PIPELINE, column, rumpy

from rumpycore.data.metadata import parse_cell, read_metadata_csv
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import degrade_folder, photo_crops, shared_data_dir, write_config

SFTMD = {"num_features": 16, "num_blocks": 2, "metadata": ["blur_kernel"]}
ESTIMATOR = {"nf": 16, "lr": 1e-3}  # constant rate: the corrector updates CORRECTION_STEPS times per batch
RCAN_DAN = {"mode": "v1QRCAN", "n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4,
            "estimator_features": 16, "estimator_blocks": 2, "loop": 4, "metadata": ["blur_kernel"]}
CORRECTION_STEPS = 4
# the short budget: a faster-following key encoder and a queue that fills within the first epochs
ENCODER = {"crop_count": 4, "crop_size": 12, "queue_size": 256, "momentum": 0.99, "metadata": ["blur_sigma"],
           "labelling_strategy": "triple_precision"}
RCAN_SUPMOCO = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4}
MODELS = ("sftmd", "ikc", "rcan_dan", "rcan_supmoco", "rcan")


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


def chance(lr: Path, set14: Path) -> tuple[float, float]:
    """``val-nn-error`` and ``val-nn-accuracy`` of random neighbours: every other Set14 image
    alike, ``blur_sigma`` normalised over the training images and split in 3 as the encoder's."""
    train, held_out = (column(folder / "degradation_metadata.csv", "blur_sigma") for folder in (lr, set14))
    values = (held_out - train.min()) / (train.max() - train.min())
    classes = np.minimum((np.clip(values, 0, 1) * 3).astype(int), 2)
    others = ~np.eye(len(values), dtype=bool)
    error = np.abs(values[:, None] - values[None, :])[others].mean()
    return float(error), float((classes[:, None] == classes[None, :])[others].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for data, runs and evaluations")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (16 steps each)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="the rows to train")
    parser.add_argument("--long_encoder_epochs", type=int, default=0,
                        help="also judge the embedding of a SupMoCo encoder trained this many epochs (0: not)")
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
    seconds = {}
    if "sftmd" in args.models:
        seconds["sftmd"] = train(args.work, "sftmd", {"name": "SFTMD", "internal_params": dict(SFTMD)}, sets,
                                 args.epochs)
    if "ikc" in args.models:
        seconds["ikc"] = train(args.work, "ikc", {
            "name": "SFTMD", "task": "ikc", "internal_params": {**SFTMD, "init_from": {"experiment": str(runs / "sftmd"),
                                                                                       "epoch": "last"}},
            "task_params": {"correction_steps": CORRECTION_STEPS},
            "predictor": {"internal_params": dict(ESTIMATOR)}, "corrector": {"internal_params": dict(ESTIMATOR)}},
            sets, args.epochs)
    if "rcan_dan" in args.models:
        seconds["rcan_dan"] = train(args.work, "rcan_dan", {"name": "DAN", "internal_params": dict(RCAN_DAN)}, sets,
                                    args.epochs)
    if "rcan_supmoco" in args.models:
        encoder_seconds = train(args.work, "supmoco", {"name": "SupMoCo", "internal_params": dict(ENCODER)}, sets,
                                args.epochs)
        seconds["rcan_supmoco"] = train(args.work, "rcan_supmoco", {
            "name": "ContrastiveBlindQRCAN",
            "internal_params": {**RCAN_SUPMOCO, "pre_trained_encoder_weights": str(runs / "supmoco")}}, sets,
            args.epochs)
    if "rcan" in args.models:
        seconds["rcan"] = train(args.work, "rcan", {"name": "RCAN", "internal_params": dict(RCAN_SUPMOCO)}, sets,
                                args.epochs)
    if args.long_encoder_epochs:
        train(args.work, "supmoco_long", {"name": "SupMoCo", "internal_params": dict(ENCODER)}, sets,
              args.long_encoder_epochs)
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
              "rcan_dan": "RCAN-DAN, blind", "rcan_supmoco": "RCAN-SupMoCo (frozen SupMoCo encoder), blind",
              "rcan": "RCAN, no degradation input"}
    for name, label in labels.items():
        if name not in rows:
            continue
        row = rows[name]
        error = f"{row['blur_kernel-error']:.4f}" if "blur_kernel-error" in row else ""
        time_taken = f"{seconds[name]:.0f}" + (f" (+{encoder_seconds:.0f} encoder)" if name == "rcan_supmoco" else "")
        print(f"| {label} | {row['PSNR']:.2f} | {row['SSIM']:.4f} | {error} | {time_taken} |")
    if "rcan_supmoco" in seconds:
        encoder = read_summary(runs / "supmoco" / "result_outputs" / "summary.csv")[-1]
        error, accuracy = chance(lr, set14)
        print(f"\n| SupMoCo embedding of the blurred Set14 ({steps} steps) | nearest-neighbour blur_sigma error "
              f"| same class |")
        print("|---|---:|---:|")
        print(f"| random neighbours | {error:.3f} | {accuracy:.3f} |")
        print(f"| nearest by the embedding | {encoder['val-nn-error']:.3f} | {encoder['val-nn-accuracy']:.3f} |")
        if args.long_encoder_epochs:
            encoder = read_summary(runs / "supmoco_long" / "result_outputs" / "summary.csv")[-1]
            print(f"| nearest by the embedding after {args.long_encoder_epochs * 16} steps | "
                  f"{encoder['val-nn-error']:.3f} | {encoder['val-nn-accuracy']:.3f} |")


if __name__ == "__main__":
    main()
