"""Speed options on the CPU: the CUDA-only paths are refused with one line, and the
CUDA-graph step logic is exercised with a CPU stand-in recorder. Each model plugin's tests
train it with the speed options through ``rumpycore.testing.check_speed_options``."""

from __future__ import annotations

import types

import pytest
import torch

import rumpycore
from rumpycore.errors import ConfigError
from rumpycore.loggers.summary import read_summary
from rumpycore.plugins import host, reset_host
from rumpycore.specs import SchedulerContext
from rumpycore.testing import write_config
from rumpycore.training.schedulers import OneCycleParams, one_cycle
from rumpycore.training.speed import SpeedSettings
from rumpycore.training.steps import EagerStep, GraphStep, restore, snapshot

from .helpers import assert_one_line_error, invoke


def run(capsys, config, path, *extra):
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, path), *extra)
    assert code == 0, err
    return err


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


def test_every_adam_implementation_trains_alike_on_the_cpu(tiny_config, tmp_path, capsys):
    losses = {}
    for impl in ("default", "foreach", "fused"):
        config = tiny_config(experiment=impl, training={"num_epochs": 1, "optimizer_impl": impl})
        code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / f"{impl}.toml"))
        assert code == 0, err
        losses[impl] = read_summary(tmp_path / "runs" / impl / "result_outputs" / "summary.csv")[0]["val-loss"]
    assert losses["foreach"] == pytest.approx(losses["default"], rel=1e-5)
    assert losses["fused"] == pytest.approx(losses["default"], rel=1e-5)


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


def make_step(kind, seed=0, scheduler=lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)):
    """A model, its step (eager, or captured with a recorder that reruns on the CPU) and its loss function."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    # a tensor learning rate, as build_optimizer gives a captured step
    optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-2))
    scheduler = scheduler(optimizer)
    args = (list(model.parameters()), optimizer, scheduler, True, 0.5, SpeedSettings(), torch.device("cpu"))

    def loss_of(batch):
        return {"loss": torch.nn.functional.l1_loss(model(batch["lr"]), batch["hr"])}

    if kind == "eager":
        return model, EagerStep(*args), loss_of
    return model, GraphStep(*args, capture=lambda fn: Rerun(fn, model.parameters())), loss_of


def test_graph_step_replays_the_eager_trajectory():
    torch.manual_seed(1)
    batches = [{"lr": torch.rand(n, 3, 8, 8), "hr": torch.rand(n, 3, 8, 8), "name": ["x"] * n} for n in (4, 4, 4, 2, 4)]
    eager_model, eager, eager_loss = make_step("eager")
    graph_model, graph, graph_loss = make_step("graph")
    eager_losses = [eager(b, eager_loss)[0]["loss"].item() for b in batches]
    graph_losses = [graph(b, graph_loss)[0]["loss"].item() for b in batches]  # the short batch runs eagerly
    assert graph_losses == eager_losses
    for a, b in zip(eager_model.parameters(), graph_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert float(graph.optimizer.param_groups[0]["lr"]) == float(eager.optimizer.param_groups[0]["lr"])
    assert float(graph.optimizer.param_groups[0]["lr"]) == pytest.approx(1e-2 * 0.25)


@pytest.mark.parametrize("cycle_momentum", [True, False])
def test_a_scheduler_changing_more_than_the_rate_cannot_drive_a_captured_step(cycle_momentum):
    _, graph, loss_of = make_step("graph", scheduler=lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1e-2, total_steps=10, cycle_momentum=cycle_momentum))
    batch = {"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 8, 8), "name": ["x"] * 2}
    graph(batch, loss_of)
    if cycle_momentum:
        with pytest.raises(RuntimeError, match="other than the learning rate"):
            graph(batch, loss_of)
    else:
        graph(batch, loss_of)


def test_a_captured_step_refuses_a_second_loss_function():
    _, graph, loss_of = make_step("graph")
    batch = {"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 8, 8), "name": ["x"] * 2}
    graph(batch, loss_of)
    with pytest.raises(RuntimeError, match="replays one loss function"):
        graph(batch, lambda b: loss_of(b))


def test_one_cycle_refuses_to_cycle_momentum_under_a_captured_step():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-3))
    captured = SchedulerContext(steps_per_epoch=5, num_epochs=2, lr=1e-3, captured_step=True)
    with pytest.raises(ConfigError, match="scheduler_params.cycle_momentum: a CUDA-graph step"):
        one_cycle(optimizer, OneCycleParams(lr_max=1e-2), captured)
    scheduler = one_cycle(optimizer, OneCycleParams(lr_max=1e-2, cycle_momentum=False), captured)
    betas = optimizer.param_groups[0]["betas"]
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["betas"] == betas


def test_snapshot_and_restore_undo_warm_up_steps():
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    saved = snapshot(list(model.parameters()), optimizer)
    model(torch.rand(3, 4)).sum().backward()
    optimizer.step()
    restore(saved, list(model.parameters()), optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(float(t.abs().sum()) == 0 for state in optimizer.state.values() for t in state.values())


def test_channels_last_lays_out_the_2d_weights_and_leaves_3d_ones():
    from rumpycore.training.networks import place

    model = place(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv3d(1, 1, 3), torch.nn.Linear(4, 2)),
                  torch.device("cpu"), torch.channels_last)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()
    assert model[1].weight.is_contiguous() and model[2].weight.is_contiguous()
