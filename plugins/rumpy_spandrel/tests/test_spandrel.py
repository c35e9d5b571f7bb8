"""spandrel's architectures as rumpy models: typed parameters, presets, input sizes, weights
recognised from state dicts, a round trip through init_from and ``rumpy eval -me FILE -``, and
ONNX export checked with onnxruntime."""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import numpy as np
import pytest
import torch
from PIL import Image
from rumpy_spandrel.catalog import ENTRIES, LEFT_OUT
from rumpy_spandrel.derive import table
from rumpy_spandrel.signatures import SIGNATURES

from rumpycore import ConfigError, UserError
from rumpycore import config as cfg
from rumpycore import params as P
from rumpycore.degrade.resize import imresize
from rumpycore.export import ExportSource, export
from rumpycore.plugins import model_registry
from rumpycore.recognise import detect, load_file_model
from rumpycore.testing import photo_crop, run_rumpy, save_png, sr_config, write_config
from rumpycore.training.networks import build_module, count_parameters

TINY = {
    "SwinIR": {"preset": "lightweight", "embed_dim": 12, "depths": [1], "num_heads": [2]},
    "SPAN": {"feature_channels": 8},
    "HAT": {"embed_dim": 12, "depths": [1], "num_heads": [2], "window_size": 8, "compress_ratio": 3,
            "squeeze_factor": 4},
    "RRDBNet": {"num_filters": 8, "num_blocks": 1},
    "SAFMN": {"dim": 8, "n_blocks": 1},
}


def params_of(name: str, raw: dict):
    spec = model_registry().get(name).spec
    general_keys = {"preset"}
    preset = raw.get("preset")
    own = {k: v for k, v in raw.items() if k not in general_keys}
    if preset:
        own = {**spec.presets[preset], **own}
    return spec, P.parse(spec.params, own, "model.internal_params")


def test_signature_table_matches_the_installed_spandrel():
    assert table() == SIGNATURES


def test_every_image_architecture_of_spandrel_is_registered_or_left_out_with_a_reason():
    from spandrel import MAIN_REGISTRY

    registered = {entry.arch for entry in ENTRIES}
    for support in MAIN_REGISTRY:
        arch = support.architecture.id
        assert arch in registered or LEFT_OUT.get(arch), arch
    assert not registered & set(LEFT_OUT)


def spandrel_provides(name: str) -> bool:
    """Whether the registered model of that name is spandrel's (a fallback such as RRDBNet yields
    to another plugin's model of the same name, rumpy-esrgan's)."""
    return model_registry().get(name).provider.distribution == "rumpy-spandrel"


@pytest.mark.parametrize("name", sorted(name for name in TINY if spandrel_provides(name)))
def test_built_weights_are_recognised_with_the_same_parameters(name):
    spec, params = params_of(name, TINY[name])
    module = build_module(spec, params, 4).eval()
    entry, found = detect(module.state_dict(), "test")
    assert entry.spec.name == name and found.scale == 4
    assert dict(found.params) == dataclasses.asdict(params)
    with torch.no_grad():
        out = module(torch.rand(1, 3, 20, 18))
    assert out.shape == (1, 3, 80, 72)


def test_a_mistyped_key_is_one_line_with_a_suggestion(tmp_path):
    raw = {"experiment": "x", "training": {"num_epochs": 1},
           "model": {"name": "SwinIR", "internal_params": {"scale": 4, "embed_dimm": 60}},
           "data": {"training_sets": {"t": {"lr": "a", "hr": "b"}}, "eval_sets": {"e": {"lr": "a", "hr": "b"}}}}
    with pytest.raises(ConfigError, match=r"model.internal_params.embed_dimm: unknown key; did you mean embed_dim\?"):
        cfg.validate(raw, tmp_path / "c.toml")
    raw["model"]["internal_params"] = {"scale": 4, "depths": "six"}
    with pytest.raises(ConfigError, match=r"model.internal_params.depths\[0\]: expected an integer"):
        cfg.validate(raw, tmp_path / "c.toml")
    raw["model"]["internal_params"] = {"scale": 4, "drop_path_rate": 2.0}
    with pytest.raises(ConfigError, match="is above the maximum 1.0"):
        cfg.validate(raw, tmp_path / "c.toml")


def test_parameters_spandrel_refuses_are_one_line():
    spec, params = params_of("DAT", {"split_size": [8]})
    with pytest.raises(ConfigError, match=r"DAT cannot be built with these parameters \(list index out of range\)"):
        build_module(spec, params, 4)


