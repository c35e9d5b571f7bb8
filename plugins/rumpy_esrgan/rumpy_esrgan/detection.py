"""RRDBNet weights recognised from a state dict: the community ESRGAN / Real-ESRGAN checkpoints.

Three layouts are in circulation. BasicSR's (Real-ESRGAN's releases, ``RealESRGAN_x4plus.pth``)
names modules as :class:`rumpy_esrgan.rrdbnet.RRDBNet` does; the ESRGAN repository's
(``RRDB_ESRGAN_x4.pth``) uses ``RRDB_trunk.<i>.RDB1``, ``trunk_conv``, ``upconv1`` and ``HRconv``
for the same tensors; its first release's, which most community x4 models of the upscaling
wiki keep (``4x_*.pth``), numbers one flat sequence (``model.0`` the first convolution,
``model.1.sub.<i>.RDB1.conv1.0`` the blocks, ``model.1.sub.<blocks>`` the trunk convolution,
``model.3`` and ``model.6`` the upsampling convolutions, ``model.8`` and ``model.10`` the last
two). The other two are renamed; that first layout only at x4, the one scale where its network
is BasicSR's (its x2 and x1 models upsample once or not at all). The scale follows from the first convolution's input
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

Renaming = tuple[tuple[re.Pattern[str], str], ...]

_LAYOUTS: tuple[tuple[str, str, Renaming], ...] = (
    ("the ESRGAN repository's layout", "RRDB_trunk.0.RDB1.conv1.weight", (
        (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\."), r"body.\1.rdb\2."),
        (re.compile(r"^trunk_conv\."), "conv_body."),
        (re.compile(r"^upconv(\d)\."), r"conv_up\1."),
        (re.compile(r"^HRconv\."), "conv_hr."),
    )),
    ("the first ESRGAN release's layout", "model.1.sub.0.RDB1.conv1.0.weight", (
        (re.compile(r"^model\.0\."), "conv_first."),
        (re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\."), r"body.\1.rdb\2.conv\3."),
        # the trunk convolution is the one entry of model.1.sub with its tensors directly under it
        (re.compile(r"^model\.1\.sub\.\d+\.(weight|bias)$"), r"conv_body.\1"),
        (re.compile(r"^model\.3\."), "conv_up1."),
        (re.compile(r"^model\.6\."), "conv_up2."),
        (re.compile(r"^model\.8\."), "conv_hr."),
        (re.compile(r"^model\.10\."), "conv_last."),
    )),
)
"""Each layout other than BasicSR's: its name, a key only it has, and its renaming to BasicSR's."""

_SCALE_OF_INPUT_CHANNELS = {3 * factor**2: scale for scale, factor in _UNSHUFFLE.items()}


def _renamed(key: str, renaming: Renaming) -> str:
    for pattern, replacement in renaming:
        key = pattern.sub(replacement, key)
    return key


def _in_basicsr_layout(state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``state`` under BasicSR's names, and the name of the layout it came in."""
    for layout, marker, renaming in _LAYOUTS:
        if marker in state:
            return {_renamed(key, renaming): value for key, value in state.items()}, f"{layout}, renamed"
    return dict(state), "BasicSR's layout"


def detect(state: Mapping[str, Any]) -> rumpycore.DetectedModel | None:
    """RRDBNet weights in BasicSR's layout or one of the ESRGAN code's (renamed), else None."""
    weights, layout = _in_basicsr_layout(state)
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
    return rumpycore.DetectedModel(scale, {"num_features": features, "num_blocks": blocks, "growth": growth}, weights,
                                   note=f"RRDBNet x{scale}, {features} features, {blocks} blocks, growth {growth} "
                                        f"({layout})")
