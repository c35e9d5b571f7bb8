"""``rumpy eval`` with metadata-conditioned models: the true metadata from a CSV, or the
metadata a trained regression model predicts (blind SR), normalised as each model was trained."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import toml
import torch
from PIL import Image

from rumpycore import plugins
from rumpycore.cli import cli, run
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import save_png, sr_config, write_config

from .data_helpers import EVAL_SIGMA, TRAIN_SIGMA, InterpNet, MetaNet, register_test_models, write_csv
from .helpers import assert_one_line_error, invoke

NAMES = ("blur_kernel", "sigma")


def train(config: dict, path: Path) -> None:
    """``rumpy train`` in this process (the test models are registered only here)."""
    with pytest.raises(SystemExit) as exit_info:
        run(cli, ["train", "--parameters", str(write_config(config, path))])
    assert exit_info.value.code == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sr_data):
    """Metadata sets (x4 LR, HR and a CSV beside each LR folder), MetaNet trained on them, and
    DegradationCNN predictors of its metadata (and of the sigma alone) trained on the same LR."""
    root = tmp_path_factory.mktemp("eval_metadata")
    for part, sigmas in (("train", TRAIN_SIGMA), ("eval", EVAL_SIGMA)):
        shutil.copytree(sr_data.root / part, root / part)
        write_csv(root / part / "LR" / "degradation_metadata.csv", sigmas)
    register_test_models()
    try:
        config = sr_config(sr_data, root / "runs", training={"num_epochs": 1}, experiment="meta")
        config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": list(NAMES), "lr": 1e-3}}
        for kind, part in (("training_sets", "train"), ("eval_sets", "eval")):
            table = next(iter(config["data"][kind].values()))
            table.update(lr=str(root / part / "LR"), hr=str(root / part / "HR"), degradation_metadata="on_site")
        train(config, root / "meta.toml")
        for name, targets in (("predictor", NAMES), ("sigma_only", ("sigma",))):
            regressor = sr_config(sr_data, root / "runs", training={"num_epochs": 1}, experiment=name)
            regressor["training"]["metrics"] = ["MAE"]
            regressor["model"] = {"name": "DegradationCNN",
                                  "internal_params": {"targets": list(targets), "widths": [4, 8], "hidden": 8}}
            for kind, part in (("training_sets", "train"), ("eval_sets", "eval")):
                table = next(iter(regressor["data"][kind].values()))
                table.pop("hr")
                table.update(lr=str(root / part / "LR"), degradation_metadata="on_site")
            train(regressor, root / f"{name}.toml")
        yield root
    finally:
        plugins.reset_host()


@pytest.fixture
def registered(runs):
    """The trained runs, with the test models still registered and their call records cleared."""
    MetaNet.seen.clear()
    InterpNet.seen.clear()
    return runs


def eval_args(root: Path, out: Path, *extra) -> list:
    return ["eval", "--lr_dir", root / "eval" / "LR", "--hr_dir", root / "eval" / "HR", "--out_loc", out,
            "--no_image_comparison", "--batch_size", "2", *extra]


def normalised_sigma(sigma: float) -> float:
    """MetaNet's sigma input: min-max over the training sigmas (0.5 .. 3.0)."""
    return (sigma - 0.5) / 2.5


def test_true_metadata_reproduces_the_training_evaluation(registered, capsys, tmp_path):
    root = registered
    code, out, err = invoke(capsys, *eval_args(root, tmp_path, "-me", root / "runs" / "meta", "1",
                                               "--results_name", "true", "--json"))
    assert code == 0, err
    model = next(row for row in json.loads(out)["summary"] if row["model"] == "meta")
    logged = read_summary(root / "runs" / "meta" / "result_outputs" / "summary.csv")[0]
    assert model["PSNR"] == pytest.approx(logged["val-PSNR"], abs=1e-6)
    fed = torch.cat(MetaNet.seen)
    # gray then rgb, in the order the values were trained with: blur_kernel (3 values), sigma
    assert sorted(fed[:, 3].tolist()) == pytest.approx(sorted([normalised_sigma(1.0), normalised_sigma(4.0)] * 2))