def test_a_crop_that_is_no_multiple_of_the_window_is_refused_before_training(sr_data, tmp_path):
    config = sr_config(sr_data, tmp_path, model="SAFMN", internal_params=TINY["SAFMN"])
    config["data"]["training_sets"]["train"]["crop"] = 12
    result = run_rumpy("check", "--parameters", write_config(config, tmp_path / "c.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "data.training_sets.train.crop: 12 does not suit SAFMN, whose input sides must be multiples of 8 and at least "
        "1 pixels with these parameters; use 16")


def test_inputs_of_any_size_are_padded_and_the_output_cropped_back():
    spec, params = params_of("SAFMN", TINY["SAFMN"])
    assert spec.size_rule(params).multiple == 8
    torch.manual_seed(0)
    module = build_module(spec, params, 2).eval()
    image = torch.rand(1, 3, 13, 11)
    with torch.no_grad():
        out = module(image)
        padded = torch.nn.functional.pad(image, (0, 5, 0, 3), mode="reflect")
        expected = module(padded)[..., :26, :22]
    assert out.shape == (1, 3, 26, 22)
    assert torch.equal(out, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "preset", "count"), [
    ("SwinIR", "classical", 11_900_199), ("SwinIR", "lightweight", 929_628), ("HAT", "HAT-S", 9_621_183),
    ("HAT", "HAT", 20_772_507), ("DAT", "DAT", 14_802_051), ("SPAN", "SPAN", 2_236_728)])
def test_presets_build_the_published_configurations(name, preset, count):
    spec, params = params_of(name, {"preset": preset})
    assert count_parameters(build_module(spec, params, 4)) == count


@pytest.mark.slow
def test_every_registered_architecture_round_trips_at_its_defaults():
    for entry in ENTRIES:
        registered = model_registry().get(entry.name)
        if registered.provider.distribution != "rumpy-spandrel":
            assert entry.fallback, entry.name
            continue  # a fallback that yields to a plugin of its own (RCAN)
        spec = registered.spec
        params = P.parse(spec.params, {}, entry.name)
        scale = 4 if 4 in spec.scales else spec.scales[0]
        module = build_module(spec, params, scale)
        found_entry, found = detect(module.state_dict(), entry.name)
        assert found_entry.spec.name == entry.name and found.scale == scale, entry.name
        assert dict(found.params) == dataclasses.asdict(params), entry.name


def test_weights_of_another_channel_count_are_one_line():
    from spandrel.architectures.SPAN import SPAN

    gray = SPAN(num_in_ch=1, num_out_ch=1, feature_channels=8, upscale=4)
    with pytest.raises(UserError, match="1 input and 1 output channels; rumpy's models take and give RGB"):
        detect(gray.state_dict(), "test")


def _lr_image(path, size: int = 24) -> torch.Tensor:
    pixels = np.asarray(Image.open(path).convert("RGB"))[:size, :size]
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255


def test_a_state_dict_round_trips_through_init_from_and_eval(sr_data, tmp_path):
    spec, params = params_of("SPAN", TINY["SPAN"])
    torch.manual_seed(3)
    weights = build_module(spec, params, 4).state_dict()
    file = tmp_path / "span_x4.pth"
    torch.save(weights, file)

    # a run starting from the file at learning rate 0 keeps the file's weights
    config = sr_config(sr_data, tmp_path / "runs", model="SPAN",
                       internal_params={**TINY["SPAN"], "lr": 0.0, "init_from": {"file": str(file)}},
                       training={"num_epochs": 1}, experiment="from_file")
    result = run_rumpy("train", "--parameters", write_config(config, tmp_path / "c.toml"))
    assert result.returncode == 0, result.stderr
    assert "initialised from" in result.stderr

    result = run_rumpy("eval", "--lr_dir", sr_data.eval_lr, "--hr_dir", sr_data.eval_hr, "-me", tmp_path / "runs" / "from_file", "1",
                       "--model_file", file, "--out_loc", tmp_path, "--results_name", "both", "--save_im",
                       "--no_image_comparison")
    assert result.returncode == 0, result.stderr
    assert "SPAN x4 (recognised by spandrel as SPAN)" in result.stderr
    out = tmp_path / "both"
    for image in (out / "from_file").iterdir():
        assert np.array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(out / "span_x4" / image.name)))
    rows = {row.split(",")[0]: row.split(",")[3:5] for row in (out / "summary.csv").read_text().splitlines()[1:]}
    assert rows["from_file"] == rows["span_x4"]


