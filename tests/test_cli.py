"""The listing commands and the plugin set, through the real CLI in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rumpycore import __version__
from rumpycore.testing import REPO, run_rumpy, write_config


def test_version_and_help():
    assert run_rumpy("--version").stdout.strip() == f"rumpy {__version__}"
    help_text = run_rumpy("--help").stdout
    for command in ("train", "check", "list-models", "plugins"):
        assert command in help_text


def test_list_models_json_names_the_distribution():
    result = run_rumpy("list-models", "--json")
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert models["EDSR"]["distribution"] == "rumpy-edsr"
    assert models["EDSR"]["task"] == "sisr" and models["EDSR"]["version"] == "0.1.0"


def test_plugins_lists_distributions_and_hooks():
    result = run_rumpy("plugins", "--json")
    plugins = {p["distribution"]: p for p in json.loads(result.stdout)}
    assert plugins["rumpycore"]["hooks"] == ["register_callbacks", "register_datasets", "register_loggers",
                                             "register_losses", "register_metrics", "register_schedulers",
                                             "register_tasks"]
    assert "register_models" in plugins["rumpy-edsr"]["hooks"]
    assert {"rumpy-rcan", "rumpy-sftmd", "rumpy-regression"} <= set(plugins)


def test_pinning_plugins_with_the_environment_variable(tiny_config, tmp_path):
    none = run_rumpy("list-models", "--json", env={"RUMPY_LOAD_PLUGINS": ""})
    assert json.loads(none.stdout) == []
    only = run_rumpy("list-models", "--json", env={"RUMPY_LOAD_PLUGINS": "rumpy_edsr"})
    assert {m["distribution"] for m in json.loads(only.stdout)} == {"rumpy-edsr"}
    path = write_config(tiny_config(), tmp_path / "cfg.toml")
    result = run_rumpy("train", "--parameters", path, env={"RUMPY_LOAD_PLUGINS": "rumpy-rcan"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rumpy: error: model.name: unknown model 'EDSR'; known: QRCAN, RCAN"]
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory) -> Path:
    """The example plugin pip-installed into a folder of its own (put on PYTHONPATH to 'install' it)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(REPO / "examples" / "plugins" / "rumpy_espcn")],
                   check=True, capture_output=True)
    return site


def test_installed_example_plugin_adds_its_model_and_trains(example_plugin_site, tiny_config, tmp_path):
    env = {"PYTHONPATH": str(example_plugin_site)}
    models = {m["name"]: m for m in json.loads(run_rumpy("list-models", "--json", env=env).stdout)}
    assert models["ESPCN"]["distribution"] == "rumpy-espcn"

    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "espcn", "internal_params": {"scale": 4, "features": 16}}
    path = write_config(config, tmp_path / "cfg.toml")
    result = run_rumpy("train", "--parameters", path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt").is_file()

    # without the distribution on the path ("uninstalled"), the model is gone and the config fails
    installed = sorted({m["name"] for m in json.loads(run_rumpy("list-models", "--json").stdout)}, key=str.lower)
    assert "ESPCN" not in installed
    config["experiment"] = "after_uninstall"
    result = run_rumpy("train", "--parameters", write_config(config, tmp_path / "cfg2.toml"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"rumpy: error: model.name: unknown model 'espcn'; known: {', '.join(installed)}"]


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
