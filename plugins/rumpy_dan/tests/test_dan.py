"""DAN and RCAN-DAN: the networks as in the paper's code (parameter counts of the original
toolbox), the alternation, and the ``dan`` task through the real CLI on data blurred by
``rumpy degrade``: it trains on the image and the kernel code, resumes bit for bit, and
``rumpy eval`` writes its estimated kernel codes next to the true ones."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from rumpy_dan import DANParams, build
from rumpy_dan.network import Restorer
from rumpycore import ModelContext
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import assert_conditioned_per_image, with_metadata, write_config
from tests.helpers import assert_one_line_error, invoke
from tests.test_engine import assert_same_state

KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})
TINY = {"nf": 8, "nb": 2, "loop": 2, "estimator_features": 8, "estimator_blocks": 1}
TINY_RCAN = {"mode": "v1QRCAN", "n_resgroups": 2, "n_resblocks": 1, "n_feats": 8, "reduction": 4,
             "estimator_features": 8, "estimator_blocks": 1, "loop": 2}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_parameter_counts_match_the_original_toolbox():
    # counted from the original's DANv1.py (nf 64, 40 blocks, estimator 64 channels and 5 blocks, x4)
    dan = build(DANParams(), KERNEL_CODE)
    assert (trainable(dan.restorer), trainable(dan.estimator)) == (4_040_915, 288_596)
    # rcan-dan.toml: QRCAN with meta-attention in the first block of the first group
    rcan_dan = build(DANParams(mode="v1QRCAN", selective_meta_blocks=[True] + [False] * 9,
                               num_q_layers_inner_residual=1), KERNEL_CODE)
    assert trainable(rcan_dan) == 15_594_819 + 288_596


def test_the_restorer_conditions_each_image_on_its_own_code():
    assert_conditioned_per_image(Restorer(4, 10, features=8, blocks=2), 10)


def test_restorer_and_estimator_alternate_from_the_initial_code():
    torch.manual_seed(0)
    dan = build(DANParams(**TINY), KERNEL_CODE).eval()
    lr = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        code = torch.full((2, 10), 0.5)
        for _ in range(2):
            sr = dan.restorer(lr, code)
            code = dan.estimator(sr, lr)
        assert [torch.equal(a, b) for a, b in zip(dan(lr), (sr, code))] == [True, True]
        assert sr.shape == (2, 3, 32, 32) and code.shape == (2, 10)


def dan_config(tiny_config, blurred_sr_data, experiment="tiny", epochs=1, **params) -> dict:
    values = {**TINY, "metadata": ["blur_kernel"], **params}
    config = tiny_config(model="dan", internal_params=values, experiment=experiment,
                         training={"num_epochs": epochs})
    return with_metadata(config, blurred_sr_data)


def checkpoint(folder, epoch):
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


@pytest.mark.parametrize("params", [TINY, TINY_RCAN], ids=["DAN", "RCAN-DAN"])
def test_trains_on_image_and_kernel_code_and_resumes_bit_for_bit(params, blurred_sr_data, tiny_config, tmp_path,
                                                                  capsys):
    runs = tmp_path / "runs"
    for name, flags in (("whole", []), ("split", ["--num_epochs", "1"]), ("split", ["--continue_from_epoch", "last"])):
        config = dan_config(tiny_config, blurred_sr_data, name, 2, **params)
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"), *flags)
        assert code == 0, err
    whole, resumed = checkpoint(runs / "whole", 2), checkpoint(runs / "split", 2)
    assert whole["networks"]["model"]["model"] == "DAN" and whole["metadata"]["dims"] == {"blur_kernel": 10}
    assert_same_state(whole, resumed)
    rows = read_summary(runs / "whole" / "result_outputs" / "summary.csv")
    assert {"train-loss", "train-degradation", "val-PSNR", "val-SSIM", "val-blur_kernel-error"} <= set(rows[-1])
    assert 0 < rows[-1]["train-degradation"] < rows[-1]["train-loss"]
    assert rows == [{**r, **{k: v for k, v in row.items() if k.endswith("-time")}}
                    for r, row in zip(read_summary(runs / "split" / "result_outputs" / "summary.csv"), rows)]


def test_estimates_blur_and_noise_together(blur_noise_data, tiny_config, tmp_path, capsys):
    config = dan_config(tiny_config, blur_noise_data, metadata=["blur_kernel", "noise_sigma"])
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    folder = tmp_path / "runs" / "tiny"
    assert checkpoint(folder, 1)["metadata"]["dims"] == {"blur_kernel": 10, "noise_sigma": 1}
    row = read_summary(folder / "result_outputs" / "summary.csv")[0]
    assert row["val-blur_kernel-error"] > 0 and row["val-noise_sigma-error"] > 0


def test_predictions_logger_writes_the_estimates_per_eval_image(blurred_sr_data, tiny_config, tmp_path, capsys):
    config = dan_config(tiny_config, blurred_sr_data)
    config["training"].update(loggers=["predictions"], save_samples=True)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    results = tmp_path / "runs" / "tiny" / "result_outputs"
    with open(results / "epoch_1_results" / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {"blur_kernel_0_true", "blur_kernel_9_predicted"} <= set(rows[0])
    error = sum(abs(float(row[f"blur_kernel_{i}_predicted"]) - float(row[f"blur_kernel_{i}_true"]))
                for row in rows for i in range(10)) / 20
    assert error == pytest.approx(read_summary(results / "summary.csv")[0]["val-blur_kernel-error"], rel=1e-5)
    assert (results / "epoch_1_samples").is_dir()


def test_validation_with_the_self_ensemble_keeps_the_untransformed_estimate(blurred_sr_data, tiny_config,
                                                                          tmp_path, capsys):
    summaries = {}
    for name, ensemble in (("plain", False), ("ensemble", True)):
        config = dan_config(tiny_config, blurred_sr_data, experiment=name)
        config["training"]["self_ensemble"] = ensemble
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"))
        assert code == 0, err
        summaries[name] = read_summary(tmp_path / "runs" / name / "result_outputs" / "summary.csv")[0]
    plain, ensemble = summaries["plain"], summaries["ensemble"]
    assert ensemble["val-blur_kernel-error"] == pytest.approx(plain["val-blur_kernel-error"], rel=1e-6)
    assert ensemble["val-PSNR"] != pytest.approx(plain["val-PSNR"], abs=1e-6)


def test_rumpy_eval_writes_estimated_and_true_kernel_codes(blurred_sr_data, tiny_config, tmp_path, capsys):
    config = dan_config(tiny_config, blurred_sr_data, **TINY_RCAN)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    folder = tmp_path / "runs" / "tiny"
    results = {}
    for name, flags in (("whole", []), ("tiled", ["--tile", "8", "--tile_overlap", "2"]),
                        ("ensemble", ["--self_ensemble"])):
        code, out, err = invoke(capsys, "eval", "--lr_dir", blurred_sr_data.eval_lr, "--hr_dir",
                                blurred_sr_data.eval_hr, "-me", folder, "1", "--out_loc", tmp_path / "eval",
                                "--results_name", name, "--no_image_comparison", "--json", *flags)
        assert code == 0, err
        results[name] = {row["model"]: row for row in json.loads(out)["summary"]}
    row = results["whole"]["tiny"]
    summary = read_summary(folder / "result_outputs" / "summary.csv")[0]
    # what training measured on the same images, now in rumpy eval
    assert row["PSNR"] == pytest.approx(summary["val-PSNR"], abs=1e-3)
    assert row["blur_kernel-error"] == pytest.approx(summary["val-blur_kernel-error"], rel=1e-4)
    assert "blur_kernel-error" not in results["whole"]["bicubic"]
    with open(tmp_path / "eval" / "whole" / "degradations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["tiny", "tiny"]
    assert {"image", "blur_kernel_0_true", "blur_kernel_0_predicted", "blur_kernel_9_true"} <= set(rows[0])
    # tiled: each tile estimates the code, the image gets their mean
    assert results["tiled"]["tiny"]["blur_kernel-error"] != pytest.approx(row["blur_kernel-error"], abs=1e-7)
    # self-ensemble: the image is the mean of eight passes, the estimate the untransformed input's
    ensemble = results["ensemble"]["tiny+"]
    assert ensemble["blur_kernel-error"] == pytest.approx(row["blur_kernel-error"], rel=1e-6)
    assert ensemble["PSNR"] != pytest.approx(row["PSNR"], abs=1e-6)


def test_eval_without_a_metadata_csv_writes_estimates_alone(blurred_sr_data, tiny_config, tmp_path, capsys):
    config = dan_config(tiny_config, blurred_sr_data)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    bare = tmp_path / "bare"
    bare.mkdir()
    for image in blurred_sr_data.eval_lr.glob("*.png"):
        (bare / image.name).write_bytes(image.read_bytes())
    code, out, err = invoke(capsys, "eval", "--lr_dir", bare, "--hr_dir", blurred_sr_data.eval_hr, "-me",
                            tmp_path / "runs" / "tiny", "1", "--out_loc", tmp_path / "eval", "--json",
                            "--no_image_comparison")
    assert code == 0, err
    assert "blur_kernel-error" not in json.loads(out)["summary"][1]
    with open(tmp_path / "eval" / "eval" / "degradations.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert "blur_kernel_0_predicted" in header and "blur_kernel_0_true" not in header


@pytest.mark.parametrize("params, message", [
    ({"metadata": []}, "model.internal_params: DAN is a dan model but names no targets"),
    ({"mode": "v2"}, "model.internal_params.mode: 'v2' is not one of 'v1', 'v1QRCAN'"),
    ({**TINY_RCAN, "include_q_layer": False}, "model.internal_params.include_q_layer: RCAN-DAN feeds its estimate"),
])
def test_mistakes_are_one_line_errors_before_anything_is_written(blurred_sr_data, tiny_config, tmp_path, capsys,
                                                                  params, message):
    config = dan_config(tiny_config, blurred_sr_data, **params)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()
