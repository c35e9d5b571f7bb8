"""``rumpy degrade``: make degraded (low-resolution) images and their metadata from HR images."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--source-dir", "--source_dir", "source_dir", type=click.Path(path_type=Path),
              help="Folder of HR images (or one image).")
@click.option("--output-dir", "--output_dir", "output_dir", type=click.Path(path_type=Path),
              help="Folder to create for the degraded images and their metadata.")
@click.option("--pipeline", metavar="OP-OP-...", help="Operations in order, e.g. blur-downsample-noise-compress.")
@click.option("--pipeline-config", "--pipeline_config", "pipeline_config",
              type=click.Path(path_type=Path, dir_okay=False),
              help="TOML file: pipeline, [deg_configs.<id>] parameter tables, and any of these flags.")
@click.option("--scale", type=click.IntRange(min=1), help="Scale of downsample/upsample operations  [default: 4]")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of every random draw  [default: 8]")
@click.option("--multiples", type=click.IntRange(min=1), help="Degraded copies per image, named <stem>_q<m>.")
@click.option("--recursive/--no-recursive", default=None, help="Also degrade images in sub-folders.")
@click.option("--output-extension", "--output_extension", "output_extension",
              help="png (default), bmp, tif or tiff.")
@click.option("--workers", type=click.IntRange(min=1), help="Processes degrading images in parallel  [default: 1]")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an earlier output folder of rumpy degrade.")
def degrade(pipeline_config: Path | None, **flags) -> None:
    """Degrade HR images (blur, downsample, noise, compress, ...) and record what was applied.

    Writes the images, degradation_metadata.csv (one row per image), degradation_config.toml
    and degradation_hyperparameters.csv into the output folder. Explicit flags win over the
    pipeline config, which wins over the defaults.
    """
    from tqdm import tqdm

    from ..degrade.folder import plan, run
    from ..degrade.settings import resolve

    job = resolve(flags, pipeline_config)
    images = plan(job)
    start = time.perf_counter()
    with tqdm(total=len(images) * job.multiples, unit="image", desc="degrade", disable=None) as bar:
        count = run(job, images, bar.update)
    click.echo(f"rumpy: wrote {count} degraded images from {len(images)} in {job.output} "
               f"({time.perf_counter() - start:.1f} s)", err=True)
