"""DegradationCNN and ResNetRegressor: shapes, sizes, learning, saving, and a run of rumpy train."""

from __future__ import annotations

import numpy as np
import pytest
import toml
import torch
import torchvision

from rumpy_regression import DegradationCNNParams, ResNetRegressorParams, build_cnn, build_resnet
from rumpy_regression.networks import DegradationCNN, ResNetRegressor
from rumpycore import ConfigError, ModelContext
from rumpycore.config import validate
from rumpycore.loggers.summary import read_summary
from rumpycore.params import parse
from rumpycore.testing import (REPO, degrade_folder, photo_crop, photo_crops, regression_config, rumpy_in_process,
                               save_png, write_config)
from rumpycore.training.networks import count_parameters

WHERE = "model.internal_params"


def context(**dims: int) -> ModelContext:
    return ModelContext(scale=1, metadata_dims=dims)


@pytest.mark.parametrize("size", [(4, 4), (24, 24), (37, 50), (96, 64)])
def test_one_output_per_target_value_for_any_image_size(size):
    ctx = context(blur_sigma=1, blur_kernel=10, noise_sigma=1)
    cnn = build_cnn(parse(DegradationCNNParams, {"targets": ["blur_sigma", "blur_kernel", "noise_sigma"],
                                                 "widths": [8, 16, 32]}, WHERE), ctx).eval()
    resnet = build_resnet(parse(ResNetRegressorParams, {"targets": ["a"], "width": 8}, WHERE), ctx).eval()
    image = torch.rand(3, 3, *size)
    for model in (cnn, resnet):
        out = model(image)
        assert out.shape == (3, 12) and torch.isfinite(out).all()


def test_resnet_is_resnet18():
    # the ImageNet stem gives exactly torchvision's ResNet-18 with a 3-value head
    reference = count_parameters(torchvision.models.resnet18(num_classes=3))
    assert count_parameters(ResNetRegressor(3, stem="imagenet")) == reference == 11_178_051
    # the small stem trades the 7x7 kernels for 3x3 ones: 3 * 64 * (49 - 9) fewer weights
    assert count_parameters(ResNetRegressor(3)) == reference - 3 * 64 * 40
    assert count_parameters(ResNetRegressor(3, width=8, blocks=[1, 1])) == (
        3 * 8 * 9 + 2 * 8  # stem conv + BN
        + 2 * (8 * 8 * 9 + 2 * 8)  # block 1: two convs with BN
        + (8 * 16 * 9 + 2 * 16) + (16 * 16 * 9 + 2 * 16) + (8 * 16 + 2 * 16)  # block 2 + projection
        + 16 * 3 + 3)  # head


def test_cnn_parameter_count():
    def unit(a, b):
        return a * b * 9 + 2 * b  # bias-free conv + batch norm

    expected = (unit(3, 8) + unit(8, 8) + unit(8, 16) + unit(16, 16) + unit(16, 32) + unit(32, 32)
                + (64 * 20 + 20) + (20 * 4 + 4))  # mean and std of 32 maps -> 20 -> 4
    assert count_parameters(DegradationCNN(4, [8, 16, 32], 20)) == expected


