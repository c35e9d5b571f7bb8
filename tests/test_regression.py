"""The regression task end to end: a degradation predictor trained by the real ``rumpy train``
on images made by the real ``rumpy degrade``, checked through the files it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import toml
import torch
from PIL import Image

from rumpycore.data.images import natural_key
from rumpycore.loggers.summary import read_summary
from rumpycore.metrics.regression import CoefficientOfDetermination, MeanAbsoluteError, RootMeanSquaredError
from rumpycore.testing import Photos, degrade_folder, photo_crops, regression_config, rumpy_in_process, write_config

from .helpers import assert_one_line_error, invoke

PIPELINE = {"pipeline": "blur-noise",
            "deg_configs": {"blur": {"sigma": [0.2, 3.0], "pca_samples": 200},
                            "noise": {"gaussian_probability": 1.0, "gray_probability": 0.0, "sigma": [1, 10]}}}
TARGETS = ("blur_sigma", "noise_sigma")
TRAIN, VAL = [0, 200], [200, 248]  # 200 crops of some photos train; 48 crops of other photos validate


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def photo_groups(shared: Path, photos: Photos) -> tuple[list[Path], list[Path]]:
    """Photos to crop for training (B100 where available) and others, whose names sort after
    them, for validation."""
    b100 = sorted((shared / "B100" / "HR").glob("*.png"))
    if b100:
        return b100, list(photos.train)
    half = len(photos.train) // 2
    return list(photos.train[:half]), list(photos.train[half:])


@pytest.fixture(scope="module")
def degraded(tmp_path_factory, shared_data, photos) -> Path:
    """48x48 crops of real photos, blurred (sigma 0.2-3) and noised (sigma 1-10) by rumpy degrade."""
    root = tmp_path_factory.mktemp("regression_data")
    training, validation = photo_groups(shared_data, photos)
    photo_crops(root / "source", training, 48, TRAIN[1] // len(training))
    photo_crops(root / "source", validation, 48, (VAL[1] - VAL[0]) // len(validation), seed=1)
    assert len(list((root / "source").iterdir())) == VAL[1]
    return degrade_folder(root / "source", root / "degraded", PIPELINE, seed=3)


def applied(degraded: Path) -> list[dict[str, str]]:
    """The rows of degradation_metadata.csv in the natural order the sets' cutoffs count in."""
    return sorted(read_rows(degraded / "degradation_metadata.csv"), key=lambda r: natural_key(r["image"]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, degraded) -> Path:
    """DegradationCNN trained for 8 short epochs by rumpy train; returns its experiment folder."""
    root = tmp_path_factory.mktemp("regression_run")
    config = regression_config(degraded, root / "runs", TRAIN, VAL, targets=TARGETS,
                               internal_params={"widths": [16, 32, 64], "hidden": 64, "scheduler": "one_cycle_lr",
                                                "scheduler_params": {"lr_max": 1e-3}},
                               training={"num_epochs": 8, "save_model_outputs": True})
    config["data"]["training_sets"]["train"]["repeat"] = 4
    result = rumpy_in_process("train", "--parameters", write_config(config, root / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    return root / "runs" / "regressor"


@pytest.mark.slow
def test_validation_mae_falls_well_below_the_mean_baseline(trained, degraded):
    rows = applied(degraded)
    train, val = rows[TRAIN[0] : TRAIN[1]], rows[VAL[0] : VAL[1]]
    baseline = {}
    for target in TARGETS:
        mean = np.mean([float(r[target]) for r in train])  # predict the training mean for every image
        baseline[target] = np.mean([abs(float(r[target]) - mean) for r in val])
    overall = np.mean(list(baseline.values()))
    history = read_summary(trained / "result_outputs" / "summary.csv")
    best = min(history, key=lambda row: row["val-MAE"])
    assert best["val-MAE"] < 0.5 * overall
    assert best["val-MAE-noise_sigma"] < 0.3 * baseline["noise_sigma"]
    assert best["val-MAE-blur_sigma"] < 0.9 * baseline["blur_sigma"]
    assert best["val-R2-noise_sigma"] > 0.8
    assert history[0]["val-MAE"] > best["val-MAE"]  # training, not the initial guess, got it there
    # lower is better: best.pt is the epoch of the smallest val-MAE, whatever came last
    assert (trained / "saved_models" / "best.pt").resolve().name == f"train_model_{best['epoch']}.pt"
    for column in ("val-loss", "val-RMSE", "val-R2", "val-RMSE-blur_sigma", "val-R2-blur_sigma"):
        assert column in best
    assert "val-PSNR" not in best
    written = toml.load(trained / "config.toml")
    assert written["training"]["metrics"] == ["MAE", "RMSE", "R2"]
    assert "hr" not in written["data"]["training_sets"]["train"]


@pytest.mark.slow
def test_per_image_predictions_match_the_applied_parameters(trained, degraded):
    """eval_batch_size 5 over 48 images: every row must still pair an image with its own values."""
    epoch = 8
    results = trained / "result_outputs" / f"epoch_{epoch}_results"
    rows = read_rows(results / "predictions.csv")
    truth = {Path(r["image"]).stem: r for r in applied(degraded)[VAL[0] : VAL[1]]}
    assert list(rows[0]) == ["set", "image", "blur_sigma_true", "blur_sigma_predicted", "noise_sigma_true",
                             "noise_sigma_predicted"]
    assert [r["image"] for r in rows] == list(truth)  # each image once, in natural order
    for row in rows:
        for target in TARGETS:
            assert float(row[f"{target}_true"]) == pytest.approx(float(truth[row["image"]][target]), rel=1e-5)
    logged = read_summary(trained / "result_outputs" / "summary.csv")[epoch - 1]
    for target in TARGETS:
        errors = [abs(float(r[f"{target}_predicted"]) - float(r[f"{target}_true"])) for r in rows]
        assert np.mean(errors) == pytest.approx(logged[f"val-MAE-{target}"], rel=1e-9)

    # the same predictions, one image at a time from the checkpoint of that epoch
    from rumpy_regression.networks import DegradationCNN

    state = torch.load(trained / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)
    model = DegradationCNN(2, [16, 32, 64], 64)
    model.load_state_dict(state["networks"]["model"]["weights"])
    model.eval()
    low, high = (np.asarray(state["metadata"][key]) for key in ("minimum", "maximum"))
    for row in rows[:7]:
        image = np.asarray(Image.open(degraded / f"{row['image']}.png"), dtype=np.float32) / 255
        with torch.no_grad():
            normalised = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].double().numpy()
        expected = normalised * (high - low) + low
        assert [float(row[f"{t}_predicted"]) for t in TARGETS] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    for target in TARGETS:
        plot = Image.open(results / f"scatter_{target}.png")
        assert plot.format == "PNG" and plot.size[0] >= 300


def test_regression_metrics_by_target_in_original_units():
    dims = {"sigma": 1, "code": 2}
    target = torch.tensor([[1.0, 0.0, 5.0], [2.0, 1.0, 5.0], [4.0, 2.0, 5.0]], dtype=torch.float64)
    prediction = target + torch.tensor([[0.5, -1.0, 1.0], [-0.5, 0.0, -1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    error = (prediction - target).numpy()
    mae = MeanAbsoluteError(dims)
    assert mae.reduce(mae.values(prediction, target, {})) == pytest.approx(
        {"": np.abs(error).mean(), "sigma": np.abs(error[:, 0]).mean(), "code": np.abs(error[:, 1:]).mean()})
    rmse = RootMeanSquaredError(dims)
    assert rmse.reduce(rmse.values(prediction, target, {}))["code"] == pytest.approx(
        np.sqrt((error[:, 1:] ** 2).mean()))
    r2 = CoefficientOfDetermination(dims)
    scores = r2.reduce(r2.values(prediction, target, {}))
    t = target.numpy()

    def r2_of(column):
        return 1 - (error[:, column] ** 2).sum() / ((t[:, column] - t[:, column].mean()) ** 2).sum()

    # the third value is constant in the targets: it has no R² and is left out of the averages
    assert scores == pytest.approx({"": (r2_of(0) + r2_of(1)) / 2, "sigma": r2_of(0), "code": r2_of(1)})
    only_constant = CoefficientOfDetermination({"flat": 1})
    assert np.isnan(only_constant.reduce(only_constant.values(prediction[:, 2:], target[:, 2:], {}))["flat"])


BAD_CONFIGS = {
    "unknown target": (lambda c, d: c["model"]["internal_params"].update(targets=["blur_sgima"]),
                       ["has no column 'blur_sgima'", "degradation_metadata.csv"]),
    "target absent from eval data": (lambda c, d: c["data"]["eval_sets"]["val"].update(
        degradation_metadata=str(d / "no_noise.csv")), ["no_noise.csv has no column 'noise_sigma'"]),
    "hr given": (lambda c, d: c["data"]["training_sets"]["train"].update(hr=str(d)),
                 ["data.training_sets.train.hr: a regression model reads only the LR images", "remove hr"]),
    "sr metric": (lambda c, d: c["training"].update(metrics=["MAE", "PSNR"]),
                  ["training.metrics[1]: PSNR measures sisr outputs, but the model is a regression model"]),
    "sr best metric": (lambda c, d: c["training"].update(best_metric="val-PSNR"),
                       ["training.best_metric: 'val-PSNR' is not a summary column", "val-MAE-blur_sigma"]),
    "no metadata file": (lambda c, d: c["data"]["training_sets"]["train"].pop("degradation_metadata"),
                         ["degradation_metadata: the model uses metadata (blur_sigma, noise_sigma)"]),
    "no targets": (lambda c, d: c["model"]["internal_params"].update(targets=[]),
                   ["model.internal_params.targets: empty"]),
    "task type": (lambda c, d: c["data"].update(task_type="sr"),
                  ["data.task_type: 'sr' does not match model DegradationCNN, which is a regression model"]),
    "online at another scale": (lambda c, d: (c["model"]["internal_params"].update(targets=["blur_sigma"], scale=3),
                                              c["data"].update(
        online_pipeline={"pipeline": "blur-downsample", "deg_configs": {"downsample": {"scale": 2}}},
        training_sets={"train": {"hr": c["data"]["eval_sets"]["val"]["lr"], "online_degradations": True, "crop": 8}})),
        ["data.online_pipeline.deg_configs.downsample.scale: 2 conflicts with the top-level scale 3"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_regression_configs_are_one_line_errors(case, degraded, tmp_path, capsys):
    rows = read_rows(degraded / "degradation_metadata.csv")
    with open(tmp_path / "no_noise.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["image", "blur_sigma"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    config = regression_config(degraded, tmp_path / "runs", TRAIN, VAL, targets=TARGETS)
    change, expected = BAD_CONFIGS[case]
    change(config, tmp_path)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, *expected)
    assert not (tmp_path / "runs").exists()


def test_online_degradation_targets_and_mse_loss(tmp_path, photos, capsys):
    """Targets drawn by the online pipeline: LR made from HR per sample, the applied values as targets."""
    photo_crops(tmp_path / "hr", list(photos.train), 64, 16 // len(photos.train))  # 16 crops
    names = sorted((p.stem for p in (tmp_path / "hr").iterdir()), key=natural_key)
    config = regression_config(tmp_path / "hr", tmp_path / "runs", [0, 12], [12, 16], targets=("blur_sigma",),
                               internal_params={"scale": 2, "widths": [8, 16], "hidden": 16, "loss": "mse"},
                               training={"num_epochs": 2})
    for table in (config["data"]["training_sets"]["train"], config["data"]["eval_sets"]["val"]):
        table.pop("lr")
        table.pop("degradation_metadata")
        table.update(hr=str(tmp_path / "hr"), online_degradations=True)
    config["data"]["training_sets"]["train"]["crop"] = 16
    config["data"]["online_pipeline"] = {"pipeline": "blur-downsample",
                                         "deg_configs": {"blur": {"sigma": [0.5, 2.0], "pca_samples": 100},
                                                         "downsample": {"scale": 2}}}
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    results = tmp_path / "runs" / "regressor" / "result_outputs"
    first, second = (read_rows(results / f"epoch_{e}_results" / "predictions.csv") for e in (1, 2))
    assert [r["image"] for r in first] == names[12:16]
    sigmas = [float(r["blur_sigma_true"]) for r in first]
    assert all(0.5 <= s <= 2.0 for s in sigmas) and len(set(sigmas)) == 4
    assert [r["blur_sigma_true"] for r in second] == [r["blur_sigma_true"] for r in first]  # same draws each time
    row = read_summary(results / "summary.csv")[-1]
    state = torch.load(tmp_path / "runs" / "regressor" / "saved_models" / "train_model_2.pt", weights_only=True)
    low, high = state["metadata"]["minimum"][0], state["metadata"]["maximum"][0]
    normalised = [(float(r[f"blur_sigma_{k}"]) - low) / (high - low) for r in second for k in ("predicted", "true")]
    squared = np.mean([(p - t) ** 2 for p, t in zip(normalised[::2], normalised[1::2])])
    assert row["val-loss"] == pytest.approx(squared, rel=1e-4)  # MSE on the normalised targets


def test_check_lists_the_regression_defaults(degraded, tmp_path, capsys):
    config = regression_config(degraded, tmp_path / "runs", TRAIN, VAL, targets=TARGETS, model="resnetregressor",
                               internal_params={"width": 8, "blocks": [1, 1]})
    code, out, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    checked = toml.loads(out)
    assert checked["training"]["metrics"] == ["MAE", "RMSE", "R2"]
    assert checked["model"]["internal_params"]["losses"] == {"l1": {"weight": 1.0}}
    assert "# model ResNetRegressor: " in out
    assert not (tmp_path / "runs").exists()


def evaluate_regression(degraded: Path, rank: int, world: int) -> dict:
    """A fixed small regressor evaluated on the validation images by this process's share."""
    from rumpy_regression.networks import DegradationCNN

    from rumpycore.data.loaders import eval_loader
    from rumpycore.data.metadata import MetadataScaling, ScaledMetadata
    from rumpycore.data.paired import PairedParams, build_paired
    from rumpycore.metrics.regression import build_mae, build_r2
    from rumpycore.specs import DatasetContext, MetricContext
    from rumpycore.losses import LossSet, LossTerm
    from rumpycore.losses.pixel import L1
    from rumpycore.tasks.base import TaskContext
    from rumpycore.tasks.regression import RegressionTask
    from rumpycore.training.distributed import Distributed
    from rumpycore.training.networks import Network

    params = PairedParams(lr=str(degraded), degradation_metadata="on_site", cutoff=VAL)
    dataset = build_paired(params, DatasetContext("val", "eval", 1, "regression", degraded, TARGETS, False))
    scaling = MetadataScaling.from_training(dataset.metadata_dims, [dataset.metadata_values()], "minmax")
    loader = eval_loader(ScaledMetadata(dataset, scaling), 5, 0, False, rank, world)
    torch.manual_seed(0)
    model = DegradationCNN(2, [4, 8], 8).eval()
    network = Network("model", model, losses=LossSet([LossTerm("l1", 1.0, L1())]))
    task = RegressionTask(None, TaskContext(networks={"model": network}, device=torch.device("cpu"), scale=1,
                                            metadata=scaling, gather=Distributed(rank, world).gather, training=False))
    ctx = MetricContext(scale=1, device=torch.device("cpu"), target_dims=dataset.metadata_dims)
    metrics = {"MAE": build_mae(None, ctx), "R2": build_r2(None, ctx)}
    with torch.no_grad():
        result = task.evaluate({"val": loader}, metrics)
    return {"stats": result.stats, "rows": result.per_image}


def _evaluate_in_process_group(rank: int, world: int, rendezvous: str, degraded: Path, out: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        (out / f"rank{rank}.json").write_text(json.dumps(evaluate_regression(degraded, rank, world)))
    finally:
        dist.destroy_process_group()


def test_predictions_are_gathered_across_processes(degraded, tmp_path):
    """Two DDP processes (gloo on the CPU) each evaluate half the images; every rank ends up with
    every image exactly once, with the values one process computes alone."""
    alone = evaluate_regression(degraded, 0, 1)
    torch.multiprocessing.spawn(_evaluate_in_process_group, args=(2, str(tmp_path / "rendezvous"), degraded, tmp_path),
                                nprocs=2)
    for rank in range(2):
        together = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert [r["image"] for r in together["rows"]] == [r["image"] for r in alone["rows"]]
        assert len(together["rows"]) == VAL[1] - VAL[0]
        for mine, reference in zip(together["rows"], alone["rows"]):
            numbers = [key for key in reference if key not in ("set", "image")]
            assert [mine[k] for k in numbers] == pytest.approx([reference[k] for k in numbers], rel=1e-6)
        assert together["stats"] == pytest.approx(alone["stats"], rel=1e-9)
