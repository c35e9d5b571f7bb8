"""Pytest helpers for rumpy and its plugins: tiny real data sets, configs, and the real CLI.

Use from a plugin's tests with ``pytest_plugins = ["rumpycore.testing"]`` in a conftest.
Images are real photographs: those of the SR benchmark folder named by the environment
variable ``RUMPY_TEST_DATA`` (default: the first ``shared/data`` found beside the rumpy checkout
or above it), or, on a machine without that folder, photographs that ship with scikit-image.
Tests that need the benchmark's MATLAB-made LR images carry the :data:`needs_benchmark` marker
and are skipped without it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import toml
import torch
from PIL import Image

from .loggers.summary import read_summary

REPO = Path(__file__).resolve().parents[1]


BENCHMARK_HINT = "set RUMPY_TEST_DATA to the benchmark folder (Set5, Set14, B100 with MATLAB-made x4 LR images)"


def benchmark_dir() -> Path | None:
    """The SR benchmark folder (Set5, Set14, B100 with MATLAB-made x4 LR images; photos in
    ``train/HR``), or None when this machine has none."""
    configured = os.environ.get("RUMPY_TEST_DATA")
    candidates = [Path(configured)] if configured else [folder / "shared" / "data" for folder in REPO.parents]
    return next((c for c in candidates if (c / "Set5" / "HR").is_dir()), None)


def shared_data_dir() -> Path:
    """The benchmark folder, for scripts that cannot do without it (the benchmarks)."""
    path = benchmark_dir()
    if path is None:
        raise RuntimeError(f"benchmark images not found; {BENCHMARK_HINT}")
    return path


needs_benchmark = pytest.mark.skipif(benchmark_dir() is None, reason=f"no benchmark images; {BENCHMARK_HINT}")
"""Marker for tests that compare with the benchmark's MATLAB-made LR images or published numbers."""

STAND_IN_TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "motorcycle_left",
                  "motorcycle_right", "retina", "rocket")
