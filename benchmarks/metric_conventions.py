"""Which PSNR/SSIM convention reproduces the published bicubic x4 table?

Runs the bicubic baseline of ``rumpy eval`` (MATLAB bicubic on the MATLAB LR files of
Set5, Set14 and B100) and scores it with rumpy's metrics and with the SSIM variants other
tools use, then scores the Y-channel pipeline of SRCNN-era MATLAB scripts. Prints a table.

    python benchmarks/metric_conventions.py [data folder]     # default ../shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import correlate

from rumpycore.data.images import load_rgb
from rumpycore.data.paired import pair_folders
from rumpycore.degrade.resize import imresize
from rumpycore.evaluation.baselines import Bicubic
from rumpycore.metrics.fidelity import PSNR, SSIM, comparison_planes, gaussian_taps, quantise
from rumpycore.specs import MetricContext

PUBLISHED = {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027), "B100": (25.96, 0.6675)}
SCALE = 4
WINDOW = np.outer(gaussian_taps(), gaussian_taps())


def ssim_map_mean(a: np.ndarray, b: np.ndarray, mode: str) -> float:
    """SSIM of two 8-bit planes with the window applied 'valid' or padded ('nearest' = replicate)."""
    def blur(x):
        out = correlate(x, WINDOW, mode="nearest" if mode == "replicate" else "constant")
        return out[5:-5, 5:-5] if mode == "valid" else out
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    m1, m2 = blur(a), blur(b)
    s1, s2, s12 = blur(a * a) - m1 * m1, blur(b * b) - m2 * m2, blur(a * b) - m1 * m2
    return float((((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1 * m1 + m2 * m2 + c1) * (s1 + s2 + c2))).mean())


def wang_downsampled(a: np.ndarray, b: np.ndarray) -> float:
    """Wang's later ssim.m: average-pool by round(min(size)/256) before a 'valid' SSIM."""
    factor = max(1, round(min(a.shape) / 256))
    if factor > 1:
        box = np.ones((factor, factor)) / factor**2
        a = correlate(a, box, mode="mirror")[::factor, ::factor]  # MATLAB 'symmetric' padding
        b = correlate(b, box, mode="mirror")[::factor, ::factor]
    return ssim_map_mean(a, b, "valid")


def matlab_y(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return np.floor(16 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255 + 0.5)


def main(data: Path) -> None:
    ctx = MetricContext(scale=SCALE, device="cpu")
    psnr, ssim, bicubic = PSNR(ctx), SSIM(ctx), Bicubic(SCALE)
    header = ["set", "published", "rumpy", "MATLAB ssim (replicate)", "Wang ssim.m (downsampled)",
              "Y-channel float pipeline"]
    rows = []
    for name, (pub_psnr, pub_ssim) in PUBLISHED.items():
        scores: dict[str, list[float]] = {k: [] for k in ("p", "s", "rep", "down", "yp", "ys")}
        for pair in pair_folders(data / name / "LR_bicubic" / "X4", data / name / "HR", SCALE, name):
            lr, _ = load_rgb(pair.lr)
            hr, gray = load_rgb(pair.hr)
            hr = hr[: lr.shape[0] * SCALE, : lr.shape[1] * SCALE]
            as_tensor = lambda a: torch.from_numpy(a.transpose(2, 0, 1).copy())[None].float() / 255  # noqa: E731
            batch = {"lr": as_tensor(lr), "gray": [gray]}
            sr = bicubic(batch)
            scores["p"].append(float(psnr.values(sr, as_tensor(hr), batch)[0]))
            scores["s"].append(float(ssim.values(sr, as_tensor(hr), batch)[0]))
            flags = torch.tensor([gray])
            a = comparison_planes(quantise(sr), flags, "y", False)[0, 0, SCALE:-SCALE, SCALE:-SCALE].numpy()
            b = comparison_planes(quantise(as_tensor(hr)), flags, "y", True)[0, 0, SCALE:-SCALE, SCALE:-SCALE].numpy()
            scores["rep"].append(ssim_map_mean(a, b, "replicate"))
            scores["down"].append(wang_downsampled(a, b))
            y_hr = hr[..., 0].astype(np.float64) if gray else matlab_y(hr)
            y_sr = np.floor(np.clip(imresize(imresize(y_hr / 255, 1 / SCALE), SCALE), 0, 1) * 255 + 0.5)
            y_hr, y_sr = y_hr[SCALE:-SCALE, SCALE:-SCALE], y_sr[SCALE:-SCALE, SCALE:-SCALE]
            scores["yp"].append(10 * np.log10(255**2 / np.mean((y_hr - y_sr) ** 2)))
            scores["ys"].append(ssim_map_mean(y_sr, y_hr, "valid"))
        mean = {k: float(np.mean(v)) for k, v in scores.items()}
        rows.append([name, f"{pub_psnr:.2f} / {pub_ssim:.4f}", f"{mean['p']:.4f} / {mean['s']:.4f}",
                     f"{mean['rep']:.4f}", f"{mean['down']:.4f}", f"{mean['yp']:.4f} / {mean['ys']:.4f}"])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
