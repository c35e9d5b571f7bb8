"""QRCAN with the true blur metadata against the same network with its metadata switched off.

96x96 HR crops of the 16 photos in ``shared/data/train/HR`` (8 per photo), blurred (isotropic
Gaussian, sigma 0.2-4 px) and downsampled x4 by ``rumpy degrade``, which records each image's
blur kernel (its 10-value PCA code, ``blur_kernel``) in ``degradation_metadata.csv``; Set14
degraded the same way (another seed) is the held-out test set. A small QRCAN is trained once
with its meta-attention layers fed ``blur_kernel`` and once with ``include_q_layer = false``
(the same RCAN without the layers, fed no metadata), same seed, data order and number of
steps; ``rumpy eval`` then reports PSNR/SSIM of both on the blurred Set14.

    OMP_NUM_THREADS=1 python benchmarks/meta_attention.py --work /tmp/meta --epochs 20

On a CPU, run with ``OMP_NUM_THREADS=1`` when the cores are shared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from regression_blind_sr import BLIND_PIPELINE, rumpy, train

from rumpycore.testing import degrade_folder, photo_crops, shared_data_dir

SMALL_QRCAN = {"n_resgroups": 2, "n_resblocks": 4, "n_feats": 32, "reduction": 8, "metadata": ["blur_kernel"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for data, runs and evaluations")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (16 steps each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="training seeds (one pair of runs each)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shared = shared_data_dir()
    hr = photo_crops(args.work / "hr_train", sorted((shared / "train" / "HR").glob("*.png")), 96, 8)
    lr = degrade_folder(hr, args.work / "lr_train", BLIND_PIPELINE, 31, "--overwrite")
    set14 = degrade_folder(shared / "Set14" / "HR", args.work / "set14_blur_x4", BLIND_PIPELINE, 32, "--overwrite")
    pairs = {"training_sets": {"train": {"lr": str(lr), "hr": str(hr), "degradation_metadata": "on_site",
                                         "random_augment": True}},
             "eval_sets": {"set14": {"lr": str(set14), "hr": str(shared / "Set14" / "HR"),
                                     "degradation_metadata": "on_site"}}}
    print(f"| QRCAN x4 ({args.epochs} epochs of 16 steps) on blurred Set14 | seed | PSNR (dB) | SSIM | training (s) |")
    print("|---|---:|---:|---:|---:|")
    bicubic_printed = False
    for seed in args.seeds:
        for label, q_layer in (("true blur_kernel", True), ("metadata off (include_q_layer = false)", False)):
            name = f"qrcan_{'meta' if q_layer else 'off'}_{seed}"
            started = time.perf_counter()
            folder = train(args.work, name, "QRCAN", {"lr": 1e-3, "scale": 4, "include_q_layer": q_layer,
                                                      **SMALL_QRCAN},
                           pairs, args.epochs, 8, {"seed": seed, "eval_frequency": args.epochs, "save_samples": False})
            seconds = time.perf_counter() - started
            out = rumpy("eval", "--lr_dir", set14, "--hr_dir", shared / "Set14" / "HR", "-me", folder, "last",
                        "--out_loc", args.work / "eval", "--results_name", name, "--no_image_comparison",
                        "--overwrite", "--json")
            rows = {row["model"]: row for row in json.loads(out)["summary"]}
            if not bicubic_printed:
                print(f"| bicubic | | {rows['bicubic']['PSNR']:.2f} | {rows['bicubic']['SSIM']:.4f} | |")
                bicubic_printed = True
            print(f"| {label} | {seed} | {rows[name]['PSNR']:.2f} | {rows[name]['SSIM']:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
