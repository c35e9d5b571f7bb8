"""``rumpy eval`` (and its original name ``eval_sisr``)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click


def eval_options(command):
    """Every eval config key as a flag (flags override ``--config``)."""
    options = [
        click.option("--config", type=click.Path(path_type=Path, dir_okay=False),
                     help="TOML file with any of the keys below (flags override it)."),
        click.option("--lr_dir", "--lr-dir", help="Folder of low-resolution images."),
        click.option("--hr_dir", "--hr-dir", help="Folder of matching high-resolution images (for metrics)."),
        click.option("-me", "--model_and_epoch", "--model-and-epoch", nargs=2, multiple=True,
                     metavar="FOLDER EPOCH",
                     help="Experiment folder and epoch (number, best, last); 'bicubic -' / 'lanczos -'; or a "
                          "weights file and '-'. Repeatable."),
        click.option("--model_file", "--model-file", multiple=True, metavar="FILE",
                     help="Weights file (.pt, .pth, .safetensors) whose model a plugin recognises, e.g. a community "
                          "SwinIR checkpoint (repeatable; same as '-me FILE -')."),
        click.option("--model_loc", "--model-loc", help="Folder that relative experiment folders are found in."),
        click.option("--lr_interp_dir", "--lr-interp-dir",
                     help="Folder of LR images upscaled to the HR size (models that take lr_interp)."),
        click.option("--metadata_file", "--metadata-file",
                     help="Degradation metadata CSV of the LR images (default: the one in lr_dir)."),
        click.option("--metadata_from", "--metadata-from", nargs=2, metavar="FOLDER EPOCH",
                     help="Regression experiment and epoch whose predicted metadata feeds the models (blind SR)."),
        click.option("--task_param", "--task-param", "task_params", multiple=True, metavar="KEY=VALUE",
                     help="A setting of the models' tasks for this evaluation (repeatable), e.g. correction_steps=10."),
        click.option("--recursive", is_flag=True, default=None, help="Also take the images in sub-folders."),
        click.option("--scale", type=int, help="Scale of the data (default 4)."),
        click.option("-m", "--metrics", multiple=True, help="Metric to compute (repeatable; default PSNR, SSIM)."),
        click.option("--metric_channel", "--metric-channel",
                     type=click.Choice(["y", "y_basicsr", "rgb"], case_sensitive=False),
                     help="PSNR/SSIM on MATLAB's rounded Y (default), BasicSR's unrounded Y, or RGB."),
        click.option("--self_ensemble", "--self-ensemble", is_flag=True, default=None,
                     help="Super-resolve with the x8 flip/transpose self-ensemble ('EDSR+')."),
        click.option("--crop_border", "--crop-border", type=int, help="Border shaved before PSNR/SSIM (default scale)."),
        click.option("--batch_size", "--batch-size", type=int, help="Images per forward pass (default 1)."),
        click.option("--gpu/--no-gpu", default=None, help="Run on a CUDA GPU."),
        click.option("--sp_gpu", "--sp-gpu", type=int, help="Index of the GPU to use."),
        click.option("--tile", type=int, help="Run trained models on LR tiles of this size."),
        click.option("--tile_overlap", "--tile-overlap", type=int, help="LR pixels of context per tile (default 16)."),
        click.option("--save_im", "--save-im", is_flag=True, default=None, help="Save the super-resolved images."),
        click.option("--image_comparison/--no_image_comparison", default=None,
                     help="Write side-by-side comparison crops (default on)."),
        click.option("--num_image_save", "--num-image-save", type=int, help="At most this many comparison images."),
        click.option("--lanczos_upsample", "--lanczos-upsample", is_flag=True, default=None,
                     help="Also evaluate the Lanczos baseline."),
        click.option("--dataloader_threads", "--dataloader-threads", type=int, help="Image loading processes."),
        click.option("--out_loc", "--out-loc", help="Parent folder of the results folder (default results)."),
        click.option("--results_name", "--results-name", help="Name of the results folder (default eval)."),
        click.option("--overwrite", is_flag=True, default=None, help="Replace an existing results folder."),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout."),
    ]
    return functools.reduce(lambda c, option: option(c), reversed(options), command)


def _table(rows: list[dict]) -> str:
    columns = [c for c in rows[0] if c != "source"]
    text = [[c for c in columns]]
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            cells.append("" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
        text.append(cells)
    widths = [max(len(r[i]) for r in text) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in text)


@click.command("eval")
@eval_options
def evaluate_command(config: Path | None, as_json: bool, **flags) -> None:
    """Super-resolve a folder with trained models and baselines; measure against HR; report.

    Writes <out_loc>/<results_name>/ with config.toml, metrics.csv (per image and model),
    summary.csv (mean per model, with ms per image), comparison crops and, with --save_im,
    the super-resolved images.
    """
    from ..evaluation import evaluate, load_options

    summary = evaluate(load_options(config, flags), progress=lambda line: click.echo(f"rumpy eval: {line}", err=True))
    if as_json:
        click.echo(json.dumps({"results": str(summary.folder), "summary": summary.rows}, indent=2))
    else:
        click.echo(_table(summary.rows))
    click.echo(f"rumpy eval: results in {summary.folder}", err=True)


def eval_sisr() -> None:
    """Console-script entry point of ``eval_sisr``, the original name of ``rumpy eval``."""
    from . import run

    run(evaluate_command, prog_name="eval_sisr")
