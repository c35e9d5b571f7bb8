"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from .data.paired import PairedParams, build_paired
from .hookspecs import hookimpl
from .loggers.aim_tracker import AimParams, build_aim
from .loggers.console import ConsoleLogger, ConsoleParams
from .loggers.samples import SampleLogger
from .loggers.summary import SummaryLogger
from .metrics.fidelity import FidelityParams, build_psnr, build_ssim
from .metrics.perceptual import LPIPSParams, build_lpips, check_lpips
from .metrics.regression import build_mae, build_r2, build_rmse
from .specs import DatasetSpec, LoggerSpec, MetricSpec, SchedulerSpec
from .training import schedulers as sch


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
