"""``rumpy eval``: baselines and trained models on an image folder, with metrics and reports.

- :mod:`.options`: the eval config (flat TOML table or flags) and ``model_and_epoch`` entries;
- :mod:`.models`: baselines and trained models rebuilt from their experiment folders;
- :mod:`.baselines`: MATLAB bicubic and PIL Lanczos upscaling;
- :mod:`.tiling`: tiled inference for large images;
- :mod:`.engine`: validation first, then the run and the results folder;
- :mod:`.report`: CSV and comparison-image helpers.
"""

from .engine import EvalSummary, evaluate
from .options import EvalOptions, load_options

__all__ = ["EvalOptions", "EvalSummary", "evaluate", "load_options"]
