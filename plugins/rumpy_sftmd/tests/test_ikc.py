"""IKC: its kernel predictor and corrector as in the paper's code, and the ``ikc`` task through
the real CLI on data blurred by ``rumpy degrade``: SFTMD pre-trained on the true codes, then
frozen while the predictor and corrector learn; resumed bit for bit across the two phases; SFTMD
started from a trained experiment (``init_from``); ``rumpy eval`` runs it blind with a chosen
number of correction steps and writes its estimated codes."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from rumpy_sftmd import KernelEstimatorParams, build_corrector, build_predictor
from rumpycore import ModelContext
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import with_metadata, write_config
from tests.helpers import assert_one_line_error, invoke
from tests.test_engine import assert_same_state

KERNEL_CODE = ModelContext(4, {"blur_kernel": 10})


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_parameter_counts_match_ikcs_code():
    assert trainable(build_predictor(KernelEstimatorParams(), KERNEL_CODE)) == 430_730
    assert trainable(build_corrector(KernelEstimatorParams(), KERNEL_CODE)) == 649_930


def test_the_corrector_adds_its_correction_to_the_code_for_images_of_any_size():
    torch.manual_seed(0)
    corrector = build_corrector(KernelEstimatorParams(nf=8), KERNEL_CODE)
    code = torch.rand(2, 10)
    for size in (17, 40):
        corrected = corrector(torch.rand(2, 3, size, size), code)
        assert corrected.shape == (2, 10) and not torch.allclose(corrected, code)
    torch.nn.init.zeros_(corrector.joint[-1].weight)
    torch.nn.init.zeros_(corrector.joint[-1].bias)
    assert torch.equal(corrector(torch.rand(2, 3, 16, 16), code), code)


def ikc_config(tiny_config, blurred_sr_data, experiment="ikc", epochs=2, pretrain=1, steps=2) -> dict:
    config = tiny_config(model="SFTMD", experiment=experiment, training={"num_epochs": epochs},
                         internal_params={"num_features": 8, "num_blocks": 2, "metadata": ["blur_kernel"]})
    config["model"].update(task="ikc", task_params={"sftmd_pretrain_epochs": pretrain, "correction_steps": steps},
                           predictor={"internal_params": {"nf": 8, "lr": 1e-3}},
                           corrector={"internal_params": {"nf": 8, "lr": 1e-3}})
    return with_metadata(config, blurred_sr_data)


def checkpoint(folder, epoch):
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


def train(capsys, config, path, *flags):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *flags)
    assert code == 0, err


def test_sftmd_pretrains_then_freezes_while_predictor_and_corrector_learn_and_resumes_bit_for_bit(
        blurred_sr_data, tiny_config, tmp_path, capsys):
    # two epochs of SFTMD alone, then one of predictor and corrector; the resumed run starts at the switch
    runs = tmp_path / "runs"
    train(capsys, ikc_config(tiny_config, blurred_sr_data, "whole", epochs=3, pretrain=2), tmp_path / "whole.toml")
    split = ikc_config(tiny_config, blurred_sr_data, "split", epochs=3, pretrain=2)
    train(capsys, split, tmp_path / "split.toml", "--num_epochs", "2")
    train(capsys, split, tmp_path / "split.toml", "--continue_from_epoch", "last")
    epochs = [checkpoint(runs / "whole", epoch) for epoch in (1, 2, 3)]
    assert list(epochs[0]["networks"]) == ["model", "predictor", "corrector"]
    assert_same_state(epochs[2], checkpoint(runs / "split", 3))

    def changed(role, first, second):
        before, after = epochs[first]["networks"][role]["weights"], epochs[second]["networks"][role]["weights"]
        return not all(torch.equal(before[k], after[k]) for k in before)

    assert changed("model", 0, 1) and not changed("model", 1, 2)
    for role in ("predictor", "corrector"):
        assert not changed(role, 0, 1) and changed(role, 1, 2), role
    rows = read_summary(runs / "whole" / "result_outputs" / "summary.csv")
    assert rows[1].get("train-predictor", 0) == 0 and rows[2]["train-predictor"] > 0
    assert rows[2]["train-corrector"] > 0 and rows[2]["val-blur_kernel-error"] > 0


def test_sftmd_from_a_trained_experiment_and_blind_eval_with_chosen_correction_steps(
        blurred_sr_data, tiny_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    sftmd = tiny_config(model="SFTMD", experiment="sftmd", training={"num_epochs": 1},
                        internal_params={"num_features": 8, "num_blocks": 2, "metadata": ["blur_kernel"]})
    train(capsys, with_metadata(sftmd, blurred_sr_data), tmp_path / "sftmd.toml")
    config = ikc_config(tiny_config, blurred_sr_data, epochs=1, pretrain=0)
    config["model"]["internal_params"]["init_from"] = {"experiment": str(runs / "sftmd"), "epoch": 1}
    train(capsys, config, tmp_path / "ikc.toml")
    started, trained = checkpoint(runs / "sftmd", 1), checkpoint(runs / "ikc", 1)
    assert all(torch.equal(v, trained["networks"]["model"]["weights"][k])
               for k, v in started["networks"]["model"]["weights"].items())

    summaries = {}
    for steps in ("2", "4"):
        code, out, err = invoke(capsys, "eval", "--lr_dir", blurred_sr_data.eval_lr, "--hr_dir",
                                blurred_sr_data.eval_hr, "-me", runs / "ikc", "1", "--out_loc", tmp_path / "eval",
                                "--results_name", steps, "--task_param", f"correction_steps={steps}",
                                "--no_image_comparison", "--json")
        assert code == 0, err
        summaries[steps] = {row["model"]: row for row in json.loads(out)["summary"]}["ikc"]
    # two steps is what training evaluated with
    validation = read_summary(runs / "ikc" / "result_outputs" / "summary.csv")[0]
    assert summaries["2"]["PSNR"] == pytest.approx(validation["val-PSNR"], abs=1e-3)
    assert summaries["2"]["blur_kernel-error"] == pytest.approx(validation["val-blur_kernel-error"], rel=1e-4)
    assert summaries["4"]["blur_kernel-error"] != pytest.approx(summaries["2"]["blur_kernel-error"], rel=1e-6)
    with open(tmp_path / "eval" / "4" / "degradations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {"blur_kernel_0_predicted", "blur_kernel_0_true"} <= set(rows[0])

    code, _, err = invoke(capsys, "eval", "--lr_dir", blurred_sr_data.eval_lr, "-me", runs / "ikc", "1",
                          "--out_loc", tmp_path / "eval", "--task_param", "correction_step=3")
    assert_one_line_error(code, err, "eval.task_params.correction_step: no model in model_and_epoch has a task")


def test_trains_and_estimates_on_blurred_and_noisy_data(blur_noise_data, tiny_config, tmp_path, capsys):
    config = ikc_config(tiny_config, blur_noise_data, epochs=2, pretrain=1)
    for table in (config["model"]["internal_params"], config["model"]["predictor"]["internal_params"],
                  config["model"]["corrector"]["internal_params"]):
        table["metadata"] = ["blur_kernel", "noise_sigma"]
    train(capsys, config, tmp_path / "cfg.toml")
    row = read_summary(tmp_path / "runs" / "ikc" / "result_outputs" / "summary.csv")[-1]
    assert row["train-corrector"] > 0 and row["val-noise_sigma-error"] > 0 and row["val-blur_kernel-error"] > 0


@pytest.mark.parametrize("change, message", [
    (lambda c: c["model"]["predictor"]["internal_params"].update(metadata=["blur_sigma"]),
     "model.predictor.internal_params.metadata: the data provides no values for blur_sigma"),
    (lambda c: c["model"]["task_params"].update(correction_steps=0),
     "model.task_params.correction_steps: 0 is below the minimum"),
    (lambda c: c["model"].update(task="sisr", predictor={}), "model.predictor"),
    (lambda c: c["model"]["corrector"]["internal_params"].update(scheduler="one_cycle_lr",
                                                                 scheduler_params={"lr_max": 1e-3}),
     "model.corrector.internal_params.scheduler: the corrector updates correction_steps times per batch"),
])
def test_mistakes_are_one_line_errors_before_anything_is_written(blurred_sr_data, tiny_config, tmp_path, capsys,
                                                                  change, message):
    config = ikc_config(tiny_config, blurred_sr_data)
    change(config)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()
