"""Speed options on the CPU: what runs here runs for real; the CUDA-only paths are refused
with one line, and the CUDA-graph step logic is exercised with a CPU stand-in recorder."""

from __future__ import annotations

import types

import pytest
import torch

import rumpycore
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.testing import write_config
from rumpycore.training.speed import SpeedSettings
from rumpycore.training.steps import EagerStep, GraphStep, restore, snapshot

from .helpers import assert_one_line_error, invoke


def run(capsys, config, path, *extra):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


def final_row(tmp_path, name):
    return read_summary(tmp_path / "runs" / name / "result_outputs" / "summary.csv")[-1]


def test_bf16_channels_last_and_compile_train_on_the_cpu(tiny_config, tmp_path, capsys):
    run(capsys, tiny_config(experiment="fp32"), tmp_path / "fp32.toml")
    run(capsys, tiny_config(experiment="bf16", training={"precision": "bf16", "channels_last": True}),
        tmp_path / "bf16.toml")
    run(capsys, tiny_config(experiment="compiled", training={"compile": True, "compile_backend": "aot_eager"}),
        tmp_path / "compiled.toml")
    reference = final_row(tmp_path, "fp32")
    for name, tolerance in (("bf16", 2e-2), ("compiled", 1e-5)):
        row = final_row(tmp_path, name)
        assert row["train-loss"] == pytest.approx(reference["train-loss"], rel=tolerance), name
        assert row["val-PSNR"] == pytest.approx(reference["val-PSNR"], abs=0.2), name


@pytest.mark.parametrize("training, message", [
    ({"precision": "tf32"}, "training.precision: 'tf32' is a CUDA tensor-core mode"),
    ({"precision": "fp16"}, "training.precision: 'fp16' needs a CUDA GPU"),
    ({"cuda_graph": True}, "training.cuda_graph: needs a CUDA GPU"),
    ({"optimizer_impl": "fused", "precision": "bf16"}, "training.optimizer_impl: 'fused' Adam on the CPU"),
    ({"precision": "fp8"}, "training.precision: 'fp8' is not one of"),
])
def test_options_the_cpu_cannot_honour_are_one_line_errors(tiny_config, tmp_path, capsys, training, message):
    config = tiny_config(training=training)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "runs").exists()


def test_a_model_declines_an_option_with_a_notice(tiny_config, tmp_path, capsys):
    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(
            "Shuffler", lambda p, ctx: torch.nn.Sequential(torch.nn.Conv2d(3, 48, 3, padding=1),
                                                           torch.nn.PixelShuffle(4)),
            unsupported={"channels_last": "its layers assume NCHW"}))

    host().register_plugin(types.SimpleNamespace(register_models=register_models, __name__="shuffler"), "shuffler")
    try:
        config = tiny_config(training={"num_epochs": 1, "channels_last": True})
        config["model"] = {"name": "Shuffler", "internal_params": {"scale": 4}}
        err = run(capsys, config, tmp_path / "cfg.toml")
    finally:
        reset_host()
    assert "rumpy: note: channels_last is off for this model (its layers assume NCHW)" in err


class Rerun:
    """CPU stand-in for a CUDA graph: replaying reruns the step with fresh gradients, which
    is what a captured backward does on every replay."""

    def __init__(self, fn, parameters):
        self.fn = fn
        self.parameters = list(parameters)

    def replay(self):
        for p in self.parameters:
            p.grad = None
        return self.fn()


def make_step(kind, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)
    args = (lambda b: model(b["lr"]), lambda out, b: torch.nn.functional.l1_loss(out, b["hr"]),
            list(model.parameters()), optimizer, scheduler, True, 0.5, SpeedSettings(), torch.device("cpu"))
    if kind == "eager":
        return model, EagerStep(*args)
    return model, GraphStep(*args, capture=lambda fn: Rerun(fn, model.parameters()))


def test_graph_step_replays_the_eager_trajectory():
    torch.manual_seed(1)
    batches = [{"lr": torch.rand(n, 3, 8, 8), "hr": torch.rand(n, 3, 8, 8), "name": ["x"] * n} for n in (4, 4, 4, 2, 4)]
    eager_model, eager = make_step("eager")
    graph_model, graph = make_step("graph")
    eager_losses = [eager(b)[0].item() for b in batches]
    graph_losses = [graph(b)[0].item() for b in batches]  # the short batch runs eagerly
    assert graph_losses == eager_losses
    for a, b in zip(eager_model.parameters(), graph_model.parameters()):
        assert torch.equal(a, b)
    assert graph.optimizer.param_groups[0]["lr"] == eager.optimizer.param_groups[0]["lr"] == 1e-2 * 0.25


def test_snapshot_and_restore_undo_warm_up_steps():
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    saved = snapshot(list(model.parameters()), optimizer)
    model(torch.rand(3, 4)).sum().backward()
    optimizer.step()
    restore(saved, list(model.parameters()), optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(float(t.abs().sum()) == 0 for state in optimizer.state.values() for t in state.values())
