"""Keys of the original RUMpy that have no counterpart in rumpy.

Configs written for the original toolbox keep working: a key whose setting changes nothing
here is accepted with a one-line note saying why; a setting rumpy cannot honour is a
ConfigError naming what to do instead. Keys that do have a counterpart (``epoch_cutoff``,
``best_load_metric``, ``save_model_outputs``, ``skip_optimizer_load``, ...) are ordinary
options of :class:`rumpycore.config.TrainingConfig`, the data set types and the models.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import Any

from .errors import ConfigError

WITHOUT_EFFECT = {
    "full_loss_logging": "rumpy trains one loss, shown as train-loss",
    "id_source": "it only served the original's face-recognition metric",
    "vgg_gallery": "it only served the original's face-recognition metric",
    "run_lpips_on_gpu": "LPIPS runs on the training device",
    "new_params_override_load": "a resumed run always builds the model from this config's [model] section; "
                                "set skip_optimizer_load = true for a changed lr to take effect",
    "run_eval": "rumpy evaluates every eval_frequency epochs",
    "cleanup_metric": "it only chose what model_cleanup_frequency kept, which is not set; rumpy keeps every "
                      "epoch's checkpoint",
}

IGNORED_LOCATION = ("rumpy matches a metadata name to the column of that name or to the one column ending in "
                    "-<name>, so a column's step prefix (0-) never matters")

MODEL_KEYS_WITHOUT_EFFECT = {
    "face_training": "the original's face-segmentation training was not in use",
    "blur_kernels": "the original's loading of legacy kernel files was not in use",
    "ignore_degradation_location": IGNORED_LOCATION,
}

SET_KEYS_WITHOUT_EFFECT = {
    "ignore_degradation_location": IGNORED_LOCATION,
    "request_crops": "a contrastive encoder cuts crop_count crops of crop_size pixels from each training patch",
}

RGB_KEY = "in_features"
"""The original's number of input channels of EDSR, RCAN and the networks built like them."""


def note_without_effect(where: str, key: str, reason: str) -> None:
    """The one-line stderr note for an original rumpy setting that is accepted but changes nothing."""
    print(f"rumpy: note: {where}.{key} is a setting of the original rumpy with no effect here ({reason})",
          file=sys.stderr)


def _drop(table: dict[str, Any], where: str, keys: dict[str, str], declared: Collection[str] = ()) -> dict[str, Any]:
    kept = dict(table)
    for key in table:
        if key.lower() in keys and key.lower() not in declared:
            kept.pop(key)
            note_without_effect(where, key, keys[key.lower()])
    return kept


def drop_original_keys(table: dict[str, Any]) -> dict[str, Any]:
    """``[training]`` without the original's keys that need no setting here, noting each one dropped."""
    kept = dict(table)
    if kept.pop("max_im_val", 1.0) != 1.0:
        raise ConfigError(f"training.max_im_val: {table['max_im_val']!r} is not supported; rumpy measures PSNR and "
                          "SSIM on 8-bit levels of images scaled to [0, 1], so remove the key")
    if "model_cleanup_frequency" in kept:
        raise ConfigError("training.model_cleanup_frequency: rumpy keeps every epoch's checkpoint so any epoch "
                          "can be resumed or branched; remove the key and delete old saved_models/ files by hand")
    run_eval = next((key for key in kept if key.lower() == "run_eval"), None)
    if run_eval is not None and kept[run_eval] is not True:
        raise ConfigError(f"training.{run_eval}: rumpy evaluates every run on its eval sets; remove the key "
                          f"(eval_frequency sets how often)")
    return _drop(kept, "training", WITHOUT_EFFECT)


def drop_original_model_keys(table: dict[str, Any], where: str, declared: Collection[str]) -> dict[str, Any]:
    """A network's ``internal_params`` without the original's keys that change nothing for a model
    that does not declare them itself (``declared``: its lower-case key names), noting each one."""
    kept = _drop(table, where, MODEL_KEYS_WITHOUT_EFFECT, declared)
    for key in list(kept):
        if key.lower() == RGB_KEY and RGB_KEY not in declared:
            if kept.pop(key) != 3:
                raise ConfigError(f"{where}.{key}: {table[key]!r} input channels is not supported; rumpy's models "
                                  f"take RGB images (3 channels), so remove the key")
    return kept


def drop_original_set_keys(table: dict[str, Any], where: str, declared: Collection[str]) -> dict[str, Any]:
    """A data set table without the original's keys that change nothing for a dataset type that
    does not declare them itself, noting each one."""
    return _drop(table, where, SET_KEYS_WITHOUT_EFFECT, declared)


def drop_unmeasured_metrics(names: list[str], task: str) -> list[str]:
    """No metrics for a task whose outputs no metric measures (``TaskSpec.output = "none"``): the
    original's contrastive configs list PSNR and SSIM, which it never computed for them; noted."""
    if names:
        print(f"rumpy: note: training.metrics ({', '.join(names)}) is ignored: the {task} task's outputs are not "
              f"images or values that metrics measure", file=sys.stderr)
    return []


def drop_repeated_scheduler(table: dict[str, Any], scheduler: str, where: str) -> dict[str, Any]:
    """``scheduler_params`` without a ``scheduler`` key that repeats the network's scheduler (the
    original's sample configs carry one), noted; one naming another scheduler is a ConfigError."""
    kept = dict(table)
    for key in table:
        if key.lower() == "scheduler":
            named = kept.pop(key)
            if not isinstance(named, str) or named.lower() != scheduler.lower():
                raise ConfigError(f"{where}.{key}: names {named!r}, but the scheduler is {scheduler!r}; remove the "
                                  f"key and set scheduler only")
            note_without_effect(where, key, "it repeats the scheduler set beside scheduler_params")
    return kept

