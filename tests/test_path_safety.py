"""No input can make rumpy create or delete anything outside the experiment it names.

Each case of the corpus runs the real CLI (in-process) on a sandbox holding the config, a
trained sibling experiment, a victim folder outside the save location and the data, and
asserts the one-line error contract and that the sandbox is byte-for-byte unchanged. The
property tests at the end generate names and paths and check the store itself: planning and
claiming an experiment folder never touches anything outside it.
"""

from __future__ import annotations

import os
import shutil
import string
from pathlib import Path
from types import SimpleNamespace

import pytest
import toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rumpycore import store as experiment
from rumpycore.errors import UserError
from rumpycore.safety import MAX_NAME_BYTES, RESERVED_NAMES, folder_name, remove
from rumpycore.testing import run_rumpy, write_config

from .helpers import assert_one_line_error, file_tree, invoke


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sr_data):
    """A real two-epoch experiment ``tiny`` (folder and its config), trained once for the module."""
    from rumpycore.testing import sr_config

    root = tmp_path_factory.mktemp("trained")
    config = sr_config(sr_data, root / "runs", training={"num_epochs": 2})
    result = run_rumpy("train", "--parameters", write_config(config, root / "cfg.toml"))
    assert result.returncode == 0, result.stderr
    return root / "runs" / "tiny", config


@pytest.fixture
def sandbox(tmp_path, trained):
    """tmp_path/runs/tiny (trained), runs/other (a sibling), victim/ (outside), afile (a file)."""
    folder, config = trained
    shutil.copytree(folder, tmp_path / "runs" / "tiny", symlinks=True)
    shutil.copytree(folder, tmp_path / "runs" / "other", symlinks=True)
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "precious.txt").write_text("a user's file")
    (tmp_path / "afile").write_text("not a folder")
    config = toml.loads(toml.dumps(config))
    config["experiment_save_loc"] = str(tmp_path / "runs")
    return SimpleNamespace(root=tmp_path, config=config)


def _set(config: dict, dotted: str, value) -> None:
    *path, key = dotted.split(".")
    for part in path:
        config = config.setdefault(part, {})
    config[key] = value


def _write(config: dict, path: Path, raw: dict[str, str] | None = None) -> Path:
    """Write ``config``; ``raw`` top-level keys are written as TOML text as given (the toml
    package cannot write every string a user can, such as NUL escapes)."""
    text = toml.dumps(config)
    for key, value in (raw or {}).items():
        text = f"{key} = {value}\n" + "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))
    path.write_text(text)
    return path