def test_an_unrecognised_file_is_one_line(tmp_path, sr_data):
    file = tmp_path / "noise.safetensors"
    from safetensors.torch import save_file

    save_file({"some.weight": torch.zeros(3, 3)}, str(file))
    result = run_rumpy("eval", "--lr_dir", sr_data.eval_lr, "-me", file, "-", "--out_loc", tmp_path)
    assert result.returncode == 2
    assert re.search(r"no installed model recognises these weights", result.stderr.strip().splitlines()[-1])
    assert not (tmp_path / "eval").exists()


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs the export extra (onnxruntime)")
def test_onnx_export_agrees_with_pytorch_on_a_real_image(sr_data, photos, tmp_path):
    import onnxruntime

    spec, params = params_of("SwinIR", TINY["SwinIR"])
    torch.manual_seed(1)
    module = build_module(spec, params, 4).eval()
    file = tmp_path / "swinir.safetensors"
    from safetensors.torch import save_file

    save_file(module.state_dict(), str(file))
    first = sorted(sr_data.eval_lr.iterdir())[0]  # a real photo's LR image
    result = run_rumpy("export", "--model_file", file, "--out", tmp_path / "swinir.onnx", "--check_image", first)
    assert result.returncode == 0, result.stderr
    difference = float(re.search(r"max difference (\S+) \(fp32\)", result.stdout).group(1))
    assert difference <= 1e-4
    # the file runs at another size too (dynamic height and width)
    larger = tmp_path / "larger_lr.png"  # another real LR image, of another size
    save_png(imresize(photo_crop(photos.colour, 160), 0.25), larger)
    image = _lr_image(larger, size=40)[..., :33]
    session = onnxruntime.InferenceSession(str(tmp_path / "swinir.onnx"), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"lr": image.numpy()})[0]
    with torch.no_grad():
        assert np.abs(exported - module(image).numpy()).max() <= 1e-4

    again = run_rumpy("export", "--model_file", file, "--out", tmp_path / "swinir.onnx")
    assert again.returncode == 2 and "already exists" in again.stderr
    tensors = run_rumpy("export", "--model_file", file, "--out", tmp_path / "copy.safetensors")
    assert tensors.returncode == 0, tensors.stderr
    from safetensors import safe_open

    with safe_open(str(tmp_path / "copy.safetensors"), "pt") as handle:
        assert handle.metadata()["rumpy_model"] == "SwinIR" and handle.metadata()["scale"] == "4"


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs the export extra (onnxruntime)")
def test_a_network_onnx_cannot_express_is_refused_in_one_line(tmp_path):
    from safetensors.torch import save_file

    spec, params = params_of("SAFMN", TINY["SAFMN"])
    file = tmp_path / "safmn.safetensors"
    save_file(build_module(spec, params, 4).state_dict(), str(file))
    result = run_rumpy("export", "--model_file", file, "--out", tmp_path / "safmn.onnx")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "rumpy: error: SAFMN (safmn.safetensors) cannot be exported to ONNX: Unsupported: ONNX export of operator "
        "adaptive pooling, since output_size is not constant"]
    assert not (tmp_path / "safmn.onnx").exists()


def test_rumpy_safetensors_keep_the_parameters_a_state_dict_cannot_show(tmp_path):
    spec, params = params_of("SPAN", {**TINY["SPAN"], "img_range": 1.0})
    torch.manual_seed(2)
    module = build_module(spec, params, 4).eval()
    file = tmp_path / "span.safetensors"
    export(ExportSource(module, "SPAN", 4, params, "SPAN"), file)
    found = load_file_model(file, "test")
    assert found.params.img_range == 1.0 and found.note == "SPAN x4 (exported by rumpy)"
    image = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(found.module(image), module(image))
    # the bare state dict is recognised with spandrel's default range, another network
    entry, detected = detect(module.state_dict(), "test")
    assert entry.spec.name == "SPAN" and detected.params["img_range"] == 255.0



def declared_failures() -> list:
    """(model, option) of every speed option a rumpy-spandrel model declares unsupported (fp16 is
    spandrel's own declaration); compiling takes minutes on a CPU, so those cases are slow."""
    cases = []
    for entry in ENTRIES:
        if model_registry().get(entry.name).provider.distribution != "rumpy-spandrel":
            continue
        for option in sorted(set(entry.unsupported) - {"fp16"}):
            marks = [pytest.mark.slow] if option == "compile" else []
            cases.append(pytest.param(entry.name, option, marks=marks, id=f"{entry.name}-{option}"))
    return cases


@pytest.mark.parametrize("name, option", declared_failures())
def test_each_declared_unsupported_option_really_fails(name, option):
    """One training step under the option fails as the declaration says (as
    benchmarks/spandrel_speed_options.py found). A declaration that stops being true (a fixed
    spandrel or torch) should go: its fallback would cost speed for nothing."""
    spec = model_registry().get(name).spec
    params = P.parse(spec.params, {}, name)
    torch.manual_seed(0)
    module = build_module(spec, params, 4 if 4 in spec.scales else spec.scales[0])
    image = torch.rand(2, 3, *(2 * [spec.size_rule(params).padded(16)]))
    with pytest.raises(Exception):
        forward = module
        if option == "channels_last":
            forward = module.to(memory_format=torch.channels_last)
            image = image.contiguous(memory_format=torch.channels_last)
        elif option == "compile":
            forward = torch.compile(module)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=option == "bf16"):
            output = forward(image)
        output.float().abs().mean().backward()
