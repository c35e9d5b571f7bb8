"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from .callbacks.ema import EMAParams, build_ema
from .callbacks.guard import build_guard
from .callbacks.selection import build_best, build_early_stopping
from .data.paired import PairedParams, build_paired
from .hookspecs import hookimpl
from .loggers.aim_tracker import AimParams, build_aim
from .loggers.console import ConsoleLogger, ConsoleParams
from .loggers.samples import SampleLogger
from .loggers.steps import StepLossParams, build_step_loss
from .loggers.summary import SummaryLogger
from .losses.perceptual import PerceptualParams, build_perceptual, check_perceptual
from .losses.pixel import L1, MSE, Charbonnier, CharbonnierParams
from .metrics.fidelity import FidelityParams, build_psnr, build_ssim
from .metrics.perceptual import LPIPSParams, build_lpips, check_lpips
from .metrics.regression import build_mae, build_r2, build_rmse
from .specs import (
    CallbackSpec,
    DatasetSpec,
    LoggerSpec,
    LossSpec,
    MetricSpec,
    NetworkRole,
    SchedulerSpec,
    TaskSpec,
)
from .tasks.regression import RegressionTask
from .tasks.sisr import SISRTask
from .training import schedulers as sch


@hookimpl
def register_tasks(register):
    register(TaskSpec("sisr", SISRTask, roles=(NetworkRole("model", ("sisr",), losses={"l1": 1.0}),),
                      metrics=("PSNR", "SSIM"), best_metric="val-PSNR", writes="samples",
                      summary="single-image super-resolution: one network from LR to HR images"))
    register(TaskSpec("regression", RegressionTask, roles=(NetworkRole("model", ("regression",), losses={"l1": 1.0}),),
                      metrics=("MAE", "RMSE", "R2"), metric_kind="regression", best_metric="val-MAE",
                      output="values", needs_hr=False, metadata="targets", writes="predictions",
                      summary="degradation regression: one network predicting an LR image's metadata"))


@hookimpl
def register_losses(register):
    register(LossSpec("l1", lambda p, ctx: L1(), summary="mean absolute difference"))
    register(LossSpec("mse", lambda p, ctx: MSE(), summary="mean squared difference"))
    register(LossSpec("charbonnier", lambda p, ctx: Charbonnier(p.eps), CharbonnierParams,
                      summary="smooth L1: sqrt(difference^2 + eps^2)"))
    register(LossSpec("perceptual", build_perceptual, PerceptualParams, check=check_perceptual,
                      summary="VGG19 feature distance at weighted layers (SRGAN, ESRGAN, Real-ESRGAN)"))


@hookimpl
def register_callbacks(register):
    register(CallbackSpec("ema", build_ema, EMAParams, summary="exponential moving average of the weights "
                                                                "([training] ema_decay), evaluated in their place"))
    register(CallbackSpec("early_stopping", build_early_stopping,
                          summary="stop after early_stopping_patience evaluations without improvement"))
    register(CallbackSpec("best_checkpoint", build_best, summary="saved_models/best.pt: the best epoch's checkpoint"))
    register(CallbackSpec("nonfinite_guard", build_guard, summary="stop within one step of a NaN or infinite loss"))


@hookimpl
def register_datasets(register):
    register(DatasetSpec("paired", build_paired, PairedParams,
                         summary="LR/HR image folders paired by file name"))


@hookimpl
def register_metrics(register):
    register(MetricSpec("PSNR", build_psnr, higher_is_better=True, params=FidelityParams,
                        summary="peak signal-to-noise ratio (dB), 8-bit, MATLAB Y channel, border shaved"))
    register(MetricSpec("SSIM", build_ssim, higher_is_better=True, params=FidelityParams,
                        summary="structural similarity, 11x11 Gaussian window, MATLAB Y channel"))
    register(MetricSpec("LPIPS", build_lpips, higher_is_better=False, params=LPIPSParams, check=check_lpips,
                        summary="learned perceptual similarity (AlexNet or VGG, lpips package), RGB in [-1, 1]"))
    register(MetricSpec("MAE", build_mae, higher_is_better=False, task="regression",
                        summary="mean absolute error of the predicted targets, in their original units"))
    register(MetricSpec("RMSE", build_rmse, higher_is_better=False, task="regression",
                        summary="root mean squared error of the predicted targets, in their original units"))
    register(MetricSpec("R2", build_r2, higher_is_better=True, task="regression",
                        summary="coefficient of determination of the predicted targets (1 is perfect)"))


@hookimpl
def register_schedulers(register):
    register(SchedulerSpec("cosine_annealing_warm_restarts", sch.cosine_restarts, sch.CosineRestartParams,
                           summary="cosine decay with warm restarts (periods in batches)"))
    register(SchedulerSpec("multi_step_lr", sch.multi_step, sch.MultiStepParams,
                           summary="drop by gamma at milestones (in batches)"))
    register(SchedulerSpec("step_lr", sch.step, sch.StepParams, summary="drop by gamma every step_size batches"))
    register(SchedulerSpec("one_cycle_lr", sch.one_cycle, sch.OneCycleParams, summary="one-cycle policy"))


def _plots(params, ctx):
    from .loggers.plots import PlotLogger  # matplotlib: imported only by runs that draw

    return PlotLogger(ctx)


def _predictions(params, ctx):
    from .loggers.predictions import PredictionLogger  # draws with matplotlib too

    return PredictionLogger(ctx)


@hookimpl
def register_loggers(register):
    register(LoggerSpec("console", ConsoleLogger, ConsoleParams, summary="progress bars and epoch tally"))
    register(LoggerSpec("summary", lambda p, ctx: SummaryLogger(ctx), summary="result_outputs/summary.csv"))
    register(LoggerSpec("plots", _plots, summary="loss and metric plots (PNG, PDF)"))
    register(LoggerSpec("samples", lambda p, ctx: SampleLogger(ctx), summary="eval sample images per epoch"))
    register(LoggerSpec("predictions", _predictions,
                        summary="regression: per-image predictions CSV and scatter plots per epoch"))
    register(LoggerSpec("aim", build_aim, AimParams, summary="Aim run: hyper-parameters, statistics, system metrics"))
    register(LoggerSpec("step_loss", build_step_loss, StepLossParams,
                        summary="the training loss every few steps: step_losses.csv and loss_steps.png"))