def test_metadata_file_option(registered, capsys, tmp_path):
    root = registered
    write_csv(tmp_path / "other.csv", {"rgb": 2.0, "gray": 0.5}, extension="")
    code, _, err = invoke(capsys, *eval_args(root, tmp_path, "-me", root / "runs" / "meta", "1",
                                             "--results_name", "file", "--metadata_file", tmp_path / "other.csv"))
    assert code == 0, err
    fed = torch.cat(MetaNet.seen)
    assert sorted(set(round(v, 6) for v in fed[:, 3].tolist())) == pytest.approx([0.0, normalised_sigma(2.0)])
    copied = toml.load(tmp_path / "file" / "config.toml")
    assert copied["metadata_file"] == str(tmp_path / "other.csv")


def predicted_inputs(root: Path) -> dict[str, np.ndarray]:
    """What MetaNet should receive in blind mode, computed by hand from both checkpoints."""
    from rumpy_regression.networks import DegradationCNN

    predictor = torch.load(root / "runs" / "predictor" / "saved_models" / "train_model_1.pt", weights_only=True)
    sr = torch.load(root / "runs" / "meta" / "saved_models" / "train_model_1.pt", weights_only=True)
    model = DegradationCNN(4, [4, 8], 8)
    model.load_state_dict(predictor["networks"]["model"]["weights"])
    model.eval()
    expected = {}
    for name in EVAL_SIGMA:
        image = np.asarray(Image.open(root / "eval" / "LR" / f"{name}.png").convert("RGB"), dtype=np.float32) / 255
        with torch.no_grad():
            output = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].double().numpy()
        low, high = (np.asarray(predictor["metadata"][k]) for k in ("minimum", "maximum"))
        raw = output * np.where(high > low, high - low, 1) + low  # in the CSV's units
        low, high = (np.asarray(sr["metadata"][k]) for k in ("minimum", "maximum"))
        expected[name] = (raw - low) / np.where(high > low, high - low, 1)
    return expected


def test_predicted_metadata_feeds_the_model_blind(registered, capsys, tmp_path):
    root = registered
    code, out, err = invoke(capsys, *eval_args(root, tmp_path, "-me", root / "runs" / "meta", "1",
                                               "--results_name", "blind", "--json",
                                               "--metadata_from", root / "runs" / "predictor", "last"))
    assert code == 0, err
    expected = predicted_inputs(root)
    fed = torch.cat(MetaNet.seen).double().numpy()
    assert len(fed) == 4  # warm-up call and timed call on one batch of two
    for row in fed:
        assert min(np.abs(row - e).max() for e in expected.values()) < 1e-5
    assert {tuple(np.round(r, 5)) for r in fed} == {tuple(np.round(e, 5)) for e in expected.values()}
    copied = toml.load(tmp_path / "blind" / "config.toml")
    assert copied["metadata_from"] == [str(root / "runs" / "predictor"), "last"]
    assert "metadata_file" not in copied


def test_lr_interp_models_get_their_folder(registered, sr_data, tmp_path, capsys):
    from rumpycore.degrade.resize import imresize

    for part in ("train", "eval"):
        for path in (sr_data.root / part / "LR").iterdir():
            upscaled = imresize(np.asarray(Image.open(path).convert("RGB")), 4)
            save_png(np.clip(np.round(upscaled), 0, 255).astype(np.uint8), tmp_path / part / path.name)
    config = sr_config(sr_data, tmp_path / "runs", training={"num_epochs": 1}, experiment="interp")
    config["model"] = {"name": "InterpNet", "internal_params": {"scale": 4}}
    config["data"]["training_sets"]["train"]["lr_interp"] = str(tmp_path / "train")
    config["data"]["eval_sets"]["eval"]["lr_interp"] = str(tmp_path / "eval")
    train(config, tmp_path / "interp.toml")
    args = ["eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "--out_loc", tmp_path / "out",
            "-me", tmp_path / "runs" / "interp", "1", "--json"]
    logged = read_summary(tmp_path / "runs" / "interp" / "result_outputs" / "summary.csv")[0]
    for folder in (["--lr_interp_dir", tmp_path / "eval"], []):  # without the folder it is made from lr_dir
        InterpNet.seen.clear()
        code, out, err = invoke(capsys, *args, *folder, "--overwrite")
        assert code == 0, err
        assert {tuple(s.shape[-2:]) for s in InterpNet.seen} == {(64, 64)}
        model = json.loads(out)["summary"][1]
        assert model["PSNR"] == pytest.approx(logged["val-PSNR"], abs=1e-6)


