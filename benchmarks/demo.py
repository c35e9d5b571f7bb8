"""The demo as ``make demo`` runs it: its wall time and how far it ends above bicubic.

Writes the demo's photographs (``examples/demo/prepare_data.py``) into a temporary folder, trains
``examples/configs/demo.toml`` on them with the real CLI (extra ``--set`` overrides allowed, to
try other settings), and prints one table row: training seconds (the epochs' own times, and the
whole command's wall time), best and last holdout PSNR/SSIM, bicubic's, and the gain.

    python benchmarks/demo.py                                  # the demo as shipped
    python benchmarks/demo.py --set model.internal_params.lr=2e-3 --repeats 2
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import toml

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "configs" / "demo.toml"


def read_rows(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None) and k != "reference"}
                for row in csv.DictReader(handle)]


def run_once(folder: Path, overrides: list[str]) -> dict[str, float]:
    data = folder / "demo_data"
    subprocess.run([sys.executable, str(REPO / "examples" / "demo" / "prepare_data.py"), str(data)], check=True,
                   capture_output=True)
    config = toml.load(CONFIG)
    for key in ("training_sets", "eval_sets"):
        for table in config["data"][key].values():
            for role in ("lr", "hr"):
                table[role] = str(data / Path(table[role]).relative_to("../../demo_data"))
    config["experiment_save_loc"] = str(folder / "results")
    config["training"]["aim_track"] = False
    path = folder / "demo.toml"
    path.write_text(toml.dumps(config))
    started = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).with_name("rumpy")), "train", "--parameters", str(path),
                             *[arg for override in overrides for arg in ("--set", override)]],
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    results = folder / "results" / config["experiment"] / "result_outputs"
    rows = read_rows(results / "summary.csv")
    reference = read_rows(results / "reference.csv")[0]
    best = max(rows, key=lambda row: row.get("val-PSNR", float("-inf")))
    return {"train": sum(row["train-time"] for row in rows), "epochs": sum(row["epoch-time"] for row in rows),
            "wall": wall, "best_epoch": best["epoch"], "best": best["val-PSNR"], "best_ssim": best["val-SSIM"],
            "last": rows[-1]["val-PSNR"], "bicubic": reference["val-PSNR"], "bicubic_ssim": reference["val-SSIM"],
            "last_line": result.stderr.strip().splitlines()[-2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"# demo: {CONFIG.relative_to(REPO)} {' '.join(args.overrides)}")
    print("| run | training s (epochs incl. eval) | wall s | best epoch | best PSNR / SSIM | last PSNR | "
          "bicubic PSNR / SSIM | gain (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for repeat in range(1, args.repeats + 1):
        folder = Path(tempfile.mkdtemp(prefix="rumpy-demo-"))
        try:
            r = run_once(folder, args.overrides)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(f"| {repeat} | {r['epochs']:.0f} | {r['wall']:.0f} | {r['best_epoch']:.0f} | {r['best']:.2f} / "
              f"{r['best_ssim']:.4f} | {r['last']:.2f} | {r['bicubic']:.2f} / {r['bicubic_ssim']:.4f} | "
              f"{r['best'] - r['bicubic']:+.2f} |")
        print(f"#   {r['last_line']}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
