"""``rumpy export``: a trained model to ONNX or safetensors."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


@click.command("export")
@click.option("-me", "--model_and_epoch", "--model-and-epoch", nargs=2, metavar="FOLDER EPOCH",
              help="Experiment folder and epoch (number, best, last).")
@click.option("--model_file", "--model-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A weights file (.pt, .pth, .safetensors) an installed plugin recognises.")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="File to write: .onnx or .safetensors.")
@click.option("--check_image", "--check-image", type=click.Path(path_type=Path, dir_okay=False),
              help="LR image the ONNX file is checked on against PyTorch (default: a synthetic pattern).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def export_command(model_and_epoch: tuple[str, str] | None, model_file: Path | None, out: Path,
                   check_image: Path | None, overwrite: bool) -> None:
    """Export a trained model to ONNX (dynamic height and width, checked with onnxruntime) or to
    safetensors (rumpy's state dict with the model's name, scale and parameters)."""
    from ..evaluation.options import parse_epoch
    from ..export import experiment_source, export, file_source

    if (model_and_epoch is None) == (model_file is None):
        raise UserError("export: give either -me FOLDER EPOCH or --model_file FILE")
    if out.suffix.lower() not in (".onnx", ".safetensors"):
        raise UserError(f"export.out: {out.name} must end in .onnx or .safetensors")
    if out.exists() and not overwrite:
        raise UserError(f"export.out: {out} already exists; choose another file or pass --overwrite")
    if not out.parent.is_dir():
        raise UserError(f"export.out: the folder {out.parent} does not exist; create it first")
    if model_file is not None:
        source = file_source(model_file.resolve())
    else:
        folder, epoch = model_and_epoch
        source = experiment_source(Path(folder).expanduser().resolve(),
                                   parse_epoch(epoch, "export.model_and_epoch"))
    report = export(source, out, check_image)
    if report.max_difference is not None:
        click.echo(f"rumpy export: {source.label} -> {report.path}: onnxruntime vs PyTorch on {report.checked_on}: "
                   f"max difference {report.max_difference:.3g} (fp32)")
    else:
        click.echo(f"rumpy export: {source.label} -> {report.path}")
