"""Tiled inference: super-resolve a large image piece by piece within bounded memory.

The LR image is cut into ``tile x tile`` pieces. Each piece runs through the model with
``overlap`` LR pixels of its surroundings, and only the piece's own part of the output is
kept, so a model whose receptive field fits in the overlap gives exactly the untiled
result; with less overlap only pixels near tile edges can differ. The model never sees an
input larger than ``tile + 2 * overlap`` pixels a side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

Forward = Callable[[Mapping[str, Any]], torch.Tensor]


def tile_spans(length: int, tile: int, overlap: int) -> Iterator[tuple[int, int, int, int]]:
    """``(start, end, context_start, context_end)`` of each tile along one axis."""
    for start in range(0, length, tile):
        end = min(start + tile, length)
        yield start, end, max(start - overlap, 0), min(end + overlap, length)


def _crop_inputs(batch: Mapping[str, Any], rows: tuple[int, int], cols: tuple[int, int],
                 lr_size: tuple[int, int], scale: int) -> dict[str, Any]:
    """The batch with every image-shaped tensor cut to the region (LR- or HR-sized alike)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.dim() == 4:
            if tuple(value.shape[-2:]) == lr_size:
                value = value[..., rows[0]:rows[1], cols[0]:cols[1]]
            elif tuple(value.shape[-2:]) == (lr_size[0] * scale, lr_size[1] * scale):
                value = value[..., rows[0] * scale:rows[1] * scale, cols[0] * scale:cols[1] * scale]
        out[key] = value
    return out


def tiled_forward(forward: Forward, batch: Mapping[str, Any], scale: int, tile: int | None,
                  overlap: int) -> torch.Tensor:
    """``forward(batch)``, run tile by tile when the LR image is larger than ``tile``."""
    lr = batch["lr"]
    height, width = lr.shape[-2:]
    if tile is None or (height <= tile and width <= tile):
        return forward(batch)
    output = None
    for top, bottom, ctx_top, ctx_bottom in tile_spans(height, tile, overlap):
        for left, right, ctx_left, ctx_right in tile_spans(width, tile, overlap):
            piece = forward(_crop_inputs(batch, (ctx_top, ctx_bottom), (ctx_left, ctx_right), (height, width), scale))
            if output is None:
                output = piece.new_empty(piece.shape[0], piece.shape[1], height * scale, width * scale)
            output[..., top * scale:bottom * scale, left * scale:right * scale] = piece[
                ..., (top - ctx_top) * scale:(bottom - ctx_top) * scale,
                (left - ctx_left) * scale:(right - ctx_left) * scale,
            ]
    return output
