"""Core pieces behind the architecture library: presets, fallback registrations, the x8
self-ensemble, BasicSR's unrounded Y, and the README's model table."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import rumpycore
from rumpycore import ConfigError, PluginError
from rumpycore import config as cfg
from rumpycore import params as P
from rumpycore.evaluation.ensemble import TRANSFORMS, self_ensemble
from rumpycore.loggers.summary import read_summary
from rumpycore.metrics.fidelity import PSNR
from rumpycore.plugins import Provider, Registry, model_registry
from rumpycore.specs import MetricContext
from rumpycore.testing import needs_benchmark, run_rumpy, write_config
from rumpycore.training.networks import build_module
from tests.helpers import invoke

README = Path(__file__).resolve().parents[1] / "README.md"


def raw_config(internal_params: dict) -> dict:
    return {"experiment": "x", "training": {"num_epochs": 1},
            "model": {"name": "EDSR", "internal_params": {"scale": 4, **internal_params}},
            "data": {"training_sets": {"t": {"lr": "a", "hr": "b"}}, "eval_sets": {"e": {"lr": "a", "hr": "b"}}}}


def test_a_preset_fills_the_keys_a_config_does_not_give(tmp_path):
    params = cfg.validate(raw_config({"preset": "full", "NUM_BLOCKS": 4}), tmp_path / "c.toml").model_params
    assert (params.num_features, params.num_blocks, params.res_scale) == (256, 4, 0.1)
    with pytest.raises(ConfigError, match=r"model.internal_params.preset: EDSR has no preset 'ful'; did you mean "
                                          r"full\? known: baseline, full"):
        cfg.validate(raw_config({"preset": "ful"}), tmp_path / "c.toml")


@dataclass
class _Params:
    width: int = 1


def test_a_fallback_model_yields_to_a_plugin_of_its_own():
    library = Provider("library", "1", "library")
    own = Provider("own", "1", "own")
    for order in ([(library, True), (own, False)], [(own, False), (library, True)]):
        registry = Registry("model", [])
        for provider, fallback in order:
            registry.add(rumpycore.ModelSpec("RCAN", lambda p, c: None, fallback=fallback), provider)
        assert registry.get("rcan").provider is own
    registry = Registry("model", [])
    registry.add(rumpycore.ModelSpec("RCAN", lambda p, c: None), own)
    with pytest.raises(PluginError, match="registered by both"):
        registry.add(rumpycore.ModelSpec("RCAN", lambda p, c: None), library)


def test_self_ensemble_averages_the_eight_transformed_outputs():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    batch = {"lr": torch.rand(2, 3, 7, 5), "name": ["a", "b"]}
    with torch.no_grad():
        ensembled = self_ensemble(lambda b: conv(b["lr"]), batch)
        manual = []
        for transpose, flip_lr, flip_ud in TRANSFORMS:
            x = batch["lr"].transpose(-2, -1) if transpose else batch["lr"]
            x = x.flip(-1) if flip_lr else x
            x = x.flip(-2) if flip_ud else x
            y = conv(x)
            y = y.flip(-2) if flip_ud else y
            y = y.flip(-1) if flip_lr else y
            manual.append(y.transpose(-2, -1) if transpose else y)
    assert len(TRANSFORMS) == 8
    assert torch.allclose(ensembled, torch.stack(manual).mean(0), atol=1e-6)
    # an operation that commutes with flips and transposition is its own ensemble
    same = self_ensemble(lambda b: b["lr"].repeat_interleave(2, -1).repeat_interleave(2, -2), batch)
    assert torch.allclose(same, batch["lr"].repeat_interleave(2, -1).repeat_interleave(2, -2), atol=1e-6)


def test_basicsr_y_is_the_unrounded_luma(photos):
    hr = np.asarray(Image.open(photos.colour).convert("RGB")).astype(np.float64)
    rng = np.random.default_rng(0)
    noisy = np.clip(hr + rng.normal(0, 6, hr.shape).round(), 0, 255)
    to = lambda a: torch.from_numpy(a / 255.0).permute(2, 0, 1)[None]
    psnr = {channel: float(PSNR(MetricContext(scale=4, device="cpu", channel=channel)).values(to(noisy), to(hr), {}))
            for channel in ("y", "y_basicsr")}
    luma = lambda a: (a @ np.array([65.481, 128.553, 24.966])) / 255.0 + 16.0  # BasicSR's bgr2ycbcr, y_only
    mse = np.mean((luma(noisy) - luma(hr))[4:-4, 4:-4] ** 2)
    assert psnr["y_basicsr"] == pytest.approx(10 * np.log10(255.0**2 / mse), abs=1e-9)
    assert psnr["y"] != pytest.approx(psnr["y_basicsr"], abs=1e-3)  # MATLAB's rounding makes a difference


@needs_benchmark
def test_eval_basicsr_y_flag(shared_data, tmp_path):
    lr_dir, hr_dir = shared_data / "Set5" / "LR_bicubic" / "X4", shared_data / "Set5" / "HR"
    psnr = {}
    for channel in ("y", "y_basicsr"):
        result = run_rumpy("eval", "--lr_dir", lr_dir, "--hr_dir", hr_dir, "--out_loc", tmp_path, "--results_name",
                           channel, "--metric_channel", channel, "--no_image_comparison", "--json")
        assert result.returncode == 0, result.stderr
        psnr[channel] = {row["model"]: row["PSNR"] for row in json.loads(result.stdout)["summary"]}["bicubic"]
    assert psnr["y"] == pytest.approx(28.4176, abs=1e-4)  # bicubic on Set5 x4 as the SR papers print it (28.42)
    assert psnr["y_basicsr"] == pytest.approx(28.42, abs=0.05) and psnr["y_basicsr"] != pytest.approx(psnr["y"], abs=1e-4)


def tiny_edsr_weights() -> dict:
    """A small EDSR's weights in rumpy's layout (the size of the tiny test config: 8 features, 2 blocks)."""
    spec = model_registry().get("EDSR").spec
    return build_module(spec, P.parse(spec.params, {"num_features": 8, "num_blocks": 2}, "test"), 4).state_dict()


def test_self_ensemble_in_validation_and_eval_and_export_of_an_experiment(sr_data, tiny_config, tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "edsr.pth"
    torch.save(tiny_edsr_weights(), weights)
    config = tiny_config(internal_params={"lr": 0.0, "init_from": {"file": str(weights)}},
                         training={"num_epochs": 1, "self_ensemble": True})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "c.toml"))
    assert code == 0, err
    validated = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[-1]["val-PSNR"]

    def evaluate(name: str, file: Path, *extra: object) -> dict:
        code, out, err = invoke(capsys, "eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr,
                                "--model_file", file, "--out_loc", tmp_path, "--results_name", name,
                                "--no_image_comparison", "--json", *extra)
        assert code == 0, err
        return {row["model"]: row["PSNR"] for row in json.loads(out)["summary"]}

    ensembled, plain = evaluate("plus", weights, "--self_ensemble"), evaluate("plain", weights)
    assert ensembled["edsr+"] == pytest.approx(validated, abs=1e-6)  # lr 0 kept the file's weights
    assert abs(plain["edsr"] - ensembled["edsr+"]) > 0.01

    # the trained experiment exports to safetensors that evaluate like the original file, and to ONNX
    lr_image = next(sr_data.eval_lr.iterdir())
    for out in ("edsr_export.safetensors", "edsr_export.onnx"):
        code, stdout, err = invoke(capsys, "export", "-me", tmp_path / "runs" / "tiny", "1", "--out", tmp_path / out,
                                   "--check_image", lr_image)
        assert code == 0, err
    assert float(re.search(r"max difference (\S+) \(fp32\)", stdout).group(1)) <= 1e-4
    assert evaluate("exported", tmp_path / "edsr_export.safetensors")["edsr_export"] == plain["edsr"]


@pytest.mark.slow
def test_the_readme_model_table_is_the_registry():
    from rumpycore.cli.listing import markdown_table

    text = README.read_text()
    start, end = text.index("<!-- models:start -->"), text.index("<!-- models:end -->")
    assert text[start:end].split("\n", 1)[1].strip() == markdown_table().strip(), \
        "README model table is stale: rerun 'rumpy list-models --markdown' and paste it between the markers"
