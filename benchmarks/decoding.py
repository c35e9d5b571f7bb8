"""Decoding speed of the image readers rumpy could use, on one thread, and whether they agree.

For every image of the given folders it decodes the file with each reader (alternating
readers, several times) and prints the median milliseconds per image, and which readers give
exactly the pixels of the Pillow reader (``rumpycore.data.images.load_rgb_pillow``, whose
conversions define the truth):

- ``rumpy before``: the Pillow reader (``load_rgb_pillow``, what ``load_rgb`` was),
- ``rumpy now``: ``load_rgb`` (OpenCV for 8-bit PNG and JPEG when installed, else Pillow),
- ``pillow``: ``Image.open`` + ``convert("RGB")`` (the Pillow reader without its checks),
- ``torchvision``: ``torchvision.io.decode_image`` with ``ImageReadMode.RGB`` (libpng / libjpeg-turbo),
- ``opencv``: ``cv2.imread`` with ``IMREAD_COLOR_RGB`` (only when ``cv2`` is installed).

It also prints what importing torchvision.io and cv2 costs a fresh process (seconds, resident
memory), since a loader worker or ``rumpy pack`` pays it once.

    python benchmarks/decoding.py ../shared/data/Set5/HR ../shared/data/train/HR --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rumpycore.data.images import list_images, load_rgb, load_rgb_pillow

IMPORT_PROBE = """
import time, torch
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
before, start = rss(), time.perf_counter()
import {module}
print(f'{{time.perf_counter() - start:.2f}} s, +{{rss() - before:.0f}} MiB')
"""


def pillow(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def torchvision_reader(path: Path) -> np.ndarray:
    from torchvision.io import ImageReadMode, decode_image, read_file

    return decode_image(read_file(str(path)), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()


def readers() -> dict[str, Callable[[Path], np.ndarray]]:
    found: dict[str, Callable[[Path], np.ndarray]] = {
        "rumpy before": lambda p: load_rgb_pillow(p)[0], "rumpy now": lambda p: load_rgb(p)[0],
        "pillow": pillow, "torchvision": torchvision_reader,
    }
    try:
        import cv2

        found["opencv"] = lambda p: cv2.imread(str(p), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    except ImportError:
        pass
    return found


def import_cost(module: str) -> str:
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(module=module)], capture_output=True, text=True)
    return result.stdout.strip() or "not installed"


def measure(paths: list[Path], found: dict[str, Callable[[Path], np.ndarray]], repeats: int):
    """Mean over images of the median decode time per reader (ms), and which readers agree."""
    per_image = {name: [] for name in found}
    same = {name: True for name in found}
    for path in paths:
        truth = load_rgb_pillow(path)[0]
        samples = {name: [] for name in found}
        for _ in range(repeats):  # readers alternate, so a change of load hits all alike
            for name, read in found.items():
                start = time.perf_counter()
                pixels = read(path)
                samples[name].append(time.perf_counter() - start)
                same[name] &= pixels.shape == truth.shape and bool(np.array_equal(pixels, truth))
        for name in found:
            per_image[name].append(statistics.median(samples[name]))
    return {name: 1000 * statistics.mean(times) for name, times in per_image.items()}, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=3, help="decodes of each image per reader (median kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    found = readers()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one "
          f"thread, median of {args.repeats} decodes per image, load average {os.getloadavg()[0]:.1f}")
    print(f"import torchvision.io: {import_cost('torchvision.io')}; import cv2: {import_cost('cv2')}\n")
    print("| folder | images | " + " | ".join(f"{name} ms" for name in found) + " | identical to the Pillow reader |")
    print("|---|---:|" + "---:|" * len(found) + "---|")
    for folder in args.folders:
        paths = list_images(folder, str(folder))
        times, same = measure(paths, found, args.repeats)
        label = "/".join(folder.parts[-3:]) if "LR" in str(folder) else "/".join(folder.parts[-2:])
        cells = " | ".join(f"{times[name]:.2f}" for name in found)
        agree = ", ".join(name for name in found if same[name]) or "none"
        print(f"| {label} | {len(paths)} | {cells} | {agree} |", flush=True)


if __name__ == "__main__":
    main()
