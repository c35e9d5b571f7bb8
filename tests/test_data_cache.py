"""Decoded sets in memory by default within ``data.cache_budget``, the messages about it, and
the loader workers, CPU threads and channels_last chosen for the machine."""

from __future__ import annotations

import os

import pytest
import torch

from rumpycore.config import validate
from rumpycore.data.cache import MemorySource, parse_budget
from rumpycore.data.loaders import default_threads, default_workers
from rumpycore.plugins import model_registry
from rumpycore.training.setup import build_datasets, build_loaders
from rumpycore.training.speed import resolve
from rumpycore.testing import write_config

from .helpers import assert_one_line_error, invoke


@pytest.fixture
def cpu_threads():
    """Restore torch's thread count after a test that lets a run set it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def loaders_for(config: dict, tmp_path):
    run = validate(config, write_config(config, tmp_path / "cfg.toml"))
    data = build_datasets(run)
    return data, build_loaders(run, data, torch.device("cpu"))


def sources(dataset) -> list:
    return [source for _, source, _ in dataset.sources()]


def test_sets_are_decoded_only_when_the_plan_is_applied_and_give_the_same_items(tiny_config, tmp_path, cpu_threads):
    config = tiny_config()
    del config["data"]["dataloader_threads"]
    data, loaders = loaders_for(config, tmp_path)
    train, evals = data.train.datasets[0], data.evals["eval"]
    assert loaders.memory.chosen == [("data.training_sets.train", train), ("data.eval_sets.eval", evals)]
    assert loaders.train.num_workers == 0  # decoded images: the training process crops them itself
    assert torch.get_num_threads() == default_threads(0, True, len(os.sched_getaffinity(0)))
    keys = [(i % 6, (1, 2, i)) for i in range(12)]
    before = [train[key] for key in keys] + [evals[i] for i in range(2)]
    assert not any(isinstance(s, MemorySource) for s in sources(train) + sources(evals))
    loaders.memory.apply()
    assert all(isinstance(s, MemorySource) for s in sources(train) + sources(evals))
    assert train.lr.nbytes == 6 * 24 * 24 * 3 and train.hr.nbytes == 6 * 96 * 96 * 3  # one buffer per source
    after = [train[key] for key in keys] + [evals[i] for i in range(2)]
    for a, b in zip(before, after):
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"]) and a["gray"] == b["gray"]


def test_budget_decides_which_sets_fit_training_sets_first(tiny_config, tmp_path):
    train_bytes = 6 * (24 * 24 + 96 * 96) * 3
    config = tiny_config(data_options={"cache_budget": train_bytes / 1e9})
    _, loaders = loaders_for(config, tmp_path)
    assert [where for where, _ in loaders.memory.chosen] == ["data.training_sets.train"]
    assert loaders.memory.bytes == train_bytes
    assert [line.split(" needs ")[0] for line in loaders.memory.too_large] == ["rumpy: data: eval_sets.eval"]
    config = tiny_config(data_options={"cache_budget": 0})
    config["data"]["training_sets"]["train"]["cache"] = True  # explicit: decoded whatever the budget
    data, loaders = loaders_for(config, tmp_path)
    assert isinstance(data.train.datasets[0].hr, MemorySource) and not loaders.memory.chosen
    config["data"]["training_sets"]["train"]["cache"] = False
    data, loaders = loaders_for(config, tmp_path)
    assert not loaders.memory.chosen
    assert [line.split(" needs ")[0] for line in loaders.memory.too_large] == ["rumpy: data: eval_sets.eval"]


def test_a_run_says_what_it_decoded(tiny_config, tmp_path, capsys, cpu_threads):
    config = tiny_config(training={"num_epochs": 1})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("rumpy: data:")]
    assert len(lines) == 1
    assert lines[0].startswith("rumpy: data: decoded 16 images of training_sets.train, eval_sets.eval into memory "
                               "once (")
    assert "budget, data.cache_budget;" in lines[0] and lines[0].endswith("loader workers share them")


def test_a_set_over_the_budget_says_what_rumpy_pack_would_save(tiny_config, sr_data, tmp_path, capsys, cpu_threads):
    config = tiny_config(training={"num_epochs": 1}, data_options={"cache_budget": 1e-5})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("rumpy: data:")]
    assert len(lines) == 2  # one per set left on disk
    assert lines[0].startswith("rumpy: data: training_sets.train needs 0 MB decoded, more than the 0 MB left "
                               "of data.cache_budget, so it is decoded per sample (about ")
    assert f"'rumpy pack --lr {sr_data.train_lr} --hr {sr_data.train_hr} --out train.h5'" in lines[0]
    assert "CPU-s per epoch" in lines[0]


@pytest.mark.parametrize("key, value, message", [
    (("data", "cache_budget"), -1, "data.cache_budget: -1.0 is below the minimum 0.0"),
    (("data", "cache_budget"), "lots", "data.cache_budget: expected number or 'auto', got 'lots'"),
    (("data", "training_sets", "train", "cache"), "sometimes",
     "data.training_sets.train.cache: expected boolean or 'auto', got 'sometimes'"),
    (("training", "cpu_threads"), 0, "training.cpu_threads: 0 is below the minimum 1"),
])
def test_bad_settings_are_one_line_errors(tiny_config, tmp_path, capsys, key, value, message):
    config = tiny_config()
    table = config
    for part in key[:-1]:
        table = table[part]
    table[key[-1]] = value
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, message)


def test_budget_values():
    assert parse_budget(2.5) == 2_500_000_000 and parse_budget(0) == 0
    assert 0 < parse_budget("auto", local_processes=4) * 4 <= parse_budget("auto") + 4


def test_worker_and_thread_defaults_follow_the_data_path_and_the_cores():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [default_workers(True, cpu, cores) for cores in (2, 16)] == [0, 0]
    assert [default_workers(True, cuda, cores) for cores in (2, 8, 16, 64)] == [0, 2, 4, 4]
    assert [default_workers(False, cpu, cores) for cores in (1, 2, 16)] == [1, 2, 8]
    assert default_threads(0, True, 2) == 2 and default_threads(2, True, 16) == 16
    assert default_threads(2, False, 2) == 1 and default_threads(4, False, 16) == 12


def test_explicit_workers_and_threads_win(tiny_config, tmp_path, cpu_threads):
    config = tiny_config(training={"cpu_threads": 1}, data_options={"dataloader_threads": 1})
    _, loaders = loaders_for(config, tmp_path)
    assert loaders.train.num_workers == 1 and torch.get_num_threads() == 1
    config = tiny_config(data_options={"cache_budget": 0})
    del config["data"]["dataloader_threads"]
    _, loaders = loaders_for(config, tmp_path)
    assert loaders.train.num_workers == default_workers(False, torch.device("cpu"),
                                                        len(os.sched_getaffinity(0)))


def test_channels_last_on_the_cpu_only_for_models_measured_faster(tiny_config, tmp_path):
    training = validate(tiny_config(), write_config(tiny_config(), tmp_path / "cfg.toml")).training
    cpu = torch.device("cpu")
    defaults = {name: resolve(training, cpu, {}, False, model_registry().get(name).spec.cpu_channels_last)
                .channels_last for name in ("EDSR", "RCAN", "SFTMD")}
    assert defaults == {"EDSR": True, "RCAN": True, "SFTMD": False}
    explicit = tiny_config(training={"channels_last": False})
    training = validate(explicit, write_config(explicit, tmp_path / "cfg.toml")).training
    assert resolve(training, cpu, {}, False, True).channels_last is False


def test_online_sets_read_the_cache_without_changing_it(sr_data, tmp_path):
    from rumpycore.data.paired import PairedParams, build_paired
    from rumpycore.params import parse
    from rumpycore.specs import DatasetContext

    pipeline = {"pipeline": "blur-downsample-noise-compress", "deg_configs": {"blur": {"sigma": [0.5, 2.0]}}}

    def online(cache: bool):
        params = parse(PairedParams, {"hr": str(sr_data.train_hr), "online_degradations": True, "crop": 8,
                                      "random_augment": True, "cache": cache}, "data.training_sets.s")
        return build_paired(params, DatasetContext("s", "train", 4, "sisr", tmp_path, (), True, (), pipeline))

    plain, cached = online(False), online(True)
    assert isinstance(cached.hr, MemorySource) and not cached.hr.buffer.flags.writeable
    before = cached.hr.buffer.copy()
    for i in range(24):
        a, b = plain[(i % 6, (4, 1, i))], cached[(i % 6, (4, 1, i))]
        assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    assert (cached.hr.buffer == before).all()
