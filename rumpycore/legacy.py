"""``[training]`` keys of the original RUMpy that have no counterpart in rumpy.

Configs written for the original toolbox keep working: a key whose setting changes nothing
here is accepted with a one-line note saying why; a setting rumpy cannot honour is a
ConfigError naming what to do instead. Keys that do have a counterpart (``epoch_cutoff``,
``best_load_metric``, ``save_model_outputs``, ``skip_optimizer_load``, ...) are ordinary
options of :class:`rumpycore.config.TrainingConfig`.
"""

from __future__ import annotations

import sys
from typing import Any

from .errors import ConfigError

WITHOUT_EFFECT = {
    "full_loss_logging": "rumpy trains one loss, shown as train-loss",
    "id_source": "it only served the original's face-recognition metric",
    "vgg_gallery": "it only served the original's face-recognition metric",
    "run_lpips_on_gpu": "LPIPS runs on the training device",
    "new_params_override_load": "a resumed run always builds the model from this config's [model] section; "
                                "set skip_optimizer_load = true for a changed lr to take effect",
}


def drop_original_keys(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` without the original's keys that need no setting here, noting each one dropped."""
    kept = dict(table)
    if kept.pop("max_im_val", 1.0) != 1.0:
        raise ConfigError(f"training.max_im_val: {table['max_im_val']!r} is not supported; rumpy measures PSNR and "
                          "SSIM on 8-bit levels of images scaled to [0, 1], so remove the key")
    if "model_cleanup_frequency" in kept or "cleanup_metric" in kept:
        raise ConfigError("training.model_cleanup_frequency: rumpy keeps every epoch's checkpoint so any epoch "
                          "can be resumed or branched; remove the key and delete old saved_models/ files by hand")
    for key, reason in WITHOUT_EFFECT.items():
        if key in kept:
            kept.pop(key)
            print(f"rumpy: note: training.{key} is a setting of the original rumpy with no effect here ({reason})",
                  file=sys.stderr)
    return kept
