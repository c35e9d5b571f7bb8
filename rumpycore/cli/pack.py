"""``rumpy pack``: decode image folders into one HDF5 file for fast training."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


@click.command()
@click.option("--lr", type=click.Path(path_type=Path), help="Folder of low-resolution images.")
@click.option("--hr", type=click.Path(path_type=Path), help="Folder of high-resolution images.")
@click.option("--lr-interp", "--lr_interp", "lr_interp", type=click.Path(path_type=Path),
              help="Folder of LR images upscaled to the HR size.")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The packed file to write (e.g. div2k_x4.h5).")
@click.option("--metadata", type=click.Path(path_type=Path, dir_okay=False),
              help="Metadata CSV of the LR images [default: degradation_metadata.csv in --lr, if present].")
@click.option("--recursive", is_flag=True, help="Also pack images in sub-folders.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def pack(lr: Path | None, hr: Path | None, lr_interp: Path | None, out: Path, metadata: Path | None,
         recursive: bool, overwrite: bool) -> None:
    """Pack image folders as decoded uint8 images into one HDF5 file.

    Point a set's lr, hr (and lr_interp) keys at the file to read from it: batches are
    identical to reading the folders, without decoding PNGs during training.
    """
    from tqdm import tqdm

    from ..data.hdf5 import pack as write_pack
    from ..data.metadata import read_metadata_csv
    from ..data.sources import SITE_METADATA_FILES, FolderSource

    folders = {"lr": lr, "hr": hr, "lr_interp": lr_interp}
    sources = {role: FolderSource(folder, f"--{role.replace('_', '-')}", recursive)
               for role, folder in folders.items() if folder is not None}
    if not sources:
        raise UserError("give at least one of --lr, --hr, --lr-interp (see 'rumpy pack --help')")
    if metadata is None and lr is not None and (lr / SITE_METADATA_FILES[0]).is_file():
        metadata = lr / SITE_METADATA_FILES[0]
    metadata_text = None
    if metadata is not None:
        read_metadata_csv(metadata, "--metadata")
        metadata_text = metadata.read_text(encoding="utf-8-sig")
    total = sum(len(s.names) for s in sources.values())
    with tqdm(total=total, desc="packing", unit="img", leave=False, disable=None) as bar:
        result = write_pack(out, sources, metadata_text, overwrite, bar.update)
    counts = ", ".join(f"{n} {role}" for role, n in result.counts.items())
    extra = f" with metadata from {metadata}" if result.metadata else ""
    click.echo(f"packed {counts} images{extra} into {out} ({result.size / 1e6:.1f} MB)")
