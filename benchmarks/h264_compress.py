"""H.264 compression (jmcompress, ffmpegcompress, randomcompress): quality against QP, the QP x264
really codes at, time per image, the branch frequency of randomcompress, and (with --ffmpeg) the
pixels against the original's ``ffmpeg`` command-line round trip.

    python benchmarks/h264_compress.py [--data ../shared/data] [--ffmpeg /path/to/ffmpeg]

Prints markdown tables. The QP column comes from libx264's own end-of-encode statistics
("frame I ... Avg QP"), read from FFmpeg's log.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from rumpycore.degrade.pipeline import Pipeline, image_rng
from rumpycore.testing import shared_data_dir

PHOTOS = ("Set14/HR/lenna.png", "Set14/HR/baboon.png", "Set14/HR/comic.png")
QPS = (12, 20, 28, 36, 44, 51)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def only(name: str, **params) -> Pipeline:
    return Pipeline.from_config({"pipeline": [name], "deg_configs": {name: params}}, "")


@contextlib.contextmanager
def libav_log() -> Iterator[list[str]]:
    """FFmpeg's log lines (written to file descriptor 2 by its default callback) while the block runs."""
    lines: list[str] = []
    av.logging.restore_default_callback()
    av.logging.set_libav_level(av.logging.INFO)
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            av.logging.set_libav_level(av.logging.ERROR)
            capture.seek(0)
            lines += capture.read().decode(errors="replace").splitlines()


def coded_qp(pipeline: Pipeline, image: np.ndarray) -> tuple[np.ndarray, float]:
    """The pipeline's output and the average QP of the intra frame, from x264's statistics."""
    with libav_log() as lines:
        out, _ = pipeline(image, image_rng(0, 0, 0))
    qps = [float(m.group(1)) for line in lines if (m := re.search(r"frame I:\d+\s+Avg QP:\s*([\d.]+)", line))]
    return out, qps[-1]


def ffmpeg_cli(ffmpeg: str, image: np.ndarray, qp: int) -> np.ndarray:
    """The original ffmpegcompress: PNG piped into ffmpeg (libx264 baseline, yuv420p, -qp), the H.264
    stream piped back to ffmpeg and decoded to raw RGB."""
    png = io.BytesIO()
    Image.fromarray(image).save(png, "PNG")
    quiet = [ffmpeg, "-loglevel", "error", "-y", "-i", "pipe:"]
    encoded = subprocess.run([*quiet, "-f", "image2pipe", "-vcodec", "libx264", "-profile:v", "baseline",
                              "-qcomp", "1.0", "-pix_fmt", "yuv420p", "-qp", str(qp), "pipe:"],
                             input=png.getvalue(), capture_output=True, check=True).stdout
    decoded = subprocess.run([*quiet, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], input=encoded,
                             capture_output=True, check=True).stdout
    return np.frombuffer(decoded, np.uint8).reshape(image.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="benchmark folder (default: RUMPY_TEST_DATA)")
    parser.add_argument("--ffmpeg", help="an ffmpeg executable with libx264, to compare with the original's pipes")
    parser.add_argument("--draws", type=int, default=4000, help="randomcompress draws for the branch frequency")
    args = parser.parse_args()
    data = args.data or shared_data_dir()
    photos = {Path(name).stem: np.asarray(Image.open(data / name).convert("RGB")) for name in PHOTOS}
    # even sides, so that the ffmpeg command line (which cannot pad) takes the same images
    photos = {name: image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2] for name, image in photos.items()}

    print("| photo | size | operation | qpi | x264 intra QP | PSNR dB | ms/image |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, image in photos.items():
        for operation in ("jmcompress", "ffmpegcompress"):
            for qpi in QPS:
                pipeline = only(operation, qpi=qpi)
                start = time.perf_counter()
                out, qp = coded_qp(pipeline, image)
                elapsed = (time.perf_counter() - start) * 1000
                print(f"| {name} | {image.shape[1]}x{image.shape[0]} | {operation} | {qpi} | {qp:.2f} | "
                      f"{psnr(out, image):.2f} | {elapsed:.1f} |")

    pipeline = Pipeline.from_config({"pipeline": "randomcompress", "deg_configs": {"randomcompress": {
        "jm_params": {"random_compression": True}, "jpeg_params": {"random_compression": True}}}}, "")
    tiny = next(iter(photos.values()))[:16, :16]
    rows = [pipeline(tiny, image_rng(1, index, 0))[1] for index in range(args.draws)]
    h264 = sum(row["jm_qpi"] > 0 for row in rows)
    share = h264 / args.draws
    print(f"\nrandomcompress: H.264 in {h264} of {args.draws} draws ({share:.3f}; binomial standard deviation "
          f"{np.sqrt(0.25 / args.draws):.3f})")

    if args.ffmpeg:
        version = subprocess.run([args.ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"\nffmpegcompress against the original's command-line pipes ({version}):\n")
        print("| photo | qpi | identical pixels | max difference |")
        print("|---|---:|---|---:|")
        for name, image in photos.items():
            for qpi in (20, 28, 40):
                ours, _ = only("ffmpegcompress", qpi=qpi)(image, image_rng(0, 0, 0))
                theirs = ffmpeg_cli(args.ffmpeg, image, qpi)
                difference = int(np.abs(ours.astype(int) - theirs).max())
                print(f"| {name} | {qpi} | {np.array_equal(ours, theirs)} | {difference} |")


if __name__ == "__main__":
    main()
