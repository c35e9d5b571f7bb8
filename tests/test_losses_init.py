"""Losses as weighted sums of registered components, the perceptual loss's VGG19 from the hub
cache, ``init_from`` (another experiment or a weights file), and old checkpoints upgraded."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torchvision

from rumpycore.errors import ConfigError
from rumpycore.losses import LossSet, LossTerm
from rumpycore.losses.perceptual import PerceptualLoss, PerceptualParams, check_perceptual, vgg19_layer_names
from rumpycore.losses.pixel import L1, MSE, Charbonnier
from rumpycore.loggers.summary import read_summary
from rumpycore.pretrained import weights_path
from rumpycore.store import checkpoints
from rumpycore.testing import write_config

from .helpers import assert_one_line_error, invoke


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def train(capsys, config, path, *extra):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


def summary(folder):
    return read_summary(folder / "result_outputs" / "summary.csv")


# ---------------------------------------------------------------------------- losses


def test_pixel_losses_give_one_value_per_image():
    torch.manual_seed(0)
    prediction, target = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    difference = prediction - target
    torch.testing.assert_close(L1()(prediction, target), difference.abs().flatten(1).mean(1))
    torch.testing.assert_close(MSE()(prediction, target), difference.square().flatten(1).mean(1))
    charbonnier = Charbonnier(1e-3)(prediction, target)
    torch.testing.assert_close(charbonnier, torch.sqrt(difference.square() + 1e-6).flatten(1).mean(1))
    assert (charbonnier > L1()(prediction, target)).all()  # the smoothing only ever adds


def test_a_loss_set_gives_its_shares_and_splits_by_kind():
    torch.manual_seed(0)
    prediction, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    losses = LossSet([LossTerm("l1", 0.5, L1()), LossTerm("mse", 2.0, MSE()), LossTerm("charbonnier", 1.0,
                                                                                       Charbonnier(1e-3))])
    shares = losses.shares(prediction, target)
    assert list(shares) == ["l1", "mse", "charbonnier"]
    torch.testing.assert_close(shares["mse"], 2.0 * MSE()(prediction, target).mean())
    terms = losses(prediction, target)
    torch.testing.assert_close(terms["loss"], sum(shares.values()))
    assert terms["loss-l1"] is not None and len(losses) == 3
    squared, others = losses.split(lambda module: isinstance(module, MSE))
    assert squared.names == ["mse"] and squared.weights == [2.0] and others.names == ["l1", "charbonnier"]
    assert list(squared(prediction, target)) == ["loss"]  # one term: the total only
    torch.testing.assert_close(squared.per_image(prediction, target) + others.per_image(prediction, target),
                               losses.per_image(prediction, target))


def test_the_perceptual_loss_taps_the_named_vgg19_layers():
    torch.manual_seed(0)
    params = PerceptualParams(layers={"conv5_4": 1.0, "relu2_2": 0.5}, pretrained=False)
    loss = PerceptualLoss(params)
    names = vgg19_layer_names()
    assert len(loss.features) == names.index("conv5_4") + 1  # nothing computed past the last tap
    assert not any(module.inplace for module in loss.features if isinstance(module, torch.nn.ReLU))
    image = torch.rand(2, 3, 32, 32)
    same = loss(image, image)
    other = loss(image, torch.rand(2, 3, 32, 32))
    assert same.shape == (2,) and torch.equal(same, torch.zeros(2)) and (other > 0).all()
    prediction = image.clone().requires_grad_(True)
    loss(prediction, torch.rand(2, 3, 32, 32)).sum().backward()
    assert prediction.grad.abs().sum() > 0 and not any(p.requires_grad for p in loss.parameters())
    with pytest.raises(ConfigError, match="layers.pool3: not a VGG19 convolution or ReLU"):
        PerceptualParams(layers={"pool3": 1.0})
    with pytest.raises(ConfigError, match="layers.conv1_1: expected a weight >= 0"):
        PerceptualParams(layers={"conv1_1": math.nan})


def test_the_perceptual_loss_loads_the_hub_weights_and_names_the_missing_file(tmp_path):
    with pytest.raises(ConfigError) as error:
        check_perceptual(PerceptualParams())
    assert "vgg19-dcbb9e9d.pth" in str(error.value) and str(tmp_path / "torch_home" / "hub" / "checkpoints") in str(
        error.value)
    torch.manual_seed(3)
    planted = torchvision.models.vgg19(weights=None).state_dict()
    path = weights_path("vgg19")
    path.parent.mkdir(parents=True)
    torch.save(planted, path)
    loss = PerceptualLoss(PerceptualParams(layers={"conv1_2": 1.0}))
    assert torch.equal(loss.features[0].weight, planted["features.0.weight"])


def test_weighted_losses_train_and_report_each_share(tiny_config, tmp_path, capsys):
    config = tiny_config(internal_params={"losses": {
        "l1": {"weight": 1.0}, "charbonnier": {"weight": 0.5, "eps": 0.01},
        "perceptual": {"weight": 0.1, "layers": {"conv2_2": 1.0}, "pretrained": False}}})
    train(capsys, config, tmp_path / "cfg.toml")
    rows = summary(tmp_path / "runs" / "tiny")
    for row in rows:
        shares = [row["train-loss-l1"], row["train-loss-charbonnier"], row["train-loss-perceptual"]]
        assert all(share > 0 for share in shares)
        assert row["train-loss"] == pytest.approx(sum(shares), rel=1e-6)  # float32 steps
    resolved = (tmp_path / "runs" / "tiny" / "config.toml").read_text()
    assert "[model.internal_params.losses.perceptual]" in resolved and "criterion" in resolved


LOSS_CASES = {
    "loss and losses": ({"loss": "mse", "losses": {"l1": {}}}, "model.internal_params.loss: given together with"),
    "unknown loss": ({"losses": {"l2": {}}}, "model.internal_params.losses.l2: unknown loss 'l2'"),
    "loss typo": ({"losses": {"charbonnier": {"epsilon": 1}}},
                  "model.internal_params.losses.charbonnier.epsilon: unknown key; did you mean eps?"),
    "negative weight": ({"losses": {"l1": {"weight": -1}}}, "losses.l1.weight: -1.0 is below the minimum 0"),
    "weight nan": ({"losses": {"l1": {"weight": math.nan}}}, "losses.l1.weight: nan is not a finite number"),
    "missing vgg19": ({"losses": {"perceptual": {}}}, "vgg19-dcbb9e9d.pth"),
}


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_bad_losses_are_one_line_before_anything_is_written(case, tiny_config, tmp_path, capsys):
    params, expected = LOSS_CASES[case]
    path = write_config(tiny_config(internal_params=params), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, expected)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------- init_from


def weights(folder, epoch, averaged=False):
    state = checkpoints.load(folder / "saved_models" / f"train_model_{epoch}.pt")
    return checkpoints.network_weights(state, "model", averaged)


def test_init_from_an_experiment_starts_from_its_weights(tiny_config, tmp_path, capsys):
    train(capsys, tiny_config(training={"num_epochs": 1, "ema_decay": 0.5}, experiment="first"), tmp_path / "a.toml")
    first = tmp_path / "runs" / "first"
    config = tiny_config(training={"num_epochs": 1}, experiment="second",
                         internal_params={"lr": 0.0, "init_from": {"experiment": str(first), "epoch": "last"}})
    err = train(capsys, config, tmp_path / "b.toml")
    assert f"model initialised from {first} epoch 1 (model): " in err
    second = weights(tmp_path / "runs" / "second", 1)
    average = weights(first, 1, averaged=True)
    assert all(torch.equal(second[k], average[k]) for k in second)  # lr 0: still the (averaged) start
    resolved = (tmp_path / "runs" / "second" / "config.toml").read_text()
    assert "[model.internal_params.init_from]" in resolved


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_init_from_a_file_with_key_map_and_a_report_of_missing_keys(suffix, tiny_config, tmp_path, capsys):
    from safetensors.torch import save_file

    train(capsys, tiny_config(training={"num_epochs": 1}, experiment="source"), tmp_path / "a.toml")
    trained = weights(tmp_path / "runs" / "source", 1)
    renamed = {f"module.{k}": v.contiguous() for k, v in trained.items() if not k.startswith("tail")}  # some missing
    path = tmp_path / f"community{suffix}"
    if suffix == ".pth":
        torch.save({"params_ema": renamed, "iter": 5}, path)
        init = {"file": str(path), "key": "params_ema", "strict": False, "map": {"module.": ""}}
    else:
        save_file(renamed, str(path))
        init = {"file": str(path), "strict": False, "map": {"module.": ""}}
    config = tiny_config(training={"num_epochs": 1}, experiment="target", internal_params={"lr": 0.0,
                                                                                        "init_from": init})
    err = train(capsys, config, tmp_path / "b.toml")
    assert f"initialised from {path}: {len(renamed)} tensors; missing: tail" in err
    loaded = weights(tmp_path / "runs" / "target", 1)
    assert all(torch.equal(loaded[k], trained[k]) for k in trained if not k.startswith("tail"))


class _Payload:
    pass


INIT_CASES = {
    "both sources": ({"file": "w.pth", "experiment": "x"}, "init_from: give either experiment"),
    "no file": ({"file": "nowhere.pth"}, "init_from.file: "),
    "not weights": ({"file": "notes.txt"}, "init_from.file: notes.txt is not a .pt, .pth or .safetensors file"),
    "runs code": ({"file": "payload.pth"}, "holds objects other than tensors and plain data and is refused"),
    "missing key": ({"file": "w.pth", "key": "params_ema"}, "init_from.key: "),
    "strict mismatch": ({"file": "w.pth"}, "does not fit this model's parameters"),
    "not an experiment": ({"experiment": "."}, "init_from.experiment: "),
}


@pytest.mark.parametrize("case", sorted(INIT_CASES))
def test_bad_initial_weights_are_one_line_before_anything_is_written(case, tiny_config, tmp_path, capsys):
    init, expected = INIT_CASES[case]
    torch.save({"head.weight": torch.zeros(1)}, tmp_path / "w.pth")
    torch.save({"x": _Payload()}, tmp_path / "payload.pth")
    (tmp_path / "notes.txt").write_text("hello")
    init = {k: str(tmp_path / v) if k in ("file", "experiment") else v for k, v in init.items()}
    path = write_config(tiny_config(internal_params={"init_from": init}), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, expected)
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------- checkpoint format 1


def as_format_1(state: dict) -> dict:
    """A format-2 checkpoint of one network written as rumpy wrote checkpoints before format 2."""
    callbacks = dict(state["callbacks"])
    average = callbacks.pop("ema", None)
    old = {key: value for key, value in state.items()
           if key not in ("networks", "optimizers", "schedulers", "precision", "callbacks", "task_state")}
    old.update(format_version=1, model_name=state["networks"]["model"]["model"],
               model=state["networks"]["model"]["weights"], optimizer=state["optimizers"]["model"],
               scheduler=state["schedulers"]["model"], precision=state["precision"]["model"],
               ema=average["weights"]["model"] if average else None,
               loggers={k: v for k, v in callbacks.items() if k == "aim"})
    return old


def test_format_1_checkpoints_resume_and_evaluate_as_before(tiny_config, sr_data, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2, "ema_decay": 0.9})
    train(capsys, config, tmp_path / "whole.toml")
    config["experiment"] = "old"
    old_path = tmp_path / "old.toml"
    train(capsys, config, old_path, "--num_epochs", "1")
    first = tmp_path / "runs" / "old" / "saved_models" / "train_model_1.pt"
    torch.save(as_format_1(torch.load(first, weights_only=True)), first)
    assert torch.load(first, weights_only=True)["format_version"] == 1
    train(capsys, config, old_path, "--continue_from_epoch", "last")
    whole = checkpoints.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_2.pt")
    resumed = checkpoints.load(tmp_path / "runs" / "old" / "saved_models" / "train_model_2.pt")
    for key, value in whole["networks"]["model"]["weights"].items():
        assert torch.equal(value, resumed["networks"]["model"]["weights"][key]), key
    assert torch.equal(whole["callbacks"]["ema"]["weights"]["model"]["head.weight"],
                       resumed["callbacks"]["ema"]["weights"]["model"]["head.weight"])

    code, out, err = invoke(capsys, "eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "--out_loc",
                            tmp_path / "eval", "-me", tmp_path / "runs" / "old", "1", "--json")
    assert code == 0, err
    logged = summary(tmp_path / "runs" / "old")[0]
    measured = {row["model"]: row for row in json.loads(out)["summary"]}["old"]
    assert measured["PSNR"] == pytest.approx(logged["val-PSNR"], abs=1e-6)  # the average, as training measured
