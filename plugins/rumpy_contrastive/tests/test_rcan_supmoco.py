"""RCAN-SupMoCo: QRCAN conditioned on a contrastive encoder's embedding, the encoder taken from a
``contrastive`` experiment (the original key ``pre_trained_encoder_weights``) and kept frozen or
fine-tuned; trained through the real CLI on blurred and noisy data, resumed bit for bit, and
evaluated by ``rumpy eval`` without any metadata."""

from __future__ import annotations

import json

import pytest
import toml
import torch

from rumpy_contrastive import BlindParams, build_blind
from rumpycore import ModelContext
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import with_metadata, write_config
from tests.helpers import assert_one_line_error, invoke
from tests.test_engine import assert_same_state

ENCODER = {"crop_count": 3, "queue_size": 16, "metadata": ["blur_sigma", "noise_sigma"]}
TINY_QRCAN = {"n_resgroups": 2, "n_resblocks": 1, "n_feats": 8, "reduction": 4,
              "selective_meta_blocks": [True, False]}


def checkpoint(folder, epoch):
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


def without(state: dict, role: str) -> dict:
    """A checkpoint without one network (a frozen one, which no optimizer step touches)."""
    return {**state, **{part: {k: v for k, v in state[part].items() if k != role}
                        for part in ("networks", "optimizers", "schedulers")}}


def test_parameter_count_of_the_original_config():
    # rcan-supmoco.toml: RCAN (15,592,355) with one meta-attention layer, in the first block of the
    # first group, taking the 256-value embedding: 256 -> 160 -> 64 (widths growing in equal steps)
    model = build_blind(BlindParams(selective_meta_blocks=[True] + [False] * 9, num_q_layers_inner_residual=1),
                        ModelContext(4))
    layer = 256 * 160 + 160 + 160 * 64 + 64
    assert sum(p.numel() for p in model.parameters()) == 15_592_355 + layer


@pytest.fixture
def encoder_experiment(blur_noise_data, tiny_config, tmp_path, capsys):
    """A SupMoCo encoder trained for one epoch on the blurred, noisy training images."""
    config = tiny_config(model="SupMoCo", internal_params=ENCODER, experiment="encoder",
                         training={"num_epochs": 1, "metrics": []})
    code, _, err = invoke(capsys, "train", "--parameters",
                          write_config(with_metadata(config, blur_noise_data), tmp_path / "encoder.toml"))
    assert code == 0, err
    return tmp_path / "runs" / "encoder"


def blind_config(tiny_config, data, encoder, experiment="blind", epochs=2, **params) -> dict:
    values = {**TINY_QRCAN, "pre_trained_encoder_weights": str(encoder), **params}
    config = tiny_config(model="ContrastiveBlindQRCAN", internal_params=values, experiment=experiment,
                         training={"num_epochs": epochs})
    return with_metadata(config, data)


@pytest.mark.parametrize("mode", ["all", "none"], ids=["frozen", "fine-tuned"])
def test_trains_on_the_encoders_embedding_and_resumes_bit_for_bit(mode, encoder_experiment, blur_noise_data,
                                                                    tiny_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    for name, flags in (("whole", []), ("split", ["--num_epochs", "1"]), ("split", ["--continue_from_epoch", "last"])):
        config = blind_config(tiny_config, blur_noise_data, encoder_experiment, name, encoder_freeze_mode=mode)
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"), *flags)
        assert code == 0, err
    whole, resumed = checkpoint(runs / "whole", 2), checkpoint(runs / "split", 2)
    if mode == "all":
        assert_same_state(without(whole, "encoder"), without(resumed, "encoder"))
        assert not whole["optimizers"]["encoder"]["state"]
    else:
        assert_same_state(whole, resumed)
    assert whole["networks"]["encoder"]["model"] == "SupMoCo"
    trained = checkpoint(encoder_experiment, 1)["networks"]["model"]["weights"]
    encoder = whole["networks"]["encoder"]["weights"]
    changed = {key for key in trained if not torch.equal(trained[key], encoder[key])}
    if mode == "all":
        assert not changed  # weights and BatchNorm statistics as loaded
    else:
        assert "features.0.weight" in changed and not any("running" in key for key in changed)
    written = toml.load(runs / "whole" / "config.toml")["model"]
    assert written["encoder"]["internal_params"]["init_from"]["experiment"] == str(encoder_experiment)
    assert "pre_trained_encoder_weights" not in written["internal_params"]
    row = read_summary(runs / "whole" / "result_outputs" / "summary.csv")[-1]
    assert row["val-PSNR"] > 10


def test_rumpy_eval_runs_it_without_metadata(encoder_experiment, blur_noise_data, tiny_config, tmp_path, capsys):
    config = blind_config(tiny_config, blur_noise_data, encoder_experiment, epochs=1)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "blind.toml"))
    assert code == 0, err
    bare = tmp_path / "bare"
    bare.mkdir()
    for image in blur_noise_data.eval_lr.glob("*.png"):
        (bare / image.name).write_bytes(image.read_bytes())
    folder = tmp_path / "runs" / "blind"
    code, out, err = invoke(capsys, "eval", "--lr_dir", bare, "--hr_dir", blur_noise_data.eval_hr, "-me", folder,
                            "1", "--out_loc", tmp_path / "eval", "--json", "--no_image_comparison")
    assert code == 0, err
    rows = {row["model"]: row for row in json.loads(out)["summary"]}
    summary = read_summary(folder / "result_outputs" / "summary.csv")[0]
    assert rows["blind"]["PSNR"] == pytest.approx(summary["val-PSNR"], abs=1e-3)
    assert rows["blind"]["images"] == 2


def test_missing_encoder_weights_are_one_line(blur_noise_data, tiny_config, tmp_path, capsys):
    config = blind_config(tiny_config, blur_noise_data, tmp_path / "path_to_weights")
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "blind.toml"))
    assert_one_line_error(code, err, "model.internal_params.pre_trained_encoder_weights:", "path_to_weights is no "
                          "rumpy experiment folder (no config.toml); point it at the encoder's experiment")


def test_weights_named_twice_are_one_line(encoder_experiment, blur_noise_data, tiny_config, tmp_path, capsys):
    config = blind_config(tiny_config, blur_noise_data, encoder_experiment)
    config["model"]["encoder"] = {"internal_params": {"init_from": {"experiment": str(encoder_experiment)}}}
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "blind.toml"))
    assert_one_line_error(code, err, "model.internal_params.pre_trained_encoder_weights: gives the encoder's weights")
