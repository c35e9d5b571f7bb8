"""The listing commands and the plugin set, through the real CLI: in subprocesses where
the installed executable, its environment or its installed plugins are the point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rumpycore import __version__
from rumpycore.cli.listing import KINDS
from rumpycore.params import describe
from rumpycore.plugins import host, reset_host
from rumpycore.testing import REPO, run_rumpy, write_config

from .helpers import assert_one_line_error, invoke


def test_version_and_help():
    assert run_rumpy("--version").stdout.strip() == f"rumpy {__version__}"
    help_text = run_rumpy("--help").stdout
    for command in ("train", "check", "list", "list-models", "list-datasets", "list-metrics", "list-schedulers",
                    "list-loggers", "plugins", "eval", "degrade", "pack"):
        assert command in help_text


def test_list_models_json_names_the_distribution(capsys):
    code, out, err = invoke(capsys, "list-models", "--json")
    assert code == 0, err
    models = {m["name"]: m for m in json.loads(out)}
    assert models["EDSR"]["distribution"] == "rumpy-edsr"
    assert models["EDSR"]["task"] == "sisr" and models["EDSR"]["version"] == "0.1.0"


def test_list_shows_every_component_with_its_parameters_defaults_and_provider(capsys):
    code, out, err = invoke(capsys, "list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert list(listing) == ["models", "tasks", "losses", "datasets", "metrics", "schedulers", "loggers", "callbacks"]
    for plural, kind in KINDS.items():
        registered = list(host().registry(kind))
        assert [entry["name"] for entry in listing[plural]] == [r.spec.name for r in registered]
        for entry, component in zip(listing[plural], registered, strict=True):
            assert (entry["distribution"], entry["version"]) == (component.provider.distribution,
                                                                 component.provider.version)
            declared = describe(component.spec.params)
            assert [p["name"] for p in entry["parameters"]] == [info.name for info in declared]
            for shown, info in zip(entry["parameters"], declared, strict=True):
                assert shown.get("default") == (None if info.required else info.default)
                assert (shown["required"], shown["min"], shown["max"]) == (info.required, info.min, info.max)
        code, out, err = invoke(capsys, f"list-{plural}", "--json")
        assert code == 0 and json.loads(out) == listing[plural], err
    models = {entry["name"]: entry for entry in listing["models"]}
    assert models["EDSR"]["distribution"] == "rumpy-edsr" and models["EDSR"]["task"] == "sisr"
    assert models["EDSR"]["parameters"][0] == {"name": "num_features", "type": "integer", "required": False,
                                               "default": 64, "min": 1, "max": 4096, "aliases": [],
                                               "help": "channels in each residual block (paper: 64 baseline, "
                                                       "256 full)"}
    step = next(entry for entry in listing["schedulers"] if entry["name"] == "step_lr")
    assert step["interval"] == "batch" and "default" not in step["parameters"][0]
    lpips = next(entry for entry in listing["metrics"] if entry["name"] == "LPIPS")
    assert lpips["higher_is_better"] is False and lpips["parameters"][0]["default"] == "alex"


def test_list_text_says_where_parameters_go(capsys):
    code, out, err = invoke(capsys, "list", "schedulers", "LOGGERS")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "schedulers (parameters go in [model.internal_params.scheduler_params]):"
    assert "  step_lr  (rumpycore 0.1.0; steps per batch)" in lines
    assert next(line for line in lines if line.split()[:1] == ["step_size"]).split() == [
        "step_size", "integer", "required", ">=", "1", "batches", "between", "drops"]
    assert "loggers (parameters go in [training.logger_params.<name>]):" in lines
    assert next(line for line in lines if line.split()[:1] == ["log_seconds"]).split()[:4] == [
        "log_seconds", "number", "default", "60.0"]
    code, out, err = invoke(capsys, "list-models")
    assert code == 0, err
    assert "  EDSR  (rumpy-edsr 0.1.0; sisr; scales 2, 3, 4, 8)" in out.splitlines()
    code, out, err = invoke(capsys, "list", "tasks", "callbacks")
    assert code == 0, err
    assert "  sisr  (rumpycore 0.1.0; [model] sisr)" in out.splitlines()
    assert "callbacks (parameters go in [training.callback_params.<name>]):" in out.splitlines()
    code, _, err = invoke(capsys, "list", "optimizers")
    assert_one_line_error(code, err, "'optimizers' is not one of 'models', 'tasks', 'losses'")


def test_plugins_lists_distributions_and_hooks(capsys):
    code, out, err = invoke(capsys, "plugins", "--json")
    assert code == 0, err
    plugins = {p["distribution"]: p for p in json.loads(out)}
    assert plugins["rumpycore"]["hooks"] == ["register_callbacks", "register_datasets", "register_loggers",
                                             "register_losses", "register_metrics", "register_schedulers",
                                             "register_tasks"]
    assert "register_models" in plugins["rumpy-edsr"]["hooks"]
    assert {"rumpy-rcan", "rumpy-sftmd", "rumpy-regression"} <= set(plugins)


@pytest.fixture
def fresh_plugins():
    """Plugins load again at the next command, and once more after the test."""
    reset_host()
    yield
    reset_host()


def test_pinning_plugins_with_the_environment_variable(tiny_config, tmp_path, capsys, monkeypatch, fresh_plugins):
    monkeypatch.setenv("RUMPY_LOAD_PLUGINS", "")
    code, out, err = invoke(capsys, "list-models", "--json")
    assert code == 0 and json.loads(out) == [], err
    reset_host()
    monkeypatch.setenv("RUMPY_LOAD_PLUGINS", "rumpy_edsr")
    code, out, err = invoke(capsys, "list-models", "--json")
    assert [m["name"] for m in json.loads(out)] == ["EDSR", "QEDSR"], err  # what rumpy-edsr provides
    reset_host()
    monkeypatch.setenv("RUMPY_LOAD_PLUGINS", "rumpy-rcan")
    code, _, err = invoke(capsys, "train", "--parameters", write_config(tiny_config(), tmp_path / "cfg.toml"))
    assert code == 2
    assert err.strip().splitlines() == ["rumpy: error: model.name: unknown model 'EDSR'; known: QRCAN, RCAN"]
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory) -> Path:
    """The example plugin pip-installed into a folder of its own (put on PYTHONPATH to 'install' it)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(REPO / "examples" / "plugins" / "rumpy_espcn")],
                   check=True, capture_output=True)
    return site