# name: (settings applied to the config, raw TOML top-level keys, extra CLI args, expected text)
CASES = {
    "dot experiment replacing the save location": (
        {"experiment": " . ", "training.overwrite_data": True}, {}, [], "experiment: ' . ' must be a plain folder name"),
    "dot-dot experiment replacing its parent": (
        {"experiment": " .. ", "training.overwrite_data": True}, {}, [], "experiment: ' .. ' must be a plain folder"),
    "experiment path through the parent": (
        {"experiment": "../victim", "training.overwrite_data": True}, {}, [], "must be a plain folder name"),
    "absolute experiment": ({"experiment": "/tmp", "training.overwrite_data": True}, {}, [], "must be a plain folder"),
    "backslash experiment": ({"experiment": "..\\victim"}, {}, [], "must be a plain folder name"),
    "hidden experiment": ({"experiment": ".aim", "training.overwrite_data": True}, {}, [], "starts with '.'"),
    "blank experiment": ({"experiment": "   "}, {}, [], "is empty; give a folder name"),
    "experiment with NUL": ({}, {"experiment": '"ti\\u0000ny"'}, [], "control character"),
    "experiment with a tab": ({"experiment": "ti\tny"}, {}, [], "control character"),
    "experiment of 300 characters": ({"experiment": "x" * 300}, {}, [], f"use at most {MAX_NAME_BYTES}"),
    "experiment name from the flag": ({}, {}, ["--experiment_name", "..", "--overwrite_data"], "plain folder name"),
    "experiment that is a link out": (
        {"experiment": "linked", "training.overwrite_data": True}, {}, [], "is not inside"),
    "new branch up two levels": (
        {"training.continue_from_epoch": 1, "training.new_branch_name": "../../victim",
         "training.overwrite_data": True}, {}, [], "training.new_branch_name: '../../victim' must be a plain folder"),
    "new branch at an absolute path": (
        {"training.continue_from_epoch": 1, "training.new_branch_name": "/tmp/victim",
         "training.overwrite_data": True}, {}, [], "training.new_branch_name: '/tmp/victim' must be a plain"),
    "new branch over the checkpoints": (
        {"training.continue_from_epoch": 1, "training.new_branch_name": "saved_models",
         "training.overwrite_data": True}, {}, [], "a folder rumpy keeps inside every experiment"),
    "new branch over the results, other case": (
        {"training.continue_from_epoch": 1, "training.new_branch_name": "Result_Outputs",
         "training.overwrite_data": True}, {}, [], "a folder rumpy keeps inside every experiment"),
    "new branch hidden": (
        {"training.continue_from_epoch": 1, "training.new_branch_name": ".git", "training.overwrite_data": True},
        {}, [], "starts with '.'"),
    "branch root up": (
        {"training.continue_from_epoch": 1, "training.branch_root": "../other"}, {}, [], "training.branch_root"),
    "branch root absolute": (
        {"training.continue_from_epoch": 1, "training.branch_root": "/tmp"}, {}, [], "training.branch_root"),
    "branch root that is a link out": (
        {"training.continue_from_epoch": 1, "training.branch_root": "escape"}, {}, [], "training.branch_root"),
    "save location is a file": ({"experiment_save_loc": "afile"}, {}, [], "is a file, not a folder"),
    "save location under a file": ({"experiment_save_loc": "afile/runs"}, {}, [], "is a file, not a folder"),
    "save location of an unknown user": (
        {"experiment_save_loc": "~no_such_user_rumpy/runs"}, {}, [], "experiment_save_loc: ~no_such_user_rumpy"),
    "save location with NUL": ({}, {"experiment_save_loc": '"runs\\u0000x"'}, [], "NUL character"),
    "aim home of an unknown user": ({"training.aim_track": True, "training.aim_home": "~no_such_user_rumpy"}, {}, [],
                                    "training.aim_home: ~no_such_user_rumpy starts with an unknown user"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_names_and_paths_never_touch_other_folders(case, sandbox, capsys):
    changes, raw, args, expected = CASES[case]
    root = sandbox.root
    (root / "runs" / "linked").symlink_to(root / "victim")
    (root / "runs" / "tiny" / "escape").symlink_to(root / "victim")
    config = sandbox.config
    for dotted, value in changes.items():
        _set(config, dotted, value.replace("afile", str(root / "afile")) if dotted == "experiment_save_loc" else value)
    path = _write(config, root / "cfg.toml", raw)
    before = file_tree(root)
    code, _, err = invoke(capsys, "train", "--parameters", path, *args)
    assert_one_line_error(code, err, expected)
    assert file_tree(root) == before


def test_a_run_that_fails_to_write_its_config_leaves_nothing_and_can_be_retried(sandbox, capsys, monkeypatch):
    from rumpycore import atomic

    config = sandbox.config
    config["experiment"] = "fresh"
    path = write_config(config, sandbox.root / "cfg.toml")
    before = file_tree(sandbox.root)
    real_write = atomic.atomic_write_text

    def full_disk(target, text):
        if Path(target).name == "config.toml":
            raise UserError(f"{target}: could not be written (No space left on device); free disk space")
        real_write(target, text)

    monkeypatch.setattr("rumpycore.store.planning.atomic_write_text", full_disk)
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert_one_line_error(code, err, "config.toml: could not be written (No space left on device)")
    assert file_tree(sandbox.root) == before
    monkeypatch.undo()
    code, _, err = invoke(capsys, "train", "--parameters", path)
    assert code == 0, err
    assert (sandbox.root / "runs" / "fresh" / "saved_models" / "train_model_2.pt").is_file()


def test_the_existence_check_is_repeated_under_the_lock(sandbox):
    """Run B plans while the experiment does not exist; run A then creates it (and trains it to the
    end); B's claim, under the lock, must refuse instead of replacing A's results."""
    training = SimpleNamespace(continue_from_epoch=None, branch_root=None, new_branch=False, new_branch_name=None,
                               overwrite_data=False)
    plan_b = experiment.plan(sandbox.root / "runs", "raced", training)
    shutil.copytree(sandbox.root / "runs" / "tiny", sandbox.root / "runs" / "raced")  # run A's finished results
    before = file_tree(sandbox.root)
    with pytest.raises(UserError, match="raced already exists"):
        plan_b.claim()
    assert file_tree(sandbox.root) == before


def test_an_experiment_in_use_is_not_replaced(sandbox):
    from rumpycore.lock import ExperimentLock

    training = SimpleNamespace(continue_from_epoch=None, branch_root=None, new_branch=False, new_branch_name=None,
                               overwrite_data=True)
    branch = sandbox.root / "runs" / "tiny" / "branch_epoch_1"
    branch.mkdir()
    before = file_tree(sandbox.root)
    with ExperimentLock(branch):  # a branch of the experiment is training
        with pytest.raises(UserError, match="is in use by another rumpy run"):
            experiment.plan(sandbox.root / "runs", "tiny", training).claim()
    assert file_tree(sandbox.root) == {k: v for k, v in before.items()}


def test_remove_refuses_anything_outside_and_never_follows_links(tmp_path):
    inner = tmp_path / "experiment"
    (inner / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("x")
    (inner / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UserError, match="refusing to delete"):
        remove(inner / ".." / "outside", within=inner)
    with pytest.raises(UserError, match="refusing to delete"):
        remove(inner, within=inner)  # strictly inside: never the folder itself
    remove(inner / "link", within=inner)  # the link goes, its target stays
    assert (tmp_path / "outside" / "keep.txt").is_file() and not (inner / "link").exists()
    remove(inner / "sub", within=inner)
    assert not (inner / "sub").exists()


# ---------------------------------------------------------------------------- properties

_PIECES = st.sampled_from(["", ".", "..", "/", "\\", " ", "\t", "\x00", "~", "a", "b", "victim", "runs", "other",
                           "saved_models", "Result_Outputs", "link", "é", "e\u0301", "\u2024", "x" * 120])
_NAMES = st.lists(_PIECES, min_size=1, max_size=4).map("".join) | st.text(
    alphabet=string.printable + "\x00\u00e9\u0301", max_size=30)


@given(name=_NAMES)
def test_folder_names_are_single_visible_components(name):
    try:
        normalised = folder_name(name, "experiment", RESERVED_NAMES)
    except UserError:
        return
    assert normalised == normalised.strip() and normalised
    assert "/" not in normalised and "\\" not in normalised and not normalised.startswith(".")
    assert not any(ord(ch) < 32 for ch in normalised)
    assert len(normalised.encode()) <= MAX_NAME_BYTES
    assert normalised.casefold() not in {"result_outputs", "saved_models"}
    assert Path(normalised).name == normalised


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAMES, branch=_NAMES, branch_root=st.none() | _NAMES, resume=st.sampled_from([None, 1, 2, "last"]),
       overwrite=st.booleans(), new_branch=st.booleans())
def test_planning_and_claiming_touch_nothing_outside_the_experiment(tmp_path_factory, name, branch, branch_root,
                                                                    resume, overwrite, new_branch):
    sandbox = tmp_path_factory.mktemp("prop")
    runs = sandbox / "runs"
    runs.mkdir()
    for experiment_name in ("tiny", "other"):
        models = runs / experiment_name / "saved_models"
        models.mkdir(parents=True)
        for epoch in (1, 2):
            (models / f"train_model_{epoch}.pt").write_bytes(b"checkpoint")
    (sandbox / "victim").mkdir()
    (sandbox / "victim" / "precious.txt").write_text("x")
    (runs / "link").symlink_to(sandbox / "victim")
    (runs / "tiny" / "link").symlink_to(sandbox / "victim")
    training = SimpleNamespace(continue_from_epoch=resume, branch_root=branch_root, new_branch=new_branch,
                               new_branch_name=branch, overwrite_data=overwrite)
    before = file_tree(sandbox)
    try:
        plan = experiment.plan(runs, name, training)
    except UserError:
        assert file_tree(sandbox) == before
        return
    folder = plan.folder
    assert Path(os.path.realpath(runs)) in Path(os.path.realpath(folder)).parents
    try:
        claim = plan.claim()
    except UserError:
        assert file_tree(sandbox) == before
        return
    after = file_tree(sandbox)
    prefix = str(folder.relative_to(sandbox))
    outside = {k: v for k, v in after.items() if not (k == prefix or k.startswith(prefix + "/"))}
    expected = {k: v for k, v in before.items() if not (k == prefix or k.startswith(prefix + "/"))}
    assert outside == expected
    claim.undo()
    claim.release()
    if plan.new_folder and not plan.overwrite:
        assert file_tree(sandbox) == before
