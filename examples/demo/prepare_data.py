"""Write the demo's data set: real photographs that ship with scikit-image, as HR/LR pairs.

Usage: python examples/demo/prepare_data.py OUT_DIR

Training photos go to OUT_DIR/train/{HR,LR}, evaluation photos to OUT_DIR/eval/{HR,LR};
LR images are made with rumpy's MATLAB-compatible bicubic downsampling (x4).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from rumpycore.degrade.resize import imresize

SCALE = 4
TRAIN = ["astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
EVAL = ["chelsea", "camera"]


def write_pair(name: str, folder: Path) -> None:
    """Save one scikit-image photo as HR (cropped to a multiple of the scale) and its x4 LR."""
    image = getattr(skimage.data, name)()
    h, w = image.shape[0] - image.shape[0] % SCALE, image.shape[1] - image.shape[1] % SCALE
    hr = np.ascontiguousarray(image[:h, :w])
    lr = imresize(hr, 1 / SCALE)
    for sub, pixels in (("HR", hr), ("LR", lr)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / sub / f"{name}.png")


def main(out: Path) -> None:
    for name in TRAIN:
        write_pair(name, out / "train")
    for name in EVAL:
        write_pair(name, out / "eval")
    print(f"demo data written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "demo_data"))
