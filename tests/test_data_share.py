"""The epoch's data share counts steps slowed by loading, not only the time spent waiting."""

from __future__ import annotations

import pytest
import torch

from rumpycore.loggers.console import tally
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import write_config
from rumpycore.training.datashare import DataShare

from .helpers import invoke


def batch(size: int) -> dict:
    return {"name": ["x"] * size, "lr": torch.zeros(size, 3, 2, 2, dtype=torch.uint8)}


def test_data_time_is_training_time_less_the_steps_alone():
    share = DataShare()
    share.start_epoch()
    for seconds in (1.5, 1.4, 1.0):  # the last full step ran after the workers had finished: the step alone
        share.step(seconds, batch(8), 8)
    share.step(0.3, batch(3), 8)  # a short last batch counts as it ran
    assert share.data_time(train_time=5.0, wait=0.5, workers=2) == pytest.approx(5.0 - 3 * 1.0 - 0.3)
    assert share.data_time(train_time=3.4, wait=0.2, workers=2) == pytest.approx(0.2)  # never below the wait
    share.start_epoch()
    share.step(1.2, batch(8), 8)  # the fastest step of the run is kept across epochs
    assert share.data_time(train_time=2.0, wait=0.1, workers=2) == pytest.approx(1.0)
    assert share.data_time(train_time=2.0, wait=0.1, workers=0) == 0.1  # no workers: loading is the wait
    assert DataShare().data_time(train_time=2.0, wait=0.4, workers=2) == 0.4  # no full step: the wait alone


def test_the_epoch_line_shows_the_data_share():
    line = tally(3, 10, {"epoch": 3, "train-loss": 0.1, "train-time": 8.0, "data-wait-time": 0.4,
                         "data-time": 2.0, "epoch-time": 9.0})
    assert line == "epoch 3/10 | train-loss 0.1 | data 25% | 9.0 s"


def test_a_run_records_data_time_between_the_wait_and_the_training_time(tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 2})
    config["data"]["dataloader_threads"] = 1
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    for row in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv"):
        assert row["data-wait-time"] <= row["data-time"] <= row["train-time"]
    assert "| data " in err