def rewrite_csv(path: Path, change) -> None:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = change(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


MISTAKES = {
    "no csv beside lr": (lambda r, t: ["--lr_dir", t / "LR"],
                         ["eval.metadata_file: the models use metadata (blur_kernel, sigma)", "holds no "
                          "degradation_metadata.csv; give metadata_file, or metadata_from"]),
    "missing file": (lambda r, t: ["--metadata_file", t / "nope.csv"], ["eval.metadata_file:", "does not exist"]),
    "missing column": (lambda r, t: ["--metadata_file", t / "no_sigma.csv"],
                       ["eval.metadata_file:", "has no column 'sigma'"]),
    "value count": (lambda r, t: ["--metadata_file", t / "short_kernel.csv"],
                    ["gives 2 values of 'blur_kernel' per image, but meta was trained with 3"]),
    "sr model as predictor": (lambda r, t: ["--metadata_from", r / "runs" / "meta", "1"],
                              ["eval.metadata_from: MetaNet is a sisr model; metadata_from needs a regression model"]),
    "predictor of other names": (lambda r, t: ["--metadata_from", r / "runs" / "sigma_only", "1"],
                                 ["eval.metadata_from: sigma_only predicts sigma, but meta needs blur_kernel"]),
    "both sources": (lambda r, t: ["--metadata_from", r / "runs" / "predictor", "1", "--metadata_file", t / "x.csv"],
                     ["eval.metadata_from: given together with metadata_file"]),
    "predictor epoch": (lambda r, t: ["--metadata_from", r / "runs" / "predictor", "9"],
                        ["eval.metadata_from: no checkpoint for epoch 9"]),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_metadata_mistakes_are_one_line_errors(case, registered, tmp_path, capsys):
    root = registered
    shutil.copytree(root / "eval" / "LR", tmp_path / "LR", ignore=shutil.ignore_patterns("*.csv"))
    for name, change in (("no_sigma.csv", lambda rows: ["image", "0-blur-blur_kernel"]),
                         ("short_kernel.csv", lambda rows: [row.update({"0-blur-blur_kernel": "[1, 2]"})
                                                            for row in rows] and list(rows[0]))):
        shutil.copy(root / "eval" / "LR" / "degradation_metadata.csv", tmp_path / name)
        rewrite_csv(tmp_path / name, change)
    extra, expected = MISTAKES[case]
    code, _, err = invoke(capsys, *eval_args(root, tmp_path / "out", "-me", root / "runs" / "meta", "1",
                                             *extra(root, tmp_path)))
    assert_one_line_error(code, err, *expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, expected", [
    (["--metadata_from", "{predictor}", "1"], "eval.metadata_from: no model in model_and_epoch uses metadata"),
    (["--metadata_file", "{predictor}/config.toml"], "eval.metadata_file: no model in model_and_epoch uses metadata"),
    (["--lr_interp_dir", "{predictor}"], "eval.lr_interp_dir: no model in model_and_epoch takes lr_interp"),
    (["-me", "{predictor}", "1"], "eval.model_and_epoch[1]: DegradationCNN is a regression model"),
])
def test_metadata_options_need_a_metadata_model(extra, expected, registered, capsys, tmp_path):
    root = registered
    extra = [e.format(predictor=root / "runs" / "predictor") for e in extra]
    code, _, err = invoke(capsys, "eval", "--lr_dir", root / "eval" / "LR", "--out_loc", tmp_path / "out",
                          "-me", "lanczos", "-", *extra)
    assert_one_line_error(code, err, expected)
    assert not (tmp_path / "out").exists()
