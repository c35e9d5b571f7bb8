"""QRCAN: RCAN with meta-attention, as in the original toolbox (the meta-attention paper's code),
RCAN itself without metadata, and trained through the real CLI on the metadata of its data
(a rumpy degrade CSV, an online pipeline) and evaluated on true or predicted metadata."""

from __future__ import annotations

import json

import pytest
import torch
from rumpy_rcan import QRCANParams, RCANParams, build, build_q
from rumpy_rcan.network import RCAB

from rumpycore import ModelContext
from rumpycore.layers import MetaAttention
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import (
    SPEED_VARIANTS,
    assert_conditioned_per_image,
    assert_same_network,
    check_speed_options,
    with_metadata,
    write_config,
)
from rumpycore.training.networks import count_parameters
from tests.helpers import assert_one_line_error, invoke

TINY = {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 8, "reduction": 4}
KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


def test_parameter_count_matches_the_original_toolbox():
    # The original RUMpy's QRCAN (style 'standard', include_q_layer) at x4, counted from its code:
    # a meta-attention layer (10 -> 32 -> 64) in each of the 200 blocks of the paper's RCAN.
    assert count_parameters(build_q(QRCANParams(), KERNEL_CODE)) == 16_085_155
    assert count_parameters(build_q(QRCANParams(metadata=["qpi"]), ModelContext(4, {"qpi": 1}))) == 16_027_555
    first_block_only = QRCANParams(selective_meta_blocks=[True] + [False] * 9, num_q_layers_inner_residual=1)
    assert count_parameters(build_q(first_block_only, KERNEL_CODE)) == 15_594_819


@pytest.mark.parametrize("values", [{"metadata": []}, {"include_q_layer": False},
                                    {"selective_meta_blocks": [False, False]}])
def test_without_meta_attention_it_is_rcan(values):
    assert_same_network(build_q(QRCANParams(**TINY, **values), ModelContext(4)), build(RCANParams(**TINY), ModelContext(4)))


def test_each_image_is_conditioned_on_its_own_metadata():
    assert_conditioned_per_image(build_q(QRCANParams(**TINY), KERNEL_CODE), 10)


def test_the_layers_gate_the_selected_blocks_after_channel_attention():
    model = build_q(QRCANParams(**TINY, selective_meta_blocks=[False, True], num_q_layers_inner_residual=1),
                    KERNEL_CODE)
    placed = [[block.meta is not None for block in list(group.body)[:-1]] for group in list(model.body)[:-1]]
    assert placed == [[False, False], [True, False]]
    torch.manual_seed(0)
    gated = RCAB(8, 4, 1.0, MetaAttention(8, 10))
    for p in gated.meta.parameters():
        torch.nn.init.zeros_(p)  # a gate of exactly 0.5 on every channel
    halved = RCAB(8, 4, 0.5)
    halved.load_state_dict(gated.state_dict(), strict=False)
    x = torch.rand(2, 8, 5, 5)
    assert torch.allclose(gated(x, torch.rand(2, 10)), halved(x), atol=1e-6)


def qrcan_config(tiny_config, blurred_sr_data, **params) -> dict:
    # the original's own spelling of the keys, as in its sample configs
    values = {**TINY, "style": "standard", "include_q_layer": True, "metadata": ["blur_kernel"], **params}
    config = tiny_config(model="qrcan", internal_params=values, training={"num_epochs": 1})
    return with_metadata(config, blurred_sr_data)


def test_one_epoch_on_blurred_data_with_its_metadata(blurred_sr_data, tiny_config, tmp_path, capsys):
    config = qrcan_config(tiny_config, blurred_sr_data)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    folder = tmp_path / "runs" / "tiny"
    assert read_summary(folder / "result_outputs" / "summary.csv")[0]["val-PSNR"] > 10
    checkpoint = torch.load(folder / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["networks"]["model"]["model"] == "QRCAN"
    assert checkpoint["metadata"]["dims"] == {"blur_kernel": 10}
    assert checkpoint["networks"]["model"]["weights"]["body.1.body.0.meta.gate.0.weight"].shape == (4, 10)


def test_one_epoch_on_an_online_pipeline_with_the_values_it_drew(tiny_config, tmp_path, capsys):
    config = tiny_config(model="QRCAN", internal_params={**TINY, "metadata": ["blur_sigma"]},
                         training={"num_epochs": 1})
    config["data"]["online_pipeline"] = {"pipeline": "blur-downsample", "deg_configs": {"blur": {"sigma": [0.5, 3.0]}}}
    for table in config["data"]["training_sets"].values():
        table.pop("lr")
        table["online_degradations"] = True
    for table in config["data"]["eval_sets"].values():
        table.pop("lr")
        table["online_degradations"] = True
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert checkpoint["metadata"]["dims"] == {"blur_sigma": 1}


def test_evaluated_on_the_true_metadata_or_on_a_predictors(blurred_sr_data, tiny_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    predictor = with_metadata(tiny_config(model="DegradationCNN", experiment="predictor",
                                          internal_params={"targets": ["blur_kernel"], "widths": [4, 8], "hidden": 8},
                                          training={"num_epochs": 1, "metrics": ["MAE"]}), blurred_sr_data)
    for table in (*predictor["data"]["training_sets"].values(), *predictor["data"]["eval_sets"].values()):
        table.pop("hr")
    for name, config in (("qrcan", qrcan_config(tiny_config, blurred_sr_data)), ("predictor", predictor)):
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"))
        assert code == 0, err
    psnr = {}
    for source, flags in (("true", []), ("predicted", ["--metadata_from", runs / "predictor", "1"])):
        code, out, err = invoke(capsys, "eval", "--lr_dir", blurred_sr_data.eval_lr,
                                "--hr_dir", blurred_sr_data.eval_hr, "-me", runs / "tiny", "1",
                                "--out_loc", tmp_path / "eval", "--results_name", source,
                                "--no_image_comparison", "--json", *flags)
        assert code == 0, err
        psnr[source] = next(row["PSNR"] for row in json.loads(out)["summary"] if row["model"] == "tiny")
    # the CSV's metadata gives what training measured; a one-epoch predictor's guesses change the output
    assert psnr["true"] == pytest.approx(read_summary(runs / "tiny" / "result_outputs" / "summary.csv")[0]["val-PSNR"],
                                         abs=1e-3)
    assert psnr["predicted"] != pytest.approx(psnr["true"], abs=1e-6)


@pytest.mark.parametrize("params, message", [
    ({"style": "modulate"}, "model.internal_params.style: 'modulate' is not one of 'standard'"),
    ({"selective_meta_blocks": [True]}, "model.internal_params.selective_meta_blocks: 1 entries for a network of 2"),
    ({"metadata": ["noise_sigma"]}, "degradation_metadata.csv has no column 'noise_sigma'"),
    ({"num_q_layer_inner_residual": 1}, "model.internal_params.num_q_layer_inner_residual: unknown key; did you "
                                        "mean num_q_layers_inner_residual?"),
])
def test_mistakes_are_one_line_errors_before_anything_is_written(blurred_sr_data, tiny_config, tmp_path, capsys,
                                                                  params, message):
    config = qrcan_config(tiny_config, blurred_sr_data, **params)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("variants", SPEED_VARIANTS)
def test_speed_options_train_like_fp32(blurred_sr_data, tiny_config, tmp_path, variants):
    check_speed_options(qrcan_config(tiny_config, blurred_sr_data), tmp_path / "speed", variants)
