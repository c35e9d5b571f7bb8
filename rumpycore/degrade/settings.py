"""Settings of ``rumpy degrade``: command-line flags, the pipeline config file, and their precedence.

An explicit flag wins over the file, and the file wins over the defaults. (The original
rumpy let its flag defaults replace the file's values; its ``override_cli = true``, which
makes the file win over explicit flags too, keeps working.)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import toml

from ..errors import ConfigError, UserError
from ..params import option, parse
from ..safety import user_path
from .folder import OUTPUT_FORMATS, FolderJob
from .pipeline import Pipeline, pipeline_entries


@dataclass
class DegradeSettings:
    """Top-level keys of a pipeline config file; each but ``deg_configs`` is also a flag."""

    source_dir: str | None = option(None, help="folder of HR images (or one image)")
    output_dir: str | None = option(None, help="folder to create for the degraded images")
    pipeline: str | list[Any] | None = option(
        None, help="operations: names joined by '-', or a list of names and [name, config_id] pairs")
    deg_configs: dict = option({}, help="[deg_configs.<id>] tables of operation parameters")
    seed: int = option(8, min=0, max=2**32 - 1, help="seed of every random draw; image i, copy m uses (seed, i, m)")
    scale: int | None = option(None, min=1, max=64, help="scale of each downsample/upsample that sets none (default 4)")
    multiples: int = option(1, min=1, max=10000, help="degraded copies per image, named <stem>_q<m>")
    recursive: bool = option(False, help="also degrade images in sub-folders (the layout is kept)")
    output_extension: str = option("png", help=f"output format: {', '.join(OUTPUT_FORMATS)}")
    overwrite: bool = option(False, help="replace an existing output folder of rumpy degrade")
    workers: int = option(1, min=1, max=256, help="processes degrading images in parallel (results do not depend on it)")
    override_cli: bool = option(False, help="original rumpy: the file's values win over flags too")


PATH_KEYS = ("source_dir", "output_dir")


def read_config_file(path: Path) -> tuple[DegradeSettings, set[str]]:
    """Parse a pipeline config file; returns the settings and the keys the file gives."""
    if not path.is_file():
        raise UserError(f"pipeline_config: {path} does not exist")
    try:
        raw = toml.load(path)
    except Exception as exc:  # the toml package raises assorted errors (IndexError, ...) on malformed input
        raise ConfigError(f"{path}: not valid TOML ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    settings = _parse_settings(raw, f"{path}: ")
    base = path.resolve().parent
    for key in PATH_KEYS:
        value = getattr(settings, key)
        if value is not None:
            setattr(settings, key, str(_absolute(value, base, key)))
    return settings, {str(key).lower() for key in raw}


def resolve(flags: dict[str, Any], config_file: Path | None) -> FolderJob:
    """Merge flags (``None`` = not given) with the config file and build the validated job."""
    given = {key: value for key, value in flags.items() if value is not None}
    for key in PATH_KEYS:
        if key in given:
            given[key] = str(_absolute(str(given[key]), Path.cwd(), key))
    from_file: dict[str, Any] = {}
    base = Path.cwd()
    if config_file is not None:
        file_settings, keys = read_config_file(config_file)
        from_file = {key: getattr(file_settings, key) for key in keys}
        base = config_file.resolve().parent
    merged = {**given, **from_file} if from_file.get("override_cli") else {**from_file, **given}
    settings = _parse_settings({key: merged[key] for key in (f.name for f in fields(DegradeSettings))
                                if key in merged}, "")
    for key, flag in (("source_dir", "--source-dir"), ("output_dir", "--output-dir")):
        if getattr(settings, key) is None:
            raise UserError(f"{key}: not given; add {flag} (or {key} in the pipeline config)")
    tables = settings.deg_configs
    if "pipeline" in given and "pipeline" in from_file and not from_file.get("override_cli"):
        # The file's own pipeline is replaced, so only the tables the flag's operations name apply.
        named = {config_id for _, config_id, _ in pipeline_entries(settings.pipeline, "pipeline")}
        tables = {key: value for key, value in tables.items() if key in named}
    pipeline = Pipeline.from_config({"pipeline": settings.pipeline, "deg_configs": tables}, "",
                                    scale=settings.scale, base_dir=base, even_lr_for_h264=True)
    extension = settings.output_extension.lower().lstrip(".")
    record = {"source_dir": settings.source_dir, "output_dir": settings.output_dir, "seed": settings.seed,
              "scale": settings.scale, "multiples": settings.multiples, "recursive": settings.recursive,
              "output_extension": extension, **pipeline.resolved()}
    return FolderJob(Path(settings.source_dir), Path(settings.output_dir), pipeline, settings.seed,
                     settings.multiples, settings.recursive, extension, settings.overwrite, settings.workers,
                     {key: value for key, value in record.items() if value is not None})


def _parse_settings(raw: dict[str, Any], prefix: str) -> DegradeSettings:
    """Validate top-level settings (from a file, or flags merged with it); ``prefix`` names the file."""
    try:
        return parse(DegradeSettings, raw, "")
    except ConfigError as exc:
        # parse() names keys "<table>.<key>"; these keys sit at the top level.
        raise ConfigError(f"{prefix}{str(exc).lstrip('.')}") from None


def _absolute(value: str, base: Path, key: str) -> Path:
    return user_path(value, base, key).resolve()