"""scikit-image's RGB photographs that stand in for the benchmark folder's ``train/HR``."""
STAND_IN_EVAL = ("coffee", "camera")
"""scikit-image's evaluation photographs: an RGB one and a gray one (as Set14's lenna and bridge)."""


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name.startswith("motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(skimage.data, name)()


def write_stand_in_photos(root: Path) -> Path:
    """Write scikit-image's photographs as PNG files under ``root``: ``train/HR`` (RGB) and
    ``eval/HR`` (one RGB, one gray), the layout :func:`real_photos` reads."""
    for part, names in (("train", STAND_IN_TRAIN), ("eval", STAND_IN_EVAL)):
        for name in names:
            save_png(_skimage_photo(name), root / part / "HR" / f"{name}.png")
    return root


@dataclass(frozen=True)
class Photos:
    """Real photographs for tests: RGB training photos (sorted), an RGB and a gray evaluation photo."""

    train: tuple[Path, ...]
    colour: Path
    gray: Path


def real_photos(shared: Path) -> Photos:
    """The photographs of ``shared``: the benchmark folder (``train/HR``, Set14's lenna and the
    gray bridge) or a folder written by :func:`write_stand_in_photos`."""
    train = tuple(sorted((shared / "train" / "HR").glob("*.png")))
    if (shared / "Set14" / "HR").is_dir():
        return Photos(train, shared / "Set14" / "HR" / "lenna.png", shared / "Set14" / "HR" / "bridge.png")
    colour, gray = (shared / "eval" / "HR" / f"{name}.png" for name in STAND_IN_EVAL)
    return Photos(train, colour, gray)


def photo_crop(path: Path, size: int, top: int = 300, left: int = 400) -> np.ndarray:
    """A ``size`` x ``size`` RGB crop of a photo at (top, left), moved inside the photo where it
    would reach past an edge (photos differ in size)."""
    image = np.asarray(Image.open(path).convert("RGB"))
    top, left = min(top, image.shape[0] - size), min(left, image.shape[1] - size)
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def rumpy_executable() -> str:
    """The installed ``rumpy`` console script of the running interpreter."""
    return str(Path(sys.executable).with_name("rumpy"))


def run_rumpy(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 600, executable: str | None = None) -> subprocess.CompletedProcess:
    """Run the real ``rumpy`` CLI in a subprocess and capture its output."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONHASHSEED", "0")
    full_env.update(env or {})
    return subprocess.run([executable or rumpy_executable(), *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def rumpy_in_process(*args: str) -> subprocess.CompletedProcess:
    """Run the real ``rumpy`` CLI in this process and capture what it prints.

    The same command line, exit code and output as :func:`run_rumpy`, without starting an
    interpreter and importing torch again; use :func:`run_rumpy` where the process boundary
    is what a test checks (signals, kills, the installed executable, its environment).
    """
    from .cli import cli, run

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(cli, argv)
        except SystemExit as exc:
            code = exc.code
    return subprocess.CompletedProcess(["rumpy", *argv], code, out.getvalue(), err.getvalue())


def save_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 array as PNG, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@dataclass
class SRData:
    """Paths of a tiny x4 data set made from real benchmark images."""

    root: Path
    train_lr: Path
    train_hr: Path
    eval_lr: Path
    eval_hr: Path
    scale: int = 4


def make_sr_data(root: Path, shared: Path, train_images: int = 6, hr_size: int = 96, eval_size: int = 64) -> SRData:
    """Crop real photos into a tiny paired set: LR made with MATLAB-compatible bicubic x4.

    Training HR crops ``photo_1.png`` ... come from the training photos of ``shared`` (see
    :func:`real_photos`); the eval crops are ``rgb.png`` and ``gray.png``, the latter from a
    one-channel photo, so the gray metric path is exercised.
    """
    from rumpycore.degrade.resize import imresize

    data = SRData(root, root / "train" / "LR", root / "train" / "HR", root / "eval" / "LR", root / "eval" / "HR")
    photos = real_photos(shared)
    for i, path in enumerate(photos.train[:train_images]):
        hr = photo_crop(path, hr_size, 200 + 17 * i, 300 + 23 * i)
        save_png(hr, data.train_hr / f"photo_{i + 1}.png")
        save_png(imresize(hr, 1 / data.scale), data.train_lr / f"photo_{i + 1}.png")
    for name, path in (("rgb", photos.colour), ("gray", photos.gray)):
        array = np.asarray(Image.open(path))
        hr = np.ascontiguousarray(array[100 : 100 + eval_size, 120 : 120 + eval_size])
        save_png(hr, data.eval_hr / f"{name}.png")
        save_png(imresize(hr, 1 / data.scale), data.eval_lr / f"{name}.png")
    return data


def photo_crops(out: Path, photos: list[Path], size: int, per_photo: int, seed: int = 0) -> Path:
    """``per_photo`` random ``size`` x ``size`` RGB crops of each photo, as ``<stem>_<k>.png`` in ``out``."""
    rng = np.random.default_rng(seed)
    for path in photos:
        image = np.asarray(Image.open(path).convert("RGB"))
        for k in range(per_photo):
            top, left = (int(rng.integers(0, extent - size + 1)) for extent in image.shape[:2])
            save_png(np.ascontiguousarray(image[top : top + size, left : left + size]), out / f"{path.stem}_{k}.png")
    return out


def degrade_folder(source: Path, out: Path, pipeline: dict, seed: int = 8, *extra: str) -> Path:
    """Degrade ``source`` into ``out`` with the real ``rumpy degrade`` (``pipeline``: the
    ``--pipeline-config`` table); ``out`` then holds the images and ``degradation_metadata.csv``."""
    config = write_config(pipeline, out.parent / f"{out.name}_pipeline.toml")
    result = rumpy_in_process("degrade", "--source-dir", source, "--output-dir", out, "--pipeline-config", config,
                              "--seed", str(seed), *extra)
    if result.returncode != 0:
        raise RuntimeError(f"rumpy degrade failed: {result.stderr}")
    return out


def blur_sr_data(data: SRData, root: Path, seed: int = 3) -> SRData:
    """``data``'s HR images blurred and shrunk x4 by the real ``rumpy degrade`` into ``root``: each
    LR folder holds a ``degradation_metadata.csv`` with ``blur_sigma`` and ``blur_kernel`` (the
    kernel's 10-value PCA code), for metadata-conditioned models."""
    pipeline = {"pipeline": "blur-downsample"}
    return SRData(root, degrade_folder(data.train_hr, root / "train", pipeline, seed), data.train_hr,
                  degrade_folder(data.eval_hr, root / "eval", pipeline, seed), data.eval_hr, data.scale)


def blur_noise_sr_data(data: SRData, root: Path, seed: int = 4) -> SRData:
    """``data``'s HR images blurred, shrunk x4 and given Gaussian noise (sigma 1-20) by the real
    ``rumpy degrade`` into ``root``, with ``blur_kernel``, ``blur_sigma`` and ``noise_sigma`` in
    each LR folder's ``degradation_metadata.csv``."""
    pipeline = {"pipeline": "blur-downsample-noise",
                "deg_configs": {"noise": {"gaussian_probability": 1.0, "gray_probability": 0.0, "sigma": [1, 20]}}}
    return SRData(root, degrade_folder(data.train_hr, root / "train", pipeline, seed), data.train_hr,
                  degrade_folder(data.eval_hr, root / "eval", pipeline, seed), data.eval_hr, data.scale)


def with_metadata(config: dict, data: SRData) -> dict:
    """``config`` (see :func:`sr_config`) reading its LR images and their ``degradation_metadata.csv``
    from ``data`` (see :func:`blur_sr_data`)."""
    for sets, folder in (("training_sets", data.train_lr), ("eval_sets", data.eval_lr)):
        for table in config["data"][sets].values():
            table.update(lr=str(folder), degradation_metadata="on_site")
    return config


def assert_conditioned_per_image(model: torch.nn.Module, metadata_size: int) -> None:
    """A metadata-conditioned SISR model gives each image of a batch the output it gives that image
    alone with its own metadata vector, and other metadata changes the output."""
    torch.manual_seed(0)
    model.eval()
    lr, metadata = torch.rand(3, 3, 5, 6), torch.rand(3, metadata_size)
    with torch.no_grad():
        together = model(lr, metadata)
        one_by_one = torch.cat([model(lr[i : i + 1], metadata[i : i + 1]) for i in range(3)])
        assert torch.allclose(together, one_by_one, atol=1e-5)
        assert not torch.allclose(model(lr, metadata.flip(0)), together)


def assert_same_network(model: torch.nn.Module, base: torch.nn.Module) -> None:
    """``model`` is ``base``: the same weights by name and shape, and with ``base``'s values the
    same output for the same LR images (called without metadata)."""
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in base.state_dict().items()}
    model.load_state_dict(base.state_dict())
    model.eval()
    base.eval()
    lr = torch.rand(2, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(lr), base(lr))


def sr_config(data: SRData, save_loc: Path, model: str = "EDSR", internal_params: dict | None = None,
              training: dict | None = None, data_options: dict | None = None, experiment: str = "tiny") -> dict:
    """A small, fast training config over ``data`` (override any section with the dicts)."""
    config: dict[str, Any] = {
        "experiment": experiment,
        "experiment_save_loc": str(save_loc),
        "training": {"num_epochs": 2, "seed": 5, "metrics": ["PSNR", "SSIM"], "aim_track": False,
                     "logging": "text", "save_samples": False},
        "model": {"name": model, "internal_params": {"scale": data.scale, "lr": 1e-3}},
        "data": {
            "batch_size": 4,
            "eval_batch_size": 2,
            "dataloader_threads": 0,
            "training_sets": {"train": {"lr": str(data.train_lr), "hr": str(data.train_hr), "crop": 16,
                                        "random_augment": True}},
            "eval_sets": {"eval": {"lr": str(data.eval_lr), "hr": str(data.eval_hr)}},
        },
    }
    if model.lower() == "edsr":
        config["model"]["internal_params"].update({"num_features": 8, "num_blocks": 2})
    config["model"]["internal_params"].update(internal_params or {})
    config["training"].update(training or {})
    config["data"].update(data_options or {})
    return config


def regression_config(degraded: Path, save_loc: Path, train: list[int], evaluate: list[int],
                      model: str = "DegradationCNN", targets: tuple[str, ...] = ("blur_sigma", "noise_sigma"),
                      internal_params: dict | None = None, training: dict | None = None,
                      experiment: str = "regressor") -> dict:
    """A small regression config: ``model`` predicts ``targets`` of a ``rumpy degrade`` output
    folder, training on the images ``train`` ([a, b]: a..b-1 in natural order) and evaluating
    on ``evaluate``, both with the folder's own ``degradation_metadata.csv``."""
    config: dict[str, Any] = {
        "experiment": experiment,
        "experiment_save_loc": str(save_loc),
        "training": {"num_epochs": 1, "seed": 5, "aim_track": False, "logging": "text"},
        "model": {"name": model, "internal_params": {"lr": 1e-3, "targets": list(targets)}},
        "data": {
            "batch_size": 16,
            "eval_batch_size": 5,
            "dataloader_threads": 0,
            "training_sets": {"train": {"lr": str(degraded), "degradation_metadata": "on_site", "cutoff": train,
                                        "random_augment": True}},
            "eval_sets": {"val": {"lr": str(degraded), "degradation_metadata": "on_site", "cutoff": evaluate}},
        },
    }
    config["model"]["internal_params"].update(internal_params or {})
    config["training"].update(training or {})
    return config


def write_config(config: dict, path: Path) -> Path:
    """Write a config dict as TOML and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml.dumps(config))
    return path


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
"""Skip a test without a CUDA GPU; such tests also get the ``gpu`` marker (``pytest -m gpu`` runs them all)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (added to every test marked with CUDA)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests skipped without a GPU as ``gpu``, so ``benchmarks/gpu_check.sh`` can select them."""
    reason = CUDA.kwargs["reason"]
    for item in items:
        if any(mark.kwargs.get("reason") == reason for mark in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.gpu)

CPU_SPEED_VARIANTS: dict[str, tuple[dict[str, Any], float]] = {
    "bf16-channels-last": ({"precision": "bf16", "channels_last": True}, 2e-2),
    "compiled": ({"compile": True, "compile_backend": "aot_eager"}, 1e-5),
}
GPU_SPEED_VARIANTS: dict[str, tuple[dict[str, Any], float]] = {
    "gpu-fp32": ({"gpu": "single", "precision": "fp32", "channels_last": False}, 1e-3),
    "gpu-bf16-channels-last": ({"gpu": "single", "precision": "bf16", "channels_last": True}, 2e-2),
    "gpu-fp16": ({"gpu": "single", "precision": "fp16"}, 2e-2),
    "gpu-cuda-graph": ({"gpu": "single", "precision": "bf16", "channels_last": True, "cuda_graph": True}, 2e-2),
}
SPEED_VARIANTS = [pytest.param(CPU_SPEED_VARIANTS, id="cpu"), pytest.param(GPU_SPEED_VARIANTS, id="cuda", marks=CUDA)]
"""Parameters for a model plugin's test of the speed options: ``@pytest.mark.parametrize("variants",
SPEED_VARIANTS)`` then ``check_speed_options(config, folder, variants)``; the GPU set runs where
CUDA is available."""


def check_speed_options(config: dict, folder: Path, variants: dict[str, tuple[dict[str, Any], float]]) -> None:
    """Train ``config`` through the real CLI as given (fp32 on the CPU), then once per variant
    (``[training]`` overrides and a relative tolerance), and assert every variant ends where
    the reference does up to its rounding: training loss within the tolerance, validation
    PSNR within 0.2 dB.

    A model plugin calls this from its tests to show its network honours the speed options.
    """
    rows = {}
    for name, (training, _) in {"reference": ({}, 0.0), **variants}.items():
        variant = copy.deepcopy(config)
        variant["experiment"] = name
        variant["experiment_save_loc"] = str(folder)
        variant["training"].update(training)
        result = rumpy_in_process("train", "--parameters", write_config(variant, folder / f"{name}.toml"))
        assert result.returncode == 0, f"{name}: {result.stderr}"
        rows[name] = read_summary(folder / name / "result_outputs" / "summary.csv")[-1]
    for name, (_, tolerance) in variants.items():
        assert rows[name]["train-loss"] == pytest.approx(rows["reference"]["train-loss"], rel=tolerance), name
        assert rows[name]["val-PSNR"] == pytest.approx(rows["reference"]["val-PSNR"], abs=0.2), name


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark image folder; without one, a stand-in of scikit-image's photographs
    (:func:`write_stand_in_photos`). Either way :func:`real_photos` finds its photos."""
    return benchmark_dir() or write_stand_in_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def photos(shared_data: Path) -> Photos:
    """The real photographs of :func:`shared_data`."""
    return real_photos(shared_data)


