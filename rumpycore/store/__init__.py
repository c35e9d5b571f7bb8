"""The experiment store: the folder layout and its lock, which checkpoint an epoch names
(a number, ``best``, ``last``, a stopped run's state), checkpoints saved atomically and read
safely (with format upgrades), the best-epoch link, and weights from other experiments or
files. ``rumpy train``, ``rumpy eval`` and every task use it.
"""

from . import checkpoints, layout
from .layout import (
    BEST_LINK,
    MODELS,
    RESULTS,
    SUMMARY,
    best_epoch_of,
    checkpoint_name,
    experiment_root,
    find_checkpoint,
    interrupted_name,
    point_best,
    resolve_epoch,
    saved_epochs,
)
from .planning import Claim, ExperimentPlan, branch_base, plan
from .weights import WEIGHT_SUFFIXES, experiment_weights, read_weights_file, renamed

__all__ = [
    "BEST_LINK", "MODELS", "RESULTS", "SUMMARY", "Claim", "ExperimentPlan", "best_epoch_of", "branch_base",
    "checkpoint_name", "checkpoints", "experiment_root", "experiment_weights", "find_checkpoint", "interrupted_name",
    "layout", "plan", "WEIGHT_SUFFIXES", "point_best", "read_weights_file", "renamed", "resolve_epoch", "saved_epochs",
]