def test_installed_example_plugin_adds_its_model_and_trains(example_plugin_site, tiny_config, tmp_path, capsys):
    env = {"PYTHONPATH": str(example_plugin_site)}
    models = {m["name"]: m for m in json.loads(run_rumpy("list-models", "--json", env=env).stdout)}
    assert models["ESPCN"]["distribution"] == "rumpy-espcn"

    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "espcn", "internal_params": {"scale": 4, "features": 16}}
    path = write_config(config, tmp_path / "cfg.toml")
    result = run_rumpy("train", "--parameters", path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt").is_file()

    # without the distribution on the path ("uninstalled", as for this process), the model is gone
    # and the config fails
    code, out, err = invoke(capsys, "list-models", "--json")
    installed = {m["name"] for m in json.loads(out)}
    assert code == 0 and "ESPCN" not in installed and {"EDSR", "RCAN", "SFTMD"} <= installed, err
    config["experiment"] = "after_uninstall"
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg2.toml"))
    assert code == 2
    # the known names are whatever the environment's distributions register (make setup installs several)
    [line] = err.strip().splitlines()
    assert line.startswith("rumpy: error: model.name: unknown model 'espcn'; ")  # maybe with a "did you mean"
    assert line.endswith(f"known: {', '.join(sorted(installed))}")


def test_a_broken_plugin_is_reported_and_skipped(tmp_path):
    site = tmp_path / "site"
    (site / "broken_plugin").mkdir(parents=True)
    (site / "broken_plugin" / "__init__.py").write_text("raise ImportError('missing dependency xyz')\n")
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rumpy]\nbroken = broken_plugin\n")
    result = run_rumpy("list-models", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0
    assert "EDSR" in {m["name"] for m in json.loads(result.stdout)}
    assert "plugin broken-plugin failed to load and was skipped (ImportError: missing dependency xyz)" in result.stderr
