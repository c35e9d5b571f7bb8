"""Contrastive degradation encoders: the original's encoder, the three methods' logits, and the
``contrastive`` task through the real CLI on data blurred and noised by ``rumpy degrade``: it
trains, keeps its key encoder and queue in every checkpoint, and resumes bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from rumpy_contrastive.contrast import Contrast, KeyQueue, contrastive_loss, logits
from rumpy_contrastive.encoder import Encoder
from rumpy_contrastive.labels import degradation_classes
from rumpy_contrastive.task import neighbour_agreement, random_crops
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import with_metadata, write_config
from tests.helpers import assert_one_line_error, invoke
from tests.test_engine import assert_same_state

TINY = {"crop_count": 3, "queue_size": 16, "momentum": 0.9, "metadata": ["blur_sigma", "noise_sigma"]}


def contrast(method: str, crops: int = 3) -> Contrast:
    return Contrast(method, crops, None, 0.5, 4, 0.9, 2)


def test_the_encoder_has_the_original_layers():
    # conv 64, 64, 128/2, 128, 256/2, 256 with BatchNorm, then a 256-256-256 MLP, as the original's default
    encoder = Encoder()
    assert sum(p.numel() for p in encoder.parameters()) == 1_278_784
    embedding, q = encoder(torch.rand(2, 3, 11, 7))
    assert embedding.shape == q.shape == (2, 256)


def test_classes_combine_the_interval_of_each_value():
    values = torch.tensor([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [1.0, 0.6], [0.4, 0.5]])
    assert degradation_classes(values, 2).tolist() == [0, 1, 2, 3, 2]
    assert degradation_classes(values, 3).tolist() == [0, 2, 6, 5, 4]


def unit(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape), dim=-1)


def test_moco_logits_are_the_mean_positive_then_every_queue_key():
    torch.manual_seed(0)
    q, k, queue = unit(2, 8), unit(2, 2, 8), KeyQueue(8, 4, 0, torch.device("cpu"))
    out = logits(contrast("moco"), q, k, queue, None, None)
    assert out.shape == (2, 5)
    assert torch.allclose(out[:, 0], (q[:, None] * k).sum(-1).mean(1) / 0.5)
    assert torch.allclose(out[:, 1:], q @ queue.keys / 0.5)
    assert torch.allclose(contrastive_loss(out), F.cross_entropy(out, torch.zeros(2, dtype=torch.long), reduction="none"))


def test_supmoco_counts_queue_keys_of_the_same_class_as_positives():
    torch.manual_seed(1)
    q, k, queue = unit(2, 8), unit(2, 2, 8), KeyQueue(8, 4, 0, torch.device("cpu"))
    queue.classes = torch.tensor([5, 7, 5, -1])
    out = logits(contrast("supmoco"), q, k, queue, torch.tensor([5, 3]), None)
    own = (q[:, None] * k).sum(-1).sum(1)
    similarity = q @ queue.keys
    assert torch.allclose(out[0, 0], (own[0] + similarity[0, 0] + similarity[0, 2]) / 4 / 0.5)
    assert torch.allclose(out[1, 0], own[1] / 2 / 0.5)  # no queue key of class 3
    assert torch.allclose(out[:, 1:], similarity / 0.5)


def test_weakcon_weighs_each_negative_by_the_degradation_distance():
    torch.manual_seed(2)
    q, k, queue = unit(2, 8), unit(2, 2, 8), KeyQueue(8, 4, 2, torch.device("cpu"))
    queue.values = torch.rand(2, 4)
    values = torch.rand(2, 2)
    out = logits(contrast("weakcon"), q, k, queue, None, values)
    distance = (values[:, :, None] - queue.values[None]).norm(dim=1)
    assert torch.allclose(out[:, 1:], (q @ queue.keys) * distance / 0.5, atol=1e-6)


def test_the_queue_replaces_its_oldest_keys_wrapping_around():
    queue = KeyQueue(3, 4, 1, torch.device("cpu"))
    queue.push(torch.ones(3, 3), torch.tensor([1, 2, 3]), torch.full((3, 1), 0.5))
    queue.push(2 * torch.ones(2, 3), torch.tensor([4, 5]), torch.full((2, 1), 0.25))
    assert queue.pointer == 1 and queue.classes.tolist() == [5, 2, 3, 4]
    assert queue.keys[0].tolist() == [2, 1, 1, 2] and queue.values[0].tolist() == [0.25, 0.5, 0.5, 0.25]


def test_crops_come_from_their_own_image():
    images = torch.arange(2, dtype=torch.float32).view(2, 1, 1, 1).expand(2, 3, 10, 12)
    crops = random_crops(images, 4, 5, torch.Generator().manual_seed(0))
    assert crops.shape == (2, 4, 3, 5, 5)
    assert crops[0].eq(0).all() and crops[1].eq(1).all()
    assert random_crops(images, 2, None).shape == (2, 2, 3, 5, 5)  # half the shorter side


def test_nearest_neighbours_compare_degradations():
    embeddings = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    values = torch.tensor([[0.0], [0.2], [1.0], [0.6]])
    stats = neighbour_agreement(embeddings, degradation_classes(values, 2), values)
    assert stats == {"val-nn-error": pytest.approx(0.3), "val-nn-accuracy": 1.0}


def contrastive_config(tiny_config, data, method="supmoco", experiment="encoder", epochs=1, **params) -> dict:
    config = tiny_config(model=method, internal_params={**TINY, **params}, experiment=experiment,
                         training={"num_epochs": epochs, "metrics": []})
    return with_metadata(config, data)


def checkpoint(folder, epoch):
    return torch.load(folder / "saved_models" / f"train_model_{epoch}.pt", weights_only=True)


@pytest.mark.parametrize("method", ["MoCo", "SupMoCo", "WeakCon"])
def test_trains_and_resumes_bit_for_bit(method, blur_noise_data, tiny_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    for name, flags in (("whole", []), ("split", ["--num_epochs", "1"]), ("split", ["--continue_from_epoch", "last"])):
        config = contrastive_config(tiny_config, blur_noise_data, method, name, 2)
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{name}.toml"), *flags)
        assert code == 0, err
    first, whole, resumed = checkpoint(runs / "whole", 1), checkpoint(runs / "whole", 2), checkpoint(runs / "split", 2)
    assert whole["networks"]["model"]["model"] == method
    assert_same_state(whole, resumed)
    for state in (whole, resumed):
        assert state["task_state"]["queue"]["pointer"] == 12 % 16  # 6 images a epoch, twice
    for key in ("keys", "classes", "values"):
        assert torch.equal(whole["task_state"]["queue"][key], resumed["task_state"]["queue"][key]), key
    for key, value in whole["task_state"]["key_encoder"].items():
        assert torch.equal(value, resumed["task_state"]["key_encoder"][key]), key
    # the key encoder trails the query encoder
    assert not torch.equal(whole["task_state"]["key_encoder"]["mlp.0.weight"],
                           whole["networks"]["model"]["weights"]["mlp.0.weight"])
    assert not torch.equal(first["task_state"]["queue"]["keys"], whole["task_state"]["queue"]["keys"])
    rows = read_summary(runs / "whole" / "result_outputs" / "summary.csv")
    assert rows[-1]["train-loss"] > 0 and rows[-1]["val-loss"] > 0
    assert 0 <= rows[-1]["val-nn-accuracy"] <= 1 and rows[-1]["val-nn-error"] >= 0
    assert rows == [{**r, **{k: v for k, v in row.items() if k.endswith("-time")}}
                    for r, row in zip(read_summary(runs / "split" / "result_outputs" / "summary.csv"), rows)]


def test_trains_on_online_degradations_at_the_pipelines_scale(sr_data, tiny_config, tmp_path, capsys):
    # as the original's supmoco_standard.toml: HR sets degraded while training, no scale of its own
    config = contrastive_config(tiny_config, sr_data, metadata=["blur_sigma"])
    del config["model"]["internal_params"]["scale"]
    config["data"]["online_pipeline"] = {"pipeline": [["blur", "b-config"], ["downsample", "d-config"]],
                                         "b-config": {"sigma": [0.2, 3.0], "pca_samples": 100},
                                         "d-config": {"scale": 4}}
    config["data"]["training_sets"]["train"] = {"hr": str(sr_data.train_hr), "crop": 16, "online_degradations": True}
    config["data"]["eval_sets"]["eval"] = {"hr": str(sr_data.eval_hr), "online_degradations": True}
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    folder = tmp_path / "runs" / "encoder"
    assert checkpoint(folder, 1)["config"]["model"]["internal_params"]["scale"] == 4
    assert read_summary(folder / "result_outputs" / "summary.csv")[0]["val-nn-error"] >= 0


@pytest.mark.slow
def test_two_processes_share_one_queue(blur_noise_data, tiny_config, tmp_path):
    # each process embeds half of every batch; the queue takes the keys of both, in rank order
    config = contrastive_config(tiny_config, blur_noise_data, "SupMoCo", "ddp", 2)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rumpycore.cli", "train", "--parameters", str(write_config(config, tmp_path / "ddp.toml"))],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    queue = checkpoint(tmp_path / "runs" / "ddp", 2)["task_state"]["queue"]
    assert queue["pointer"] == 12 % 16  # 6 images an epoch, twice, as one process
    assert (queue["classes"] >= 0).sum() == 12


def test_moco_needs_no_metadata(sr_data, tiny_config, tmp_path, capsys):
    config = tiny_config(model="moco", internal_params={"crop_count": 2, "queue_size": 8}, training={"metrics": [],
                                                                                                     "num_epochs": 1})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    row = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")[0]
    assert row["val-loss"] > 0 and "val-nn-error" not in row


def test_the_original_configs_image_metrics_and_task_type_are_noted(blur_noise_data, tiny_config, tmp_path, capsys):
    config = contrastive_config(tiny_config, blur_noise_data)
    config["training"].update(metrics=["PSNR", "SSIM"], run_eval=True)
    config["data"]["task_type"] = "classification"
    code, out, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert "rumpy: note: training.metrics (PSNR, SSIM) is ignored: the contrastive task's outputs" in err
    config["data"]["task_type"] = "sr"
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    errors = [line for line in err.splitlines() if not line.startswith("rumpy: note:")]
    assert code == 2 and errors == [
        "rumpy: error: data.task_type: 'sr' does not match model SupMoCo, which is a contrastive model"], err


def test_supmoco_without_metadata_is_one_line(sr_data, tiny_config, tmp_path, capsys):
    config = tiny_config(model="supmoco", internal_params={"queue_size": 8}, training={"metrics": []})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, "model.internal_params.metadata: supmoco tells degradations apart")
    assert not (tmp_path / "runs").exists()
