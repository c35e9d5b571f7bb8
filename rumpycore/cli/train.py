"""``rumpy train`` and ``rumpy check``."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..config import RunConfig


def train_options(command):
    """The options shared by ``rumpy train``, ``rumpy check`` and ``train_sisr``."""
    options = [
        click.option("--parameters", "-p", required=True, type=click.Path(path_type=Path, dir_okay=False),
                     help="TOML config file."),
        click.option("--num_epochs", "--num-epochs", type=int, help="Override training.num_epochs."),
        click.option("--gpu", type=click.Choice(["off", "single", "multiple", "multi"], case_sensitive=False),
                     help="Override training.gpu."),
        click.option("--sp_gpu", "--sp-gpu", type=int, help="Override training.sp_gpu (GPU index)."),
        click.option("--seed", type=int, help="Override training.seed."),
        click.option("--continue_from_epoch", "--continue-from-epoch", metavar="N|best|last",
                     help="Resume from a saved epoch."),
        click.option("--overwrite_data", "--overwrite-data", is_flag=True, default=None,
                     help="Allow replacing an existing experiment."),
        click.option("--experiment_name", "--experiment-name", help="Override the experiment name."),
        click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
                     help="Override any config key (repeatable), e.g. --set data.batch_size=8."),
    ]
    return functools.reduce(lambda c, option: option(c), reversed(options), command)


def load_config(parameters: Path, num_epochs, gpu, sp_gpu, seed, continue_from_epoch, overwrite_data,
                experiment_name, sets) -> RunConfig:
    """Read the config with the command-line overrides applied."""
    from .. import config as cfg

    overrides = {
        "num_epochs": num_epochs,
        "gpu": gpu.lower() if gpu else None,
        "sp_gpu": sp_gpu,
        "seed": seed,
        "continue_from_epoch": cfg.parse_value(continue_from_epoch) if continue_from_epoch else None,
        "overwrite_data": overwrite_data,
    }
    return cfg.load(parameters, overrides, list(sets), experiment_name)


@click.command()
@train_options
def train(**options) -> None:
    """Train a model from a TOML config file."""
    from ..loggers.console import duration
    from ..training.run import train as run_training

    config = load_config(**options)
    args = sys.argv[1:]
    relaunch = ["train", *(args[1:] if args[:1] == ["train"] else args)]
    result = run_training(config, relaunch)
    if not result.is_main:
        return
    took = duration(result.seconds)
    if result.status == "interrupted":
        saved = result.saved_state or f"{result.folder}/saved_models/train_model_{result.epoch}.pt"
        where = (f"at epoch {result.stopped_at[0]}, batch {result.stopped_at[1]}/{result.stopped_at[2]}"
                 if result.stopped_at else f"after epoch {result.epoch}")
        click.echo(f"rumpy: stopped by {result.stopped_by} {where} ({took}); state saved in {saved}; "
                   f"resume with: rumpy train --parameters {options['parameters']} --continue_from_epoch last",
                   err=True)
        sys.exit(143 if result.stopped_by == "SIGTERM" else 130)
    if result.status == "early-stopped":
        click.echo(f"rumpy: stopped early after epoch {result.epoch} ({took}); results in {result.folder}", err=True)
    else:
        click.echo(f"rumpy: finished epoch {result.epoch} in {took}; results in {result.folder}", err=True)


@click.command()
@train_options
@click.option("--no-data", "--no_data", "no_data", is_flag=True,
              help="Validate the config alone: its data, GPUs, weights files and init_from sources need not "
                   "exist here.")
def check(no_data: bool, **options) -> None:
    """Validate a config and print it resolved (defaults filled in), without training or writing.

    The data sets are scanned and the devices, pretrained weights files and ``init_from`` sources
    checked too, as ``rumpy train`` would, unless --no-data is given (then a config meant for another machine can
    be checked anywhere).
    """
    import toml

    from ..training.devices import check_devices
    from ..training.run import parameter_counts

    from ..resources import elsewhere

    with elsewhere() if no_data else contextlib.nullcontext():
        config = load_config(**options)
    if not no_data:
        check_devices(config.training.gpu, config.training.sp_gpu)
    counts = parameter_counts(config, read_data=not no_data)
    sys.stdout.write(toml.dumps(config.resolved()))
    click.echo("")
    for role, count in counts.items():
        where = "model" if role == config.primary.role else f"model.{role}"
        name = config.networks[role].model.spec.name
        if count is None:
            click.echo(f"# {where} {name}: its size depends on the metadata in the data; check without --no-data "
                       f"to count its parameters")
        else:
            click.echo(f"# {where} {name}: {count:,} trainable parameters")
