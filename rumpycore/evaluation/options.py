"""``rumpy eval`` options: one flat TOML table (the original ``eval_sisr`` keys) or flags.

Flags override the file. Relative paths in the file resolve against the file's folder,
relative paths given as flags against the current folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from .. import params as P
from ..config import parse_value, read_toml
from ..errors import ConfigError
from ..params import option
from ..safety import expand_user, user_path
from ..store.weights import WEIGHT_SUFFIXES
from .baselines import BASELINES

WHERE = "eval"
PATH_KEYS = ("lr_dir", "hr_dir", "lr_interp_dir", "metadata_file", "model_loc", "out_loc")
NO_EPOCH = ("", "-")


@dataclass
class EvalOptions:
    """Every key of an eval config (``rumpy eval --config eval.toml``); each is also a flag."""

    lr_dir: str = option(help="folder of low-resolution images to super-resolve")
    hr_dir: str | None = option(None, help="folder of the matching high-resolution images (needed for metrics)")
    lr_interp_dir: str | None = option(
        None, help="folder of the LR images upscaled to the HR size, for models that take them (lr_interp; "
                   "default: made from lr_dir with MATLAB's bicubic imresize)"
    )
    model_and_epoch: list[Any] = option(
        [], help='[experiment folder, epoch] pairs; epoch is a number, "best" or "last" (as strings in TOML); '
                 'a baseline is ["bicubic", "-"] or ["lanczos", "-"]; a weights file is ["model.pth", "-"]'
    )
    model_file: list[str] = option(
        [], help="weights files (.pt, .pth, .safetensors) whose model an installed plugin recognises (spandrel's "
                 "architectures, official EDSR/RCAN weights); the same as [file, \"-\"] in model_and_epoch"
    )
    model_loc: str | None = option(None, help="folder that relative experiment folders are looked up in")
    metadata_file: str | None = option(
        None, help="degradation metadata CSV of the LR images, for metadata-conditioned models "
                   "(default: degradation_metadata.csv in lr_dir)"
    )
    metadata_from: list[str] | None = option(
        None, help="[regression experiment folder, epoch]: feed metadata-conditioned models the metadata this "
                   "model predicts from each LR image instead of metadata_file (blind SR)"
    )
    task_params: dict = option({}, help="settings of the models' tasks for this evaluation, over those they were "
                                        "trained with (correction_steps = 10); each key must belong to some "
                                        "model's task")
    recursive: bool = option(False, help="also take the images in sub-folders of lr_dir (and of hr_dir and "
                                         "lr_interp_dir); names become relative paths")
    scale: int = option(4, min=1, max=64, help="super-resolution scale of the data (every model must match it)")
    metrics: list[str] | None = option(None, help="metrics to compute (default: PSNR and SSIM when hr_dir is given)")
    metric_params: dict = option({}, help="per-metric settings: [metric_params.<METRIC>]")
    metric_channel: Literal["y", "y_basicsr", "rgb"] = option(
        "y", help="PSNR/SSIM on MATLAB's rounded BT.601 Y channel (as SR papers), BasicSR's unrounded Y ('y_basicsr'), "
                  "or RGB")
    self_ensemble: bool = option(False, help="super-resolve with the x8 geometric self-ensemble ('EDSR+')")
    crop_border: int | None = option(None, min=0, help="pixels shaved off each border before PSNR/SSIM (default: scale)")
    batch_size: int = option(1, min=1, max=65536, help="images per forward pass (only equal sizes share a batch)")
    gpu: bool = option(False, help="run on a CUDA GPU")
    sp_gpu: int = option(0, min=0, help="index of the GPU to use")
    tile: int | None = option(None, min=1, max=65536, help="run trained models on LR tiles of this size (bounded memory)")
    tile_overlap: int = option(16, min=0, max=65536, help="LR pixels of context added around each tile")
    save_im: bool = option(False, help="save every super-resolved image")
    image_comparison: bool = option(True, help="save side-by-side crops of LR, bicubic, each model and HR")
    no_image_comparison: bool = option(False, help="the original toolbox's switch to turn image_comparison off")
    num_image_save: int | None = option(None, min=0, help="write at most this many comparison images")
    lanczos_upsample: bool = option(False, help="also evaluate the Lanczos baseline (the original's switch)")
    full_directory: bool = option(True, help="the original's 'every image in lr_dir'; rumpy always does that")
    dataloader_threads: int | None = option(None, min=0, max=256, help="image loading processes (default: up to 2)")
    out_loc: str = option("results", help="parent folder of the results folder")
    results_name: str = option("eval", help="name of the results folder under out_loc")
    overwrite: bool = option(False, help="replace an existing results folder")

    @property
    def comparisons(self) -> bool:
        """Whether comparison images are written."""
        return self.image_comparison and not self.no_image_comparison


@dataclass(frozen=True)
class ModelEntry:
    """One ``model_and_epoch`` item: a baseline name, an experiment folder and epoch, or a weights file."""

    where: str
    name: str
    epoch: int | Literal["best", "last"] | None = None

    @property
    def weights_file(self) -> bool:
        """Whether the entry names a weights file (no epoch, a weights suffix)."""
        return self.epoch is None and not self.baseline and Path(self.name).suffix.lower() in WEIGHT_SUFFIXES

    @property
    def baseline(self) -> str | None:
        """The baseline's name (``bicubic``, ``lanczos``), or None for an experiment."""
        return self.name.lower() if self.name.lower() in BASELINES else None


