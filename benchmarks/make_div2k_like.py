"""Write a DIV2K-sized training folder of synthetic but photo-like images, for scale benchmarks.

Each HR image is a random crop of one of the 16 photos of ``shared/data/train/HR``, flipped
at random, enlarged with Lanczos to about 2040 x 1400 (DIV2K's size; heights vary from 1356
to 1404 in steps of 4), with a random colour gain and mild sensor-like noise so the PNG
holds as much detail as a real photo. LR images are its x4 bicubic reduction (Pillow's, which
is fast; these are for timing, not for accuracy). Never write this inside the repository.

    python benchmarks/make_div2k_like.py /tmp/div2k_like --count 800 --processes 2
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from rumpycore.testing import shared_data_dir


def make(index: int, out: Path, photos: list[Path]) -> int:
    rng = np.random.default_rng(index)
    with Image.open(photos[index % len(photos)]) as im:
        photo = im.convert("RGB")
    width, height = 2040, 1356 + 4 * int(rng.integers(0, 13))
    crop_w, crop_h = int(photo.width * rng.uniform(0.7, 1.0)), int(photo.height * rng.uniform(0.7, 1.0))
    left, top = int(rng.integers(0, photo.width - crop_w + 1)), int(rng.integers(0, photo.height - crop_h + 1))
    image = photo.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.LANCZOS)
    if rng.integers(0, 2):
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    pixels = np.asarray(image, dtype=np.float32) * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    pixels += rng.normal(0.0, 2.0, size=pixels.shape).astype(np.float32)
    hr = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
    name = f"{index + 1:04d}.png"
    hr.save(out / "HR" / name, compress_level=1)
    hr.resize((width // 4, height // 4), Image.BICUBIC).save(out / "LR" / f"{index + 1:04d}x4.png", compress_level=1)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=800)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    if Path(__file__).resolve().parents[1] in args.out.resolve().parents:
        parser.error("write the images outside the repository (e.g. under /tmp)")
    for part in ("HR", "LR"):
        (args.out / part).mkdir(parents=True, exist_ok=True)
    photos = sorted((shared_data_dir() / "train" / "HR").glob("*.png"))
    with ProcessPoolExecutor(args.processes) as pool:
        done = sum(1 for _ in pool.map(partial(make, out=args.out, photos=photos), range(args.count)))
    print(f"wrote {done} HR (about 2040x1400) and LR x4 images to {args.out}")


if __name__ == "__main__":
    main()
