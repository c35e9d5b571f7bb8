"""Online degradation: LR made from HR crops by the ``rumpy degrade`` pipeline while training,
reproducible from the sample key, with the metadata of what was applied."""

from __future__ import annotations

import numpy as np
import pytest
import toml
import torch
from PIL import Image

from rumpycore.config import validate
from rumpycore.data.patches import crop_box, random_flips
from rumpycore.degrade.pipeline import Pipeline
from rumpycore.degrade.resize import imresize
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import write_config
from rumpycore.training.setup import build_datasets, build_loaders

from .data_helpers import MetaNet
from .helpers import assert_one_line_error, invoke

# blur with a small PCA fit (fast to build), downsample, noise: the layout of a rumpy degrade config file
PIPELINE = {
    "pipeline": "blur-downsample-noise",
    "deg_configs": {"blur": {"sigma": [0.5, 3.0], "pca_samples": 300, "pca_length": 4},
                    "noise": {"sigma": [2.0, 20.0], "gaussian_probability": 1.0}},
}


def online_table(sr_data, **keys):
    return {"hr": str(sr_data.train_hr), "online_degradations": True, "crop": 12, "random_augment": True, **keys}


def dataset_for(tiny_config, tmp_path, table, pipeline, names=()):
    config = tiny_config()
    if names:
        config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": list(names)}}
        config["data"]["eval_sets"]["eval"] = dict(table, online_degradations=True, crop=None, random_augment=False)
    config["data"]["training_sets"]["train"] = table
    config["data"]["online_pipeline"] = pipeline
    return config, build_datasets(validate(config, tmp_path / "cfg.toml"))


def test_downsample_only_gives_the_matlab_bicubic_of_the_hr_patch(tiny_config, sr_data, tmp_path):
    # the original toolbox's layout: operation tables directly in [data.online_pipeline]
    layout = {"pipeline": [["downsample", "d-config"]], "d-config": {"scale": 4}}
    _, data = dataset_for(tiny_config, tmp_path, online_table(sr_data), layout)
    for seed in range(6):
        item = data.train[(seed, (4, 1, seed))]
        assert item["lr"].shape == (3, 12, 12) and item["hr"].shape == (3, 48, 48)
        hr = item["hr"].permute(1, 2, 0).numpy()
        assert np.array_equal(item["lr"].permute(1, 2, 0).numpy(), imresize(hr, 0.25))
        assert "metadata" not in item


def test_the_sample_key_decides_crop_flips_and_degradation(test_models, tiny_config, sr_data, tmp_path):
    names = ("blur_sigma", "blur_kernel", "noise_sigma")
    config, data = dataset_for(tiny_config, tmp_path, online_table(sr_data), PIPELINE, names)
    online = data.train.datasets[0].dataset  # the raw set inside the metadata normalisation
    assert online.metadata_dims == {"blur_sigma": 1, "blur_kernel": 4, "noise_sigma": 1}
    pipeline = Pipeline.from_config(PIPELINE, "", 4)
    sigmas = set()
    for index in range(6):
        key = (index, (9, 2, index))
        item = online[key]
        assert torch.equal(online[key]["lr"], item["lr"])  # the same key gives the same sample
        # redo the sample by hand: crop and flips, then the pipeline, all from the key's seed
        rng = np.random.default_rng(key[1])
        size = online.lr_sizes[index]
        top, left, _, _ = crop_box(size, 12, rng)
        full = np.asarray(Image.open(online.hr.paths[index]).convert("RGB"))
        (patch,) = random_flips([full[top * 4 : top * 4 + 48, left * 4 : left * 4 + 48]], rng)
        lr, applied = pipeline(np.ascontiguousarray(patch), rng)
        assert np.array_equal(item["hr"].permute(1, 2, 0).numpy(), patch)
        assert np.array_equal(item["lr"].permute(1, 2, 0).numpy(), lr)
        expected = [applied["blur_sigma"], *applied["blur_kernel"], applied["noise_sigma"]]
        assert torch.allclose(item["metadata"], torch.tensor(expected, dtype=torch.float32))
        assert 0.5 <= applied["blur_sigma"] <= 3.0 and 2.0 <= applied["noise_sigma"] <= 20.0
        sigmas.add(applied["blur_sigma"])
    assert len(sigmas) == 6
    # evaluation: whole images, the same degradation at every evaluation
    evals = data.evals["eval"]
    first, again = evals[1], evals[1]
    assert first["lr"].shape == (3, 24, 24) and torch.equal(first["lr"], again["lr"])
    assert torch.equal(first["metadata"], again["metadata"])
    # normalisation statistics come from pipeline draws: training values land in about [0, 1]
    info = data.metadata_info
    assert info["minimum"][0] == pytest.approx(0.5, abs=0.05) and info["maximum"][0] == pytest.approx(3.0, abs=0.05)
    values = torch.stack([data.train[(i, (9, 2, i))]["metadata"] for i in range(6)])
    assert float(values.min()) > -0.1 and float(values.max()) < 1.1


def test_workers_give_the_same_online_batches(test_models, tiny_config, sr_data, tmp_path):
    batches = []
    for workers in (0, 2):
        config, data = dataset_for(tiny_config, tmp_path, online_table(sr_data), PIPELINE, ("noise_sigma",))
        config["data"]["dataloader_threads"] = workers
        loaders = build_loaders(validate(config, tmp_path / "cfg.toml"), data, torch.device("cpu"))
        batches.append(list(loaders.train) + list(loaders.evals["eval"]))
    assert len(batches[0]) == len(batches[1]) == 5  # two training batches, three eval batches
    for ours, theirs in zip(*batches):
        assert all(torch.equal(ours[k], theirs[k]) for k in ("lr", "hr", "metadata"))


