"""Training patches: aligned crop regions, flips shared by LR and HR, uint8 tensors."""

from __future__ import annotations

import numpy as np
import torch

from .sources import Box


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W x C`` uint8 array to a contiguous ``C x H x W`` uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def crop_box(size: tuple[int, int], crop: int, rng: np.random.Generator | None) -> Box:
    """A ``crop`` x ``crop`` region of an image of ``size``: random, or centred when ``rng`` is None."""
    h, w = size
    if rng is None:
        top, left = (h - crop) // 2, (w - crop) // 2
    else:
        top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    return top, left, crop, crop


def random_flips(images: list[np.ndarray | None], rng: np.random.Generator) -> list[np.ndarray | None]:
    """Apply one random draw of horizontal flip, vertical flip and transpose to every image."""
    hflip, vflip, transpose = (bool(b) for b in rng.integers(0, 2, size=3))
    out = []
    for im in images:
        if im is not None:
            if hflip:
                im = im[:, ::-1]
            if vflip:
                im = im[::-1]
            if transpose:
                im = im.transpose(1, 0, 2)
        out.append(im)
    return out