@dataclass
class LoadedOptions:
    """Validated options, the model entries, and the folders relative paths resolve against."""

    options: EvalOptions
    models: list[ModelEntry]
    base_dir: Path
    model_base: Path
    metadata_predictor: ModelEntry | None = None

    def path(self, value: str) -> Path:
        """A path option resolved against the config's folder (or the current folder)."""
        return user_path(value, self.base_dir, WHERE).resolve()

    def model_folder(self, entry: ModelEntry) -> Path:
        """An experiment folder: absolute, under ``model_loc``, or relative to where it was given."""
        path = expand_user(entry.name, entry.where)
        if path.is_absolute():
            return path
        base = self.path(self.options.model_loc) if self.options.model_loc else self.model_base
        return (base / path).resolve()

    def resolved(self) -> dict:
        """The options as a TOML-ready table with absolute paths, for the results folder."""
        table = {k: v for k, v in asdict(self.options).items() if v is not None and v != {}}
        for key in PATH_KEYS:
            if key in table:
                table[key] = str(self.path(table[key]))
        table["model_and_epoch"] = [
            [e.name if e.baseline else str(self.model_folder(e)), "-" if e.epoch is None else str(e.epoch)]
            for e in self.models
        ]
        table.pop("model_file", None)  # listed in model_and_epoch above
        predictor = self.metadata_predictor
        if predictor is not None:
            table["metadata_from"] = [str(self.model_folder(predictor)), str(predictor.epoch)]
        table.pop("model_loc", None)  # folders above are absolute already
        return table


