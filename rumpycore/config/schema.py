"""The typed sections of a training config: ``[training]``, a network's ``internal_params``
and its ``init_from``, Adam's settings and ``[data]``.

Each is a params dataclass (see :mod:`rumpycore.params`): the one validator checks unknown
keys, types and ranges against them, and ``rumpy check`` fills in their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..params import option


@dataclass
class TrainingConfig:
    """The ``[training]`` section."""

    num_epochs: int | None = option(
        None, min=1, help="train until this epoch (epochs count from 1); a resumed run continues to it"
    )
    epoch_cutoff: int | None = option(None, min=1, help="the original toolbox's name for num_epochs")
    num_iterations: int | None = option(
        None, min=1, help="train for this many optimizer steps instead of epochs (as papers schedule: EDSR 300k)"
    )
    eval_every_iterations: int | None = option(
        None, min=1, help="with num_iterations: evaluate and save a checkpoint every this many steps (default 1000)"
    )
    continue_from_epoch: int | Literal["best", "last"] | None = option(
        None, min=1, help="resume from this saved epoch, or 'best' / 'last'"
    )
    seed: int = option(8, min=0, max=2**32 - 1, help="seeds model initialisation, data order, crops and augmentation")
    metrics: list[str] | None = option(
        None, help="metrics computed on the eval sets (default: PSNR, SSIM for SISR; MAE, RMSE, R2 for regression)"
    )
    metric_params: dict = option({}, help="per-metric settings: [training.metric_params.<METRIC>]")
    metric_channel: Literal["y", "y_basicsr", "rgb"] = option(
        "y", help="PSNR/SSIM on MATLAB's rounded BT.601 Y channel (as SR papers), BasicSR's unrounded Y "
                  "('y_basicsr'), or on RGB"
    )
    self_ensemble: bool = option(
        False, help="evaluate with the x8 geometric self-ensemble (flips and transpositions; 'EDSR+')"
    )
    crop_border: int | None = option(None, min=0, help="pixels shaved off each border before PSNR/SSIM (default: scale)")
    eval_frequency: int = option(1, min=1, help="evaluate every this many epochs (and always on the last)")
    best_metric: str | None = option(
        None,
        aliases=("best_load_metric",),
        help="summary column that picks the best epoch (default val-PSNR for SISR, val-MAE for regression, "
             "else val-loss)",
    )
    early_stopping_patience: int | None = option(
        None, min=1, help="stop after this many evaluations without improvement of early_stopping_metric"
    )
    early_stopping_metric: str | None = option(
        None, help="summary column watched by early stopping (default: the task's, val-loss for sisr and regression)"
    )
    precision: Literal["auto", "fp32", "tf32", "bf16", "fp16"] = option(
        "auto", help="training arithmetic: auto = bf16 on a GPU, fp32 on the CPU (evaluation is always fp32)"
    )
    channels_last: bool | None = option(None, help="NHWC layout for images and convolutions (default: on a GPU)")
    cpu_threads: int | None = option(
        None, min=1, max=1024, help="threads of the training process's CPU operations (default: the cores left to "
                                    "it by the loader workers)"
    )
    compile: bool = option(False, help="compile the training forward pass with torch.compile")
    compile_backend: str = option("inductor", help="torch.compile backend (inductor; aot_eager for debugging)")
    cuda_graph: bool = option(False, help="capture the whole training step in a CUDA graph and replay it")
    optimizer_impl: Literal["auto", "default", "foreach", "fused"] = option(
        "auto", help="Adam implementation (auto = fused on a GPU)"
    )
    ema_decay: float = option(
        0.0, min=0.0, max=0.99999,
        help="keep an exponential moving average of the weights with this decay (e.g. 0.999), evaluated, "
             "sampled and loaded by rumpy eval in place of the raw weights; 0 = off",
    )
    skip_nonfinite: bool = option(
        False, help="skip batches whose loss is NaN/inf instead of stopping (costs a sync per step on GPUs)"
    )
    skip_optimizer_load: bool = option(
        False, help="when resuming, start Adam afresh, so a changed lr or betas takes effect"
    )
    skip_scheduler_load: bool = option(False, help="when resuming, start the scheduler afresh")
    overwrite_data: bool = option(False, help="allow a new run to replace an existing experiment")
    branch_root: str | None = option(None, help="branch sub-folder to resume from and save into")
    new_branch: bool = option(False, help="resume into a new branch folder")
    new_branch_name: str | None = option(None, help="name of the new branch (default branch_epoch_<N>)")
    logging: Literal["visual", "text"] = option("visual", help="'visual' also draws loss and metric plots")
    save_samples: bool = option(
        True, aliases=("save_model_outputs",),
        help="after each evaluation save its outputs: SISR sample images; regression predictions.csv and plots",
    )
    num_samples: int = option(4, min=1, max=10000, help="how many eval images save_samples writes")
    gpu: Literal["off", "single", "multiple", "multi"] = option("off", help="'off', 'single' or 'multiple'")
    sp_gpu: int = option(0, min=0, help="GPU index used when gpu = 'single'")
    aim_track: bool = option(True, help="also log the run to an Aim repository")
    aim_home: str | None = option(None, path=True, help="Aim repository folder (default: experiment_save_loc)")
    loggers: list[str] = option([], help="extra loggers provided by plugins")
    logger_params: dict = option({}, help="per-logger settings: [training.logger_params.<LOGGER>]")
    callbacks: list[str] = option([], help="callbacks provided by plugins")
    callback_params: dict = option({}, help="per-callback settings: [training.callback_params.<CALLBACK>]")

    @property
    def period(self) -> int | None:
        """With ``num_iterations``: the steps between evaluations (None when training by epochs)."""
        if self.num_iterations is None:
            return None
        return min(self.eval_every_iterations or 1000, self.num_iterations)

    @property
    def target_epoch(self) -> int | None:
        """The epoch training stops after (``num_epochs`` or the original ``epoch_cutoff``); with
        ``num_iterations``, the number of evaluation periods, which take the place of epochs."""
        if self.num_iterations is not None:
            return -(-self.num_iterations // self.period)
        return self.num_epochs if self.num_epochs is not None else self.epoch_cutoff


@dataclass
class OptimizerParams:
    """``[model.internal_params.optimizer_params]``: Adam settings."""

    beta_1: float = option(0.9, min=0.0, max=1.0, help="Adam beta1")
    beta_2: float = option(0.999, min=0.0, max=1.0, help="Adam beta2")
    eps: float = option(1e-8, min=0.0, help="Adam epsilon")
    weight_decay: float = option(0.0, min=0.0, help="L2 weight decay")


@dataclass
class NetworkParams:
    """Keys of a network's ``internal_params`` that the core handles for every model
    (``[model.internal_params]``, and ``[model.<role>.internal_params]`` for a task's other networks)."""

    lr: float = option(1e-4, min=0.0, help="Adam learning rate")
    scale: int | None = option(None, min=1, max=64, help="super-resolution scale (required for SISR models)")
    scheduler: str | None = option(None, help="learning-rate scheduler name (none by default)")
    scheduler_params: dict = option({}, help="settings of the scheduler")
    optimizer_params: dict = option({}, help="Adam settings: beta_1, beta_2, eps, weight_decay")
    grad_clip: float | None = option(None, min=0.0, help="clip the gradient norm to this value (0 = off)")
    loss: Literal["l1", "mse"] | None = option(
        None, help="the original single loss, 'l1' or 'mse' (same as losses = {<name> = {weight = 1}})"
    )
    losses: dict = option({}, help="weighted losses: [...internal_params.losses.<LOSS>] weight = ..., settings")
    init_from: dict | None = option(
        None, help="start from trained weights: {experiment, epoch, network} or {file, key, strict, map, convert}"
    )
    preset: str | None = option(
        None, help="a named configuration of the model (listed by rumpy list-models --json); keys given beside it win"
    )


@dataclass
class InitFrom:
    """``init_from``: the weights a network starts from (ignored when a run resumes).

    Either ``experiment`` (a rumpy experiment folder, its ``epoch`` and the ``network`` role
    to take, by default the same role) or ``file`` (``.pt``/``.pth``/``.safetensors``, with
    ``key`` selecting a sub-dictionary such as ``params_ema``). ``map`` renames key prefixes
    (``{"module." = ""}``); with ``strict`` false, missing and unexpected keys are reported
    instead of refused.
    """

    experiment: str | None = option(None, help="experiment folder whose checkpoint to start from")
    epoch: int | Literal["best", "last"] = option("best", min=1, help="that experiment's epoch: a number, best, last")
    network: str | None = option(None, help="the network (role) of that experiment to take (default: the same)")
    file: str | None = option(None, help="a weights file: .pt, .pth (tensors only) or .safetensors")
    key: str | None = option(None, help="the entry of the file holding the state dict (e.g. params_ema)")
    strict: bool = option(True, help="refuse missing or unexpected keys (false: report them and go on)")
    map: dict = option({}, help="key prefix renames applied first, old -> new (e.g. {\"module.\" = \"\"})")
    convert: bool = option(
        False, help="the file is in a layout the model's plugin recognises and converts (the official EDSR and RCAN "
                    "code's: 0-255 range, other key names)"
    )


@dataclass(kw_only=True)
class DataConfig:
    """The ``[data]`` section (the per-set tables are validated by their dataset type)."""

    batch_size: int = option(16, min=1, max=65536, help="training batch size")
    eval_batch_size: int = option(1, min=1, max=65536, help="evaluation batch size")
    dataloader_threads: int | None = option(
        None, min=0, max=256, help="data loader worker processes (default: from the CPU cores and whether the "
                                   "training images are decoded in memory)"
    )
    cache_budget: float | Literal["auto"] = option(
        "auto", min=0.0, help="gigabytes of decoded images sets with cache = 'auto' may keep in memory "
                              "('auto': half the available memory; 0: none)"
    )
    drop_last_training_batch: bool = option(False, help="drop the last incomplete training batch")
    task_type: Literal["sr", "sisr", "classification", "regression"] | None = option(
        None, help="the original's task selector; the model's task decides, this must agree"
    )
    online_pipeline: dict | None = option(
        None, help="operations (as for rumpy degrade) that sets with online_degradations apply to their HR images"
    )
    metadata_normalization: Literal["minmax", "none"] = option(
        "minmax", help="scale each metadata value to [0, 1] over the training sets ('minmax'), or keep it raw"
    )
    training_sets: dict = option(help="one [data.training_sets.<id>] table per training set")
    eval_sets: dict = option(help="one [data.eval_sets.<id>] table per eval set")