def test_training_online_and_evaluating_on_a_rumpy_degrade_set(test_models, tiny_config, sr_data, tmp_path, capsys):
    (tmp_path / "pipeline.toml").write_text(toml.dumps(PIPELINE))
    code, _, err = invoke(capsys, "degrade", "--source-dir", sr_data.eval_hr, "--output-dir", tmp_path / "eval_lr",
                          "--pipeline-config", tmp_path / "pipeline.toml", "--scale", "4", "--seed", "3")
    assert code == 0, err
    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": ["blur_sigma", "noise_sigma"]}}
    config["data"]["online_pipeline"] = PIPELINE
    config["data"]["training_sets"]["train"] = online_table(sr_data)
    config["data"]["eval_sets"]["eval"] = {"lr": str(tmp_path / "eval_lr"), "hr": str(sr_data.eval_hr),
                                           "degradation_metadata": "on_site"}
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert [r["epoch"] for r in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")] == [1]
    assert [m.shape for m in MetaNet.seen] == [(4, 2), (2, 2), (2, 2)]
    assert float(torch.cat(MetaNet.seen).abs().max()) < 1.2  # offline and online metadata, scaled alike


ONLINE_MISTAKES = {
    "no pipeline": (lambda c: c["data"].pop("online_pipeline"),
                    "data.training_sets.train.online_degradations: needs a [data.online_pipeline] table"),
    "no downsample": (lambda c: c["data"].update(online_pipeline={"pipeline": "noise"}),
                      "data.online_pipeline: turns a 64x64 HR patch into 64x64, not 16x16 (x4)"),
    "lr given too": (lambda c: c["data"]["training_sets"]["train"].update(lr="somewhere"),
                     "data.training_sets.train.lr: not used with online_degradations"),
    "unknown operation": (lambda c: c["data"].update(online_pipeline={"pipeline": "blurr-downsample"}),
                          "data.online_pipeline.pipeline[0]: unknown operation 'blurr'; did you mean blur?"),
    "unrecorded metadata": (lambda c: c["model"]["internal_params"].update(metadata=["jpeg_quality"]),
                            "data.online_pipeline has no column 'jpeg_quality'"),
}


@pytest.mark.parametrize("case", sorted(ONLINE_MISTAKES))
def test_online_mistakes_are_one_line_errors(case, test_models, tiny_config, sr_data, tmp_path, capsys):
    mutate, expected = ONLINE_MISTAKES[case]
    config = tiny_config()
    config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": ["noise_sigma"]}}
    config["data"]["online_pipeline"] = {"pipeline": "downsample-noise"}
    config["data"]["training_sets"]["train"] = online_table(sr_data)
    config["data"]["eval_sets"]["eval"] = online_table(sr_data, crop=None, random_augment=False)
    mutate(config)
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, expected)


def test_training_batches_degraded_on_the_device_resume_exactly(tiny_config, sr_data, tmp_path, capsys):
    """``on_device``: training items carry HR crops and seeds, the task makes the batch's LR images
    with the device pipeline; eval sets stay per image. Resumed, the run ends where a whole one does."""
    from rumpycore.degrade.device import BatchDegradation

    from .test_engine import assert_same_state

    pipeline = {"pipeline": "realesrgan", "on_device": True}
    _, data = dataset_for(tiny_config, tmp_path, online_table(sr_data, crop=16), pipeline)
    item = data.train[(2, (4, 1, 2))]
    assert "lr" not in item and item["hr"].shape == (3, 64, 64) and item["degrade_seed"].dtype == torch.int64
    device = BatchDegradation.from_config({"pipeline": "realesrgan"}, "data.online_pipeline", 4)
    lr, _ = device(item["hr"][None].float() / 255, [int(item["degrade_seed"])])
    assert lr.shape == (1, 3, 16, 16)

    def config(name):
        made = tiny_config(experiment=name, training={"num_epochs": 2})
        made["data"]["online_pipeline"] = pipeline
        made["data"]["training_sets"]["train"] = online_table(sr_data, crop=16)
        return made

    runs = tmp_path / "runs"
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config("whole"), tmp_path / "whole.toml"))
    assert code == 0, err
    split = write_config(config("split"), tmp_path / "split.toml")
    for extra in (("--num_epochs", "1"), ("--continue_from_epoch", "last")):
        code, _, err = invoke(capsys, "train", "--parameters", split, *extra)
        assert code == 0, err
    load = lambda name: torch.load(runs / name / "saved_models" / "train_model_2.pt", weights_only=True)  # noqa: E731
    assert_same_state(load("whole"), load("split"))


@pytest.mark.parametrize("pipeline, model, message", [
    ({"pipeline": "blur-downsample", "deg_configs": {"blur": {"pca_samples": 300}}, "on_device": True}, None,
     "data.online_pipeline.pipeline: the device pipeline runs one realesrgan operation"),
    ({"pipeline": "realesrgan", "on_device": "yes"}, None, "data.online_pipeline.on_device: expected true or false"),
    ({"pipeline": "realesrgan", "on_device": True}, "MetaNet",
     "data.online_pipeline.on_device: the model takes metadata, which the device pipeline does not give"),
])
def test_device_degradation_mistakes_are_one_line(test_models, tiny_config, sr_data, tmp_path, capsys, pipeline,
                                                   model, message):
    config = tiny_config()
    if model:
        config["model"] = {"name": model, "internal_params": {"scale": 4, "metadata": ["scale"]}}
    config["data"]["online_pipeline"] = pipeline
    config["data"]["training_sets"]["train"] = online_table(sr_data, crop=16)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()
