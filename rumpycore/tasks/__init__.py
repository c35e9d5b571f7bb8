"""What each task means (``sisr``: :mod:`.sisr`, ``regression``: :mod:`.regression`), and the
defaults a run of that task starts from."""

from __future__ import annotations

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "sisr": ("PSNR", "SSIM"),
    "regression": ("MAE", "RMSE", "R2"),
}
"""Metrics reported when ``[training] metrics`` is not given. The first one, when the run
reports it, picks the best epoch unless ``best_metric`` says otherwise (else ``val-loss``)."""