def noisy_batch(photo: np.ndarray, sigmas: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    crops = []
    for sigma in sigmas:
        top, left = rng.integers(0, 200, size=2)
        crop = photo[top : top + 32, left : left + 32] + rng.normal(0, sigma, (32, 32, 3))
        crops.append(np.clip(crop, 0, 255) / 255)
    return torch.from_numpy(np.stack(crops).astype(np.float32)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("make", [lambda: DegradationCNN(1, [8, 16], 16),
                                  lambda: ResNetRegressor(1, width=8, blocks=[1, 1])], ids=["cnn", "resnet"])
def test_a_few_steps_learn_the_noise_level_of_real_crops(make, photos):
    torch.manual_seed(0)
    model = make()
    rng = np.random.default_rng(0)
    photo = photo_crop(photos.train[0], 232, top=0, left=0).astype(np.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        sigmas = rng.uniform(0, 30, 8)
        prediction = model(noisy_batch(photo, sigmas, rng))[:, 0]
        loss = torch.nn.functional.l1_loss(prediction, torch.from_numpy(sigmas / 30).float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # predicting the middle of the range would leave 0.25
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5]) and np.mean(losses[-10:]) < 0.15


@pytest.mark.parametrize("model", [DegradationCNN(2, [8, 16], 16), ResNetRegressor(2, width=8, blocks=[1, 1])],
                         ids=["cnn", "resnet"])
def test_save_load_round_trip(model, tmp_path):
    model(torch.rand(4, 3, 16, 16))  # moves the batch-norm running statistics away from their start
    model.eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    other = type(model)(2, [8, 16], 16) if isinstance(model, DegradationCNN) else ResNetRegressor(2, 8, [1, 1])
    other.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    other.eval()
    image = torch.rand(1, 3, 20, 20)
    assert torch.equal(model(image), other(image))


@pytest.mark.parametrize("params, raw, message", [
    (DegradationCNNParams, {}, "model.internal_params.targets: missing required key"),
    (DegradationCNNParams, {"targets": []}, "model.internal_params.targets: empty"),
    (DegradationCNNParams, {"targets": ["noise_sigma", "Noise_Sigma"]}, "Noise_Sigma, noise_sigma listed twice"),
    (DegradationCNNParams, {"targets": ["a"], "widths": []}, "model.internal_params.widths: empty"),
    (DegradationCNNParams, {"targets": ["a"], "widths": [8, 0]}, "widths: 0 is below the minimum 1"),
    (ResNetRegressorParams, {"targets": ["a"], "stem": "huge"}, "'huge' is not one of 'small', 'imagenet'"),
    (ResNetRegressorParams, {"targets": ["a"], "blocks": []}, "model.internal_params.blocks: empty"),
    (ResNetRegressorParams, {"targets": "a", "width": 2.5}, "width: expected an integer"),
])
def test_parameters_are_validated(params, raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse(params, raw, WHERE)


def test_one_epoch_through_rumpy_train_with_mixed_case_name(tmp_path, photos):
    crops = photo_crops(tmp_path / "crops", list(photos.train), 32, 16 // len(photos.train))  # 16 crops
    degraded = degrade_folder(crops, tmp_path / "degraded",
                              {"pipeline": "noise", "deg_configs": {"noise": {"gaussian_probability": 1.0}}})
    for name, params in (("rEsNeTrEgReSsOr", {"width": 8, "blocks": [1, 1]}),
                         ("degradationcnn", {"widths": [8, 16], "hidden": 8})):
        config = regression_config(degraded, tmp_path / "runs", [0, 12], [12, 16], model=name,
                                   targets=("noise_sigma", "noise_gray"), internal_params=params, experiment=name)
        result = rumpy_in_process("train", "--parameters", write_config(config, tmp_path / f"{name}.toml"))
        assert result.returncode == 0, result.stderr
        rows = read_summary(tmp_path / "runs" / name / "result_outputs" / "summary.csv")
        assert rows[0]["epoch"] == 1 and np.isfinite(rows[0]["val-MAE-noise_sigma"])
        assert (tmp_path / "runs" / name / "result_outputs" / "epoch_1_results" / "predictions.csv").is_file()


def test_example_config_passes_check(tmp_path):
    """The example predictor config against placeholder DIV2K LR images with their metadata CSV (on
    the CPU: the data is checked, not the GPU this machine may lack)."""
    folder = tmp_path / "examples" / "configs"
    lr = folder / "DIV2K" / "LR_blurred" / "X4"
    rng = np.random.default_rng(0)
    rows = ["image,blur_sigma,blur_kernel"]
    for stem in ("0001", "0002", "0801", "0802"):  # two training and two evaluation images
        save_png(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), lr / f"{stem}.png")
        rows.append(f'{stem}.png,1.5,"{rng.normal(size=10).round(4).tolist()}"')
    (lr / "degradation_metadata.csv").write_text("\n".join(rows) + "\n")
    (folder / "blur_kernel_predictor.toml").write_text(
        (REPO / "examples" / "configs" / "blur_kernel_predictor.toml").read_text())
    result = rumpy_in_process("check", "--parameters", folder / "blur_kernel_predictor.toml", "--gpu", "off")
    assert result.returncode == 0, result.stderr
    resolved = toml.loads(result.stdout.split("\n# model")[0])
    assert resolved["model"]["internal_params"]["targets"] == ["blur_kernel"]
    assert resolved["training"]["metrics"] == ["MAE", "RMSE", "R2"]
    assert "# model DegradationCNN: " in result.stdout
    config = validate(toml.load(folder / "blur_kernel_predictor.toml"), folder / "blur_kernel_predictor.toml")
    assert config.best_metric == "val-MAE" and config.task_name == "regression"
    assert not (tmp_path / "results").exists()
