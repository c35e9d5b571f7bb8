"""ESRGAN's two stages in miniature on the CPU: a PSNR-oriented RRDBNet (L1, the ``sisr`` task),
then the ``gan`` task started from it with ``init_from``; Set14 x4 PSNR and sharpness of both.

Training data: the 16 photos of ``shared/data/train/HR``, degraded on line by MATLAB's bicubic
x4 (``[data.online_pipeline] pipeline = "downsample"``), random 96-pixel HR crops with flips.
Both stages use a small RRDBNet (``--features``, ``--blocks``); the GAN stage adds Real-ESRGAN's
U-Net discriminator and an adversarial loss. No ImageNet VGG19 weights are on this machine, so
the GAN stage has no perceptual loss (pixel L1 and adversarial only; the weights are
``--pixel`` and ``--adversarial``). Both generators are evaluated by ``rumpy eval`` on Set14
with the MATLAB x4 LR images.

Sharpness is the mean over images of the variance of the Laplacian (3x3, 4-neighbour) of the
SR image's luma divided by the same for the HR image (the border of ``scale`` pixels shaved):
1 means as much fine detail as the HR images; blurry L1 outputs give less than 1.

    OMP_NUM_THREADS=1 python benchmarks/gan_stages.py --work /tmp/gan_stages
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rumpycore.loggers.summary import read_summary
from rumpycore.testing import rumpy_executable, shared_data_dir, write_config


def rumpy(*args: object) -> str:
    result = subprocess.run([rumpy_executable(), *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"rumpy {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def base_config(args: argparse.Namespace, experiment: str, epochs: int) -> dict:
    data = shared_data_dir()
    return {
        "experiment": experiment,
        "experiment_save_loc": str(args.work / "runs"),
        "training": {"num_epochs": epochs, "seed": 8, "metrics": ["PSNR"], "aim_track": False, "logging": "text",
                     "save_samples": False, "eval_frequency": epochs, "cpu_threads": args.threads},
        "model": {"name": "RRDBNet", "internal_params": {
            "scale": 4, "lr": args.lr, "num_features": args.features, "num_blocks": args.blocks, "growth": args.growth}},
        "data": {
            "batch_size": args.batch, "dataloader_threads": 0,
            "online_pipeline": {"pipeline": "downsample"},
            "training_sets": {"photos": {"hr": str(data / "train" / "HR"), "online_degradations": True,
                                         "crop": 24, "random_augment": True, "repeat": args.repeat}},
            "eval_sets": {"set14": {"lr": str(data / "Set14" / "LR_bicubic" / "X4"), "hr": str(data / "Set14" / "HR"),
                                    "name": "set14"}},
        },
    }


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255.0 + 16.0


def laplacian_variance(image: np.ndarray, border: int) -> float:
    y = luma(image)
    laplacian = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4 * y[1:-1, 1:-1]
    inner = laplacian[border - 1 : laplacian.shape[0] - border + 1, border - 1 : laplacian.shape[1] - border + 1]
    return float(inner.var())


def sharpness(sr_folder: Path, hr_folder: Path, scale: int = 4) -> float:
    """Mean over images of var(Laplacian(SR)) / var(Laplacian(HR)), on luma, border shaved."""
    ratios = []
    for sr_path in sorted(sr_folder.glob("*.png")):
        stem = sr_path.stem.removesuffix("x4")
        hr = np.asarray(Image.open(hr_folder / f"{stem}.png").convert("RGB"))
        sr = np.asarray(Image.open(sr_path).convert("RGB"))
        hr = hr[: sr.shape[0], : sr.shape[1]]
        ratios.append(laplacian_variance(sr, scale) / laplacian_variance(hr, scale))
    return float(np.mean(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--growth", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=4, help="visits of each photo per epoch")
    parser.add_argument("--psnr-epochs", type=int, default=60)
    parser.add_argument("--gan-epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3, help="stage 1 learning rate")
    parser.add_argument("--gan-lr", type=float, default=1e-4, help="GAN stage: learning rate of the generator")
    parser.add_argument("--pixel", type=float, default=1.0, help="GAN stage: weight of L1")
    parser.add_argument("--adversarial", type=float, default=0.3, help="GAN stage: weight of vanilla_gan")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep-stage-one", action="store_true", help="reuse the first stage of an earlier run")
    parser.add_argument("--discriminator-lr", type=float, default=1e-3, help="GAN stage: learning rate of the U-Net")
    parser.add_argument("--ema-decay", type=float, default=0.99,
                        help="GAN stage: generator average (0.999 as the papers would keep the first stage's "
                             "weights through a run this short)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="evaluate the two experiments of an earlier run (finished, or resumed by hand)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    train_stages = not args.evaluate_only
    psnr = base_config(args, "psnr", args.psnr_epochs)
    if train_stages and not (args.keep_stage_one and (args.work / "runs" / "psnr").is_dir()):
        rumpy("train", "--parameters", write_config(psnr, args.work / "psnr.toml"), "--overwrite_data")
    first = time.perf_counter()

    gan = base_config(args, "gan", args.gan_epochs)
    gan["model"]["task"] = "gan"
    gan["model"]["internal_params"].update(
        lr=args.gan_lr, init_from={"experiment": str(args.work / "runs" / "psnr"), "network": "model"},
        losses={"l1": {"weight": args.pixel}, "vanilla_gan": {"weight": args.adversarial}})
    gan["model"]["discriminator"] = {"name": "UNetDiscriminator",
                                     "internal_params": {"num_features": 16, "lr": args.discriminator_lr}}
    gan["training"]["ema_decay"] = args.ema_decay
    if train_stages:
        rumpy("train", "--parameters", write_config(gan, args.work / "gan.toml"), "--overwrite_data")
    second = time.perf_counter()

    set14 = shared_data_dir() / "Set14"
    out = rumpy("eval", "--lr_dir", set14 / "LR_bicubic" / "X4", "--hr_dir", set14 / "HR", "--scale", "4",
                "-me", args.work / "runs" / "psnr", "last", "-me", args.work / "runs" / "gan", "last",
                "--save_im", "--out_loc", args.work, "--results_name", "set14", "--overwrite", "--json")
    summary = {row["model"]: row for row in json.loads(out)["summary"]}
    rows = []
    for name, label in (("bicubic", "bicubic"), ("psnr", "stage 1: L1 (sisr)"), ("gan", "stage 2: GAN from stage 1")):
        ratio = sharpness(args.work / "set14" / name, set14 / "HR")
        rows.append((label, summary[name]["PSNR"], summary[name]["SSIM"], ratio))
    runs = args.work / "runs"
    epochs = [len(read_summary(runs / name / "result_outputs" / "summary.csv")) for name in ("psnr", "gan")]
    print(f"RRDBNet features {args.features}, blocks {args.blocks}, growth {args.growth}; batch {args.batch} of "
          f"96-pixel HR crops; {epochs[0]} + {epochs[1]} epochs of {16 * args.repeat // args.batch} steps; "
          f"threads {args.threads}; load {os.getloadavg()[0]:.1f}")
    if train_stages:
        print(f"stage 1 {first - started:.0f} s, stage 2 {second - first:.0f} s")
    print()
    print("| Set14 x4 | PSNR (dB) | SSIM | sharpness (SR / HR) |")
    print("|---|---|---|---|")
    for label, psnr_value, ssim_value, ratio in rows:
        print(f"| {label} | {psnr_value:.2f} | {ssim_value:.4f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
