"""RRDBNet weights recognised from a state dict: the community ESRGAN / Real-ESRGAN checkpoints.

Two layouts are in circulation. BasicSR's (Real-ESRGAN's releases, ``RealESRGAN_x4plus.pth``)
names modules as :class:`rumpy_esrgan.rrdbnet.RRDBNet` does; the ESRGAN repository's
(``RRDB_ESRGAN_x4.pth``) uses ``RRDB_trunk.<i>.RDB1``, ``trunk_conv``, ``upconv1`` and ``HRconv``
for the same tensors, and is renamed. The scale follows from the first convolution's input
channels (3 at x4; 12 and 48 after the pixel-unshuffle of x2 and x1), the sizes from the
tensors' shapes. ``res_scale`` cannot be read from weights; every released model uses 0.2, the
default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import rumpycore

from .rrdbnet import _UNSHUFFLE

_ESRGAN_REPO_NAMES = (
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv(\d)\."), r"conv_up\1."),
    (re.compile(r"^HRconv\."), "conv_hr."),
)

_SCALE_OF_INPUT_CHANNELS = {3 * factor**2: scale for scale, factor in _UNSHUFFLE.items()}


def _renamed(key: str) -> str:
    for pattern, replacement in _ESRGAN_REPO_NAMES:
        key = pattern.sub(replacement, key)
    return key


def detect(state: Mapping[str, Any]) -> rumpycore.DetectedModel | None:
    """RRDBNet weights in BasicSR's layout or the ESRGAN repository's (renamed), else None."""
    repo_layout = "RRDB_trunk.0.RDB1.conv1.weight" in state
    weights = {_renamed(key): value for key, value in state.items()} if repo_layout else dict(state)
    needed = ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
              "conv_up2.weight", "conv_hr.weight", "conv_last.weight")
    if any(key not in weights for key in needed):
        return None
    first = weights["conv_first.weight"]
    scale = _SCALE_OF_INPUT_CHANNELS.get(first.shape[1])
    if scale is None or weights["conv_last.weight"].shape[0] != 3:
        return None
    features = first.shape[0]
    growth = weights["body.0.rdb1.conv1.weight"].shape[0]
    blocks = sum(1 for key in weights if re.fullmatch(r"body\.\d+\.rdb1\.conv1\.weight", key))
    layout = "the ESRGAN repository's layout, renamed" if repo_layout else "BasicSR's layout"
    return rumpycore.DetectedModel(scale, {"num_features": features, "num_blocks": blocks, "growth": growth}, weights,
                                   note=f"RRDBNet x{scale}, {features} features, {blocks} blocks, growth {growth} "
                                        f"({layout})")
