"""A corpus of config mistakes: each is one stderr line naming the key or file, exit code 2,
no traceback, and nothing created on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rumpycore.testing import write_config

from .helpers import assert_one_line_error, invoke


def drop(d: dict, *path: str) -> None:
    for key in path[:-1]:
        d = d[key]
    del d[path[-1]]


def put(d: dict, value, *path: str) -> None:
    for key in path[:-1]:
        d = d.setdefault(key, {})
    d[path[-1]] = value


CASES = {
    "training key typo": (lambda c: put(c, 3, "training", "num_epohcs"),
                          "training.num_epohcs: unknown key; did you mean num_epochs?"),
    "epochs not a number": (lambda c: put(c, "ten", "training", "num_epochs"),
                            "training.num_epochs: expected an integer"),
    "zero epochs": (lambda c: put(c, 0, "training", "num_epochs"), "training.num_epochs: 0 is below the minimum"),
    "no epochs": (lambda c: drop(c, "training", "num_epochs"), "training.num_epochs: missing required key"),
    "cutoff disagrees": (lambda c: put(c, 7, "training", "epoch_cutoff"), "training.epoch_cutoff: conflicts"),
    "original cleanup": (lambda c: put(c, 5, "training", "model_cleanup_frequency"),
                         "training.model_cleanup_frequency: rumpy keeps every epoch's checkpoint"),
    "original cleanup with its metric": (lambda c: (put(c, 5, "training", "model_cleanup_frequency"),
                                                    put(c, "val-PSNR", "training", "cleanup_metric")),
                                         "training.model_cleanup_frequency: rumpy keeps every epoch's checkpoint"),
    "original input channels": (lambda c: put(c, 4, "model", "internal_params", "in_features"),
                                "model.internal_params.in_features: 4 input channels is not supported"),
    "unknown model before training keys": (lambda c: (put(c, "qsparnet", "model", "name"),
                                                      put(c, 3, "training", "num_epohcs")),
                                           "model.name: unknown model 'qsparnet'; known:"),
    "unknown model before model keys": (lambda c: (put(c, "sparnet", "model", "name"),
                                                   put(c, "triple_precision", "model", "internal_params",
                                                       "labelling_strategy")),
                                        "model.name: unknown model 'sparnet'; known:"),
    "original evaluation off": (lambda c: put(c, False, "training", "run_eval"),
                                "training.run_eval: rumpy evaluates every run on its eval sets"),
    "original data range": (lambda c: put(c, 255, "training", "max_im_val"),
                            "training.max_im_val: 255 is not supported"),
    "negative seed": (lambda c: put(c, -1, "training", "seed"), "training.seed: -1 is below the minimum"),
    "bad gpu": (lambda c: put(c, "cuda", "training", "gpu"), "training.gpu: 'cuda' is not one of"),
    "gpu without cuda": (lambda c: put(c, "single", "training", "gpu"), "training.gpu: 'single' needs a CUDA GPU"),
    "multiple gpus without cuda": (lambda c: put(c, "multiple", "training", "gpu"),
                                   "training.gpu: 'multiple' needs CUDA GPUs"),
    "unknown logger": (lambda c: put(c, ["tensorbord"], "training", "loggers"),
                       "training.loggers[0]: unknown logger 'tensorbord'"),
    "params for a disabled logger": (lambda c: put(c, {"system_tracking_interval": 5}, "training", "logger_params", "aim"),
                                     "training.logger_params.aim: logger aim is not enabled"),
    "logger param typo": (lambda c: put(c, {"log_second": 5}, "training", "logger_params", "console"),
                          "training.logger_params.console.log_second: unknown key; did you mean log_seconds?"),
    "metric typo": (lambda c: put(c, ["PSNR", "PNSR"], "training", "metrics"),
                    "training.metrics[1]: unknown metric 'PNSR'; did you mean PSNR?"),
    "metric twice": (lambda c: put(c, ["PSNR", "psnr"], "training", "metrics"), "listed twice"),
    "bad logging": (lambda c: put(c, "fancy", "training", "logging"), "training.logging: 'fancy' is not one of"),
    "bad resume value": (lambda c: put(c, "first", "training", "continue_from_epoch"),
                         "training.continue_from_epoch: expected"),
    "flag not boolean": (lambda c: put(c, "yes", "training", "save_samples"),
                         "training.save_samples: expected true or false"),
    "params for unlisted metric": (lambda c: put(c, {}, "training", "metric_params", "LPIPS"),
                                   "training.metric_params.LPIPS: LPIPS is not in training.metrics"),
    "early stop column typo": (lambda c: put(c, "val-PSRN", "training", "early_stopping_metric"),
                               "training.early_stopping_metric: 'val-PSRN' is not a summary column of this run; did you mean val-PSNR?"),
    "best column unknown": (lambda c: put(c, "val-LPIPS", "training", "best_metric"),
                            "training.best_metric: 'val-LPIPS' is not a summary column"),
    "branch without resume": (lambda c: put(c, True, "training", "new_branch"),
                              "training.new_branch: only used when resuming"),
    "resume missing experiment": (lambda c: put(c, 3, "training", "continue_from_epoch"),
                                  "training.continue_from_epoch: experiment folder"),
    "no model name": (lambda c: drop(c, "model", "name"), "model.name: missing required key"),
    "model typo": (lambda c: put(c, "EDRS", "model", "name"), "model.name: unknown model 'EDRS'; did you mean EDSR?"),
    "model section key": (lambda c: put(c, 1, "model", "nmae"), "model.nmae: unknown key"),
    "model param typo": (lambda c: put(c, 8, "model", "internal_params", "num_featurs"),
                         "model.internal_params.num_featurs: unknown key; did you mean num_features?"),
    "model param type": (lambda c: put(c, 2.5, "model", "internal_params", "num_blocks"),
                         "model.internal_params.num_blocks: expected an integer"),
    "unsupported scale": (lambda c: put(c, 5, "model", "internal_params", "scale"),
                          "model.internal_params.scale: EDSR supports scales"),
    "no scale": (lambda c: drop(c, "model", "internal_params", "scale"),
                 "model.internal_params.scale: missing required key"),
    "lr not a number": (lambda c: put(c, "fast", "model", "internal_params", "lr"),
                        "model.internal_params.lr: expected a number"),
    "scheduler typo": (lambda c: put(c, "cosine_anealing_warm_restarts", "model", "internal_params", "scheduler"),
                       "did you mean cosine_annealing_warm_restarts?"),
    "scheduler param missing": (lambda c: put(c, "cosine_annealing_warm_restarts", "model", "internal_params", "scheduler"),
                                "model.internal_params.scheduler_params.restart_period: missing required key"),
    "scheduler params alone": (lambda c: put(c, {"gamma": 0.5}, "model", "internal_params", "scheduler_params"),
                               "scheduler_params: given without a scheduler"),
    "scheduler params name another": (
        lambda c: (put(c, "step_lr", "model", "internal_params", "scheduler"),
                   put(c, {"step_size": 2, "scheduler": "multi_step_lr"}, "model", "internal_params", "scheduler_params")),
        "model.internal_params.scheduler_params.scheduler: names 'multi_step_lr', but the scheduler is 'step_lr'"),
    "optimizer param typo": (lambda c: put(c, {"beta1": 0.9}, "model", "internal_params", "optimizer_params"),
                             "optimizer_params.beta1: unknown key; did you mean beta_1?"),
    "zero batch": (lambda c: put(c, 0, "data", "batch_size"), "data.batch_size: 0 is below the minimum"),
    "no training sets": (lambda c: drop(c, "data", "training_sets"), "data.training_sets: missing required key"),
    "empty eval sets": (lambda c: put(c, {}, "data", "eval_sets"), "data.eval_sets: at least one set is required"),
    "set not a table": (lambda c: put(c, "folder", "data", "eval_sets", "eval"), "data.eval_sets.eval: expected a table"),
    "set key typo": (lambda c: put(c, "x", "data", "training_sets", "train", "hrr"),
                     "data.training_sets.train.hrr: unknown key; did you mean hr?"),
    "crop not a number": (lambda c: put(c, "big", "data", "training_sets", "train", "crop"),
                          "data.training_sets.train.crop: expected an integer"),
    "dataset type typo": (lambda c: put(c, "pairs", "data", "eval_sets", "eval", "type"),
                          "data.eval_sets.eval.type: unknown dataset 'pairs'; did you mean paired?"),
    "task type mismatch": (lambda c: put(c, "classification", "data", "task_type"), "data.task_type: 'classification'"),
    "missing lr folder": (lambda c: put(c, "/nonexistent/lr", "data", "training_sets", "train", "lr"),
                          "data.training_sets.train.lr: folder /nonexistent/lr does not exist"),
    "missing hr key": (lambda c: drop(c, "data", "training_sets", "train", "hr"),
                       "data.training_sets.train.hr: missing required key"),
    "crop too large": (lambda c: put(c, 64, "data", "training_sets", "train", "crop"), "smaller than data.training_sets.train.crop"),
    "cutoff empty": (lambda c: put(c, [5, 5], "data", "eval_sets", "eval", "cutoff"), "data.eval_sets.eval.cutoff"),
    "top-level typo": (lambda c: put(c, "x", "experimnt"), "experimnt: unknown key; did you mean experiment?"),
    "no experiment": (lambda c: drop(c, "experiment"), "experiment: missing required key"),
    "experiment is a path": (lambda c: put(c, "a/b", "experiment"), "experiment: 'a/b' must be a plain folder name"),
    "training not a table": (lambda c: put(c, 5, "training"), "training: expected a table"),
}


ON_A_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="the mistake is asking for CUDA where there is none")


@pytest.mark.parametrize("case", [pytest.param(case, marks=ON_A_GPU) if "without cuda" in case else case
                                  for case in sorted(CASES)])
def test_config_mistake(case, tiny_config, tmp_path, capsys):
    mutate, expected = CASES[case]
    config = tiny_config()
    mutate(config)
    path = write_config(config, tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, expected)
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the mistake is asking for CUDA where there is none")
@pytest.mark.parametrize("gpu, message", [("single", "training.gpu: 'single' needs a CUDA GPU, but none is visible"),
                                          ("multiple", "training.gpu: 'multiple' needs CUDA GPUs, but none is visible")])
def test_check_refuses_missing_gpus_as_train_does(gpu, message, tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    for command in ("check", "train"):
        code, out, err = invoke(capsys, command, "--parameters", path, "--gpu", gpu)
        assert_one_line_error(code, err, message)
        assert out == ""
    assert not (tmp_path / "runs").exists()


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_invalid_toml_names_the_file(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text("experiment = \n")
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, str(path), "not valid TOML")


def test_missing_config_file(tmp_path, capsys):
    code, _, err = invoke(capsys, "train", "--parameters", tmp_path / "nope.toml")
    assert_one_line_error(code, err, "nope.toml: config file not found")


def test_unknown_flag_is_one_line(tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--num-epohcs", "3")
    assert_one_line_error(code, err, "No such option '--num-epohcs'")


def test_bad_set_override(tiny_config, tmp_path, capsys):
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    code, _, err = invoke(capsys, "train", "--parameters", path, "--set", "training")
    assert_one_line_error(code, err, "--set training: expected section.key=value")


def test_lr_without_hr_partner(tiny_config, tmp_path, sr_data, capsys):
    import shutil

    lr = tmp_path / "lr"
    shutil.copytree(sr_data.train_lr, lr)
    shutil.copy(next(lr.iterdir()), lr / "stranger.png")
    config = tiny_config()
    config["data"]["training_sets"]["train"]["lr"] = str(lr)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, "stranger.png: no HR image with the same name")
    assert not (tmp_path / "runs").exists()


def test_wrong_scale_names_the_file(tiny_config, tmp_path, capsys):
    config = tiny_config(internal_params={"scale": 2})
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, "which is not x2")


def test_unreadable_image_names_the_file(tiny_config, tmp_path, sr_data, capsys):
    import shutil

    hr = tmp_path / "hr"
    shutil.copytree(sr_data.eval_hr, hr)
    (hr / "rgb.png").write_bytes(b"")
    config = tiny_config()
    config["data"]["eval_sets"]["eval"]["hr"] = str(hr)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, f"{hr / 'rgb.png'}: empty file")
    assert not (tmp_path / "runs").exists()


def test_check_reports_errors_the_same_way(tiny_config, tmp_path, capsys):
    config = tiny_config()
    config["training"]["num_epohcs"] = 1
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, "did you mean num_epochs?")


def test_paths_in_error_are_resolved_against_config_folder(tiny_config, tmp_path, capsys):
    config = tiny_config()
    config["data"]["training_sets"]["train"]["lr"] = "relative/lr"
    folder = tmp_path / "configs"
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, folder / "cfg.toml"))
    assert_one_line_error(code, err, str(Path(folder / "relative" / "lr")))