def parse_epoch(value: Any, where: str) -> int | Literal["best", "last"]:
    """An epoch number (int or digits), ``best`` or ``last``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected an epoch number, 'best' or 'last', got {value!r}")
    if isinstance(value, int) and value >= 1:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("best", "last"):
            return text  # type: ignore[return-value]
        if text.isdigit() and int(text) >= 1:
            return int(text)
    raise ConfigError(f"{where}: expected an epoch number, 'best' or 'last', got {value!r}")


def parse_predictor(raw: list[str] | None) -> ModelEntry | None:
    """The ``metadata_from`` pair: a regression experiment folder and its epoch."""
    if raw is None:
        return None
    where = f"{WHERE}.metadata_from"
    if len(raw) != 2 or not raw[0].strip():
        raise ConfigError(f"{where}: expected [regression experiment folder, epoch], got {raw!r}")
    return ModelEntry(where, raw[0].strip(), parse_epoch(raw[1], where))


def parse_models(raw: list[Any]) -> list[ModelEntry]:
    """Check every ``model_and_epoch`` item: ``[folder, epoch]``, a baseline or ``[weights file, "-"]``."""
    entries = []
    for i, item in enumerate(raw):
        where = f"{WHERE}.model_and_epoch[{i}]"
        pair = [item] if isinstance(item, str) else item
        if not isinstance(pair, (list, tuple)) or not 1 <= len(pair) <= 2 or not isinstance(pair[0], str):
            raise ConfigError(f"{where}: expected [experiment folder, epoch], got {item!r}")
        name = pair[0].strip()
        epoch = pair[1] if len(pair) == 2 else None
        if name.lower() in BASELINES:
            if epoch is not None and str(epoch).strip() not in NO_EPOCH:
                raise ConfigError(f"{where}: {name} is a baseline without epochs; write [\"{name}\", \"-\"]")
            entries.append(ModelEntry(where, name.lower()))
            continue
        if Path(name).suffix.lower() in WEIGHT_SUFFIXES and (epoch is None or str(epoch).strip() in NO_EPOCH):
            entries.append(ModelEntry(where, name))
            continue
        if epoch is None:
            raise ConfigError(f"{where}: {name} needs an epoch: a number, 'best' or 'last'")
        entries.append(ModelEntry(where, name, parse_epoch(epoch, where)))
    return entries


def task_param(assignment: str) -> tuple[str, Any]:
    """One ``--task_param KEY=VALUE`` flag: the key and the value read as TOML."""
    key, equals, text = assignment.partition("=")
    if not equals or not key.strip():
        raise ConfigError(f"{WHERE}.task_params: --task_param {assignment}: expected key=value")
    return key.strip(), parse_value(text.strip())


def load_options(config: Path | None, flags: Mapping[str, Any]) -> LoadedOptions:
    """Read the config file (if any), apply the flags that were given, and validate."""
    raw: dict[str, Any] = read_toml(config) if config is not None else {}
    cwd = Path.cwd()
    base_dir = config.resolve().parent if config is not None else cwd
    model_base = base_dir
    for key, value in flags.items():
        if value is None or (isinstance(value, (tuple, list)) and not value):
            continue
        if key in PATH_KEYS:
            value = str(user_path(value, cwd, f"{WHERE}.{key}").resolve())
        if key in ("model_and_epoch", "model_file"):
            model_base = cwd
        if isinstance(value, tuple):  # repeatable flags and pairs
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        if key == "task_params":  # KEY=VALUE flags
            value = {**raw.get("task_params", {}), **dict(task_param(v) for v in value)}
        if key == "metadata_from" and len(value) == 2:  # a flag's folder is relative to the current folder
            value = [str(user_path(value[0], cwd, f"{WHERE}.metadata_from").resolve()), value[1]]
        raw[key] = value
    options = P.parse(EvalOptions, raw, WHERE)
    if not options.full_directory:
        raise ConfigError(f"{WHERE}.full_directory: false (the original's named splits) is not supported; "
                          f"point lr_dir at a folder holding just the images to evaluate")
    if options.metadata_file is not None and options.metadata_from is not None:
        raise ConfigError(f"{WHERE}.metadata_from: given together with metadata_file; the metadata comes from "
                          f"one of them, keep one")
    entries = parse_models(options.model_and_epoch)
    for i, name in enumerate(options.model_file):
        where = f"{WHERE}.model_file[{i}]"
        if Path(name).suffix.lower() not in WEIGHT_SUFFIXES:
            raise ConfigError(f"{where}: {name} is not a .pt, .pth or .safetensors file")
        entries.append(ModelEntry(where, name))
    return LoadedOptions(options, entries, base_dir, model_base, parse_predictor(options.metadata_from))