@pytest.fixture(scope="session")
def sr_data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> SRData:
    """A tiny real x4 data set shared by the whole session (read-only for tests)."""
    return make_sr_data(tmp_path_factory.mktemp("sr_data"), shared_data)


@pytest.fixture(scope="session")
def blurred_sr_data(tmp_path_factory: pytest.TempPathFactory, sr_data: SRData) -> SRData:
    """``sr_data`` blurred by ``rumpy degrade``, with its metadata (see :func:`blur_sr_data`)."""
    return blur_sr_data(sr_data, tmp_path_factory.mktemp("blurred_sr_data"))


@pytest.fixture(scope="session")
def blur_noise_data(tmp_path_factory: pytest.TempPathFactory, sr_data: SRData) -> SRData:
    """``sr_data`` blurred and noised by ``rumpy degrade``, with its metadata (see :func:`blur_noise_sr_data`)."""
    return blur_noise_sr_data(sr_data, tmp_path_factory.mktemp("blur_noise_data"))


@pytest.fixture
def tiny_config(sr_data: SRData, tmp_path: Path):
    """A function returning a fresh small config dict (see :func:`sr_config`) saving under tmp_path."""

    def make(**kwargs: Any) -> dict:
        return copy.deepcopy(sr_config(sr_data, tmp_path / "runs", **kwargs))

    return make


class OfficialMeanShift(torch.nn.Conv2d):
    """The official EDSR/RCAN code's mean shift (``sub_mean``/``add_mean``): a fixed 1x1
    convolution adding ``sign`` x the DIV2K mean in the 0-255 range; for building
    official-format state dicts in tests of weight converters."""

    def __init__(self, sign: int) -> None:
        from .layers import DIV2K_RGB_MEAN

        super().__init__(3, 3, 1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * 255.0 * torch.tensor(DIV2K_RGB_MEAN)
