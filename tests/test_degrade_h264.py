"""The original rumpy's H.264 compressions (jmcompress, ffmpegcompress, randomcompress) with libx264
through PyAV: quality against QP, odd sizes, what they record, reproducibility, the branch
probability of randomcompress, an original config, the online pipeline and a missing PyAV."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
import toml
import torch

from rumpycore.degrade.h264 import h264_decode, h264_intra_encode, h264_intra_round_trip
from rumpycore.degrade.pipeline import Pipeline, image_rng
from rumpycore.errors import ConfigError, UserError
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import photo_crop, save_png, write_config

from .data_helpers import MetaNet
from .helpers import assert_one_line_error, invoke
from .test_degrade_cli import pixels, read_metadata

# The original's rumpy/image_tools/common_args/random_jm_jpeg_compress.toml (um-dsrg/RUMpy, GPL-3.0), as it
# is: it names no paths (the test gives them as flags).
ORIGINAL_RANDOM_COMPRESS = """\
pipeline = [['downsample', 'd-config'], ['randomcompress', 'c-config']]

[deg_configs]
[deg_configs.d-config]
scale = 4
[deg_configs.c-config]
[deg_configs.c-config.jpeg_params]
compression_range = [30, 95]
random_compression = true
[deg_configs.c-config.jm_params]
random_compression = true
"""


def only(name: str, **params) -> Pipeline:
    return Pipeline.from_config({"pipeline": [name], "deg_configs": {name: params}}, "")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def patch(photos) -> np.ndarray:
    return photo_crop(photos.colour, 48, 200, 200)


@pytest.mark.parametrize("name", ["jmcompress", "ffmpegcompress"])
def test_a_higher_qp_loses_more(patch, name):
    measured = []
    for qpi in (12, 22, 32, 42, 51):
        out, recorded = only(name, qpi=qpi)(patch, image_rng(0, 0, 0))
        assert recorded == {"qpi": qpi} and out.shape == patch.shape and out.dtype == np.uint8
        measured.append(psnr(out, patch))
    assert all(a > b for a, b in zip(measured, measured[1:])), measured
    assert measured[0] > 30 and measured[0] - measured[-1] > 8, measured  # 4:2:0 chroma caps the quality at low QPs


def test_jm_codes_at_qpi_and_ffmpeg_about_3_below_unless_shifted(patch):
    """libx264 codes an I frame ~3 below the QP it is given; jmcompress cancels that, as JM codes at
    qpi; ffmpegcompress keeps it, as the original did, and shift_encoder_qp adds 3 back."""
    jm = psnr(only("jmcompress", qpi=30)(patch, image_rng(0, 0, 0))[0], patch)
    ffmpeg = psnr(only("ffmpegcompress", qpi=30)(patch, image_rng(0, 0, 0))[0], patch)
    shifted = psnr(only("ffmpegcompress", qpi=30, shift_encoder_qp=True)(patch, image_rng(0, 0, 0))[0], patch)
    assert ffmpeg > jm + 0.5 and abs(shifted - jm) < 0.5


def test_the_stream_is_one_baseline_intra_frame_with_the_settings_asked_for(patch):
    jm, ffmpeg = (h264_intra_encode(patch, 30, jm_quantiser=jm) for jm in (True, False))
    for stream in (jm, ffmpeg):
        sps = stream.index(b"\x00\x00\x01\x67")  # the sequence parameter set's NAL unit
        assert stream[sps + 4] == 66  # profile_idc: baseline
        assert stream.count(b"\x00\x00\x01\x65") == 1  # one IDR (intra) slice
        assert b" qp=30 " in stream and b" cabac=0 " in stream  # x264's record of its settings
        assert h264_decode(stream).shape == patch.shape
    assert b" ip_ratio=1.00 " in jm and b" chroma_qp_offset=0 " in jm and b" psy=0 " in jm  # JM's quantiser
    assert b" ip_ratio=1.40 " in ffmpeg and b" chroma_qp_offset=-2 " in ffmpeg  # libx264's defaults


@pytest.mark.parametrize("size", [(17, 30), (30, 17), (9, 9), (1, 2)])
def test_odd_sizes_come_back_whole(patch, size):
    image = patch[: size[0], : size[1]]
    out = h264_intra_round_trip(image, 16, jm_quantiser=True)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert psnr(out, image) > 30


def test_seeded_draws_repeat_and_ranges_include_their_ends(patch):
    pipelines = [only("jmcompress", random_compression=True),
                 only("ffmpegcompress", compression_range=[10, 12], random_compression=True, shift_encoder_qp=True),
                 Pipeline.from_config({"pipeline": "randomcompress"}, "")]
    for pipeline in pipelines:
        first = [pipeline(patch, image_rng(4, index, 0)) for index in range(12)]
        again = [pipeline(patch, image_rng(4, index, 0)) for index in range(12)]
        for (image, recorded), (image_again, recorded_again) in zip(first, again):
            assert np.array_equal(image, image_again) and recorded == recorded_again
        assert len({tuple(recorded.values()) for _, recorded in first}) > 1  # the draws differ per image
    drawn = {only("ffmpegcompress", qpi=[10, 12])(patch[:4, :4], image_rng(1, i, 0))[1]["qpi"] for i in range(40)}
    assert drawn == {10, 11, 12}


def test_randomcompress_takes_each_branch_half_the_time():
    pipeline = Pipeline.from_config({"pipeline": "randomcompress", "deg_configs": {"randomcompress": {
        "jm_params": {"random_compression": True}, "jpeg_params": {"compression_range": [30, 95],
                                                                   "random_compression": True}}}}, "")
    assert pipeline.metadata_dims() == {"jm_qpi": 1, "jpeg_quality": 1}
    tiny = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    draws = 1000
    rows = [pipeline(tiny, image_rng(9, index, 0))[1] for index in range(draws)]
    h264 = [row for row in rows if row["jm_qpi"] > 0]
    jpeg = [row for row in rows if row["jpeg_quality"] > 0]
    assert len(h264) + len(jpeg) == draws  # exactly one branch per image, the other recorded as 0
    # binomial(1000, 0.5): standard deviation 15.8 images; 4 standard deviations either side
    assert abs(len(h264) - draws / 2) < 4 * np.sqrt(draws / 4)
    assert {row["jm_qpi"] for row in h264} == set(range(20, 41)) and all(row["jpeg_quality"] == 0 for row in h264)
    qualities = {row["jpeg_quality"] for row in jpeg}
    assert qualities <= set(range(30, 96)) and len(qualities) > 50 and all(row["jm_qpi"] == 0 for row in jpeg)


def test_the_original_random_compress_config_runs(capsys, hr_folder, tmp_path):
    config = tmp_path / "random_jm_jpeg_compress.toml"
    config.write_text(ORIGINAL_RANDOM_COMPRESS)
    out = tmp_path / "LR"
    args = ["degrade", "--source-dir", hr_folder, "--pipeline-config", config, "--multiples", "3"]
    code, _, err = invoke(capsys, *args, "--output-dir", out)
    assert code == 0, err
    with open(out / "degradation_metadata.csv") as handle:
        assert handle.readline().strip() == "image,scale,jm_qpi,jpeg_quality"
    rows = read_metadata(out)
    assert len(rows) == 12 and {row["image"] for row in rows} >= {"a_q0.png", "b_q2.png"}
    for row in rows:
        assert (row["jm_qpi"] == 0) != (row["jpeg_quality"] == 0)
        assert row["jm_qpi"] == 0 or 20 <= row["jm_qpi"] <= 40
        assert row["jpeg_quality"] == 0 or 30 <= row["jpeg_quality"] <= 95
        hr = pixels(hr_folder / (row["image"].split("_q")[0] + ".png"))
        # as the original: downsample crops to even LR sides when JM coding follows
        assert pixels(out / row["image"]).shape == (hr.shape[0] // 8 * 2, hr.shape[1] // 8 * 2, 3)
    assert {row["jm_qpi"] > 0 for row in rows} == {True, False}
    with open(out / "degradation_hyperparameters.csv", newline="") as handle:
        hyper = [tuple(row) for row in csv.reader(handle)]
    assert hyper == [("index_num", "degradation", "hyperparam", "value"), ("0", "downsample", "scale", "4"),
                     ("1", "randomcompress", "jm_params.qpi", "[20, 40]"),
                     ("1", "randomcompress", "jpeg_params.quality", "[30, 95]")]
    written = toml.load(out / "degradation_config.toml")
    assert written["deg_configs"]["c-config"] == {"jm_params": {"qpi": [20, 40]}, "jpeg_params": {"quality": [30, 95]}}

    # the written config, run again (in two processes), gives the same files
    again = tmp_path / "again"
    code, _, err = invoke(capsys, "degrade", "--source-dir", hr_folder, "--output-dir", again, "--pipeline-config",
                          out / "degradation_config.toml", "--workers", "2")
    assert code == 0, err
    assert read_metadata(again) == rows
    for row in rows:
        assert np.array_equal(pixels(again / row["image"]), pixels(out / row["image"]))


def test_an_odd_lr_size_is_kept_without_jm_coding(capsys, hr_folder, tmp_path):
    out = tmp_path / "LR"
    code, _, err = invoke(capsys, "degrade", "--source-dir", hr_folder, "--output-dir", out, "--pipeline",
                          "compress-downsample-ffmpegcompress")
    assert code == 0, err
    with open(out / "degradation_metadata.csv") as handle:
        assert handle.readline().strip() == "image,jpeg_quality,scale,qpi_2"  # the compressions count as one kind
    for row in read_metadata(out):
        hr = pixels(hr_folder / row["image"])
        assert pixels(out / row["image"]).shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3) and row["qpi_2"] == 28


def test_original_settings_that_do_not_apply_are_explained():
    with pytest.raises(ConfigError, match=r"deg_configs.randomcompress.jm_params.temp_save_dir: a setting of the "
                                          r"original rumpy .* without temporary files"):
        Pipeline.from_config({"pipeline": "randomcompress", "deg_configs": {"randomcompress": {
            "jm_params": {"temp_save_dir": "Scratch"}}}}, "")
    with pytest.raises(ConfigError, match=r"deg_configs.jmcompress.qpi: 52 is above the maximum 51"):
        only("jmcompress", qpi=52)
    with pytest.raises(ConfigError, match=r"deg_configs.jmcompress.qpi: expected a number or \[low, high\]"):
        only("jmcompress", compression_range=[40, 20], random_compression=True)


def test_without_pyav_naming_one_is_a_one_line_error(monkeypatch, capsys, hr_folder, tmp_path):
    monkeypatch.setitem(sys.modules, "av", None)  # import av now fails, as where PyAV is not installed
    out = tmp_path / "LR"
    code, _, err = invoke(capsys, "degrade", "--source-dir", hr_folder, "--output-dir", out, "--pipeline",
                          "downsample-jmcompress")
    assert_one_line_error(code, err, "deg_configs.jmcompress: H.264 coding needs PyAV",
                          "pip install 'rumpycore[video]'")
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(UserError, match=r"deg_configs.c.jm_params: H.264 coding needs PyAV"):
        Pipeline.from_config({"pipeline": [["randomcompress", "c"]], "deg_configs": {"c": {}}}, "")
    assert only("compress")(np.zeros((4, 4, 3), np.uint8), image_rng(0, 0, 0))[1]  # the other operations work


def test_online_training_with_randomcompress(test_models, tiny_config, sr_data, tmp_path, capsys):
    from rumpycore.config import validate
    from rumpycore.training.setup import build_datasets

    layout = {"pipeline": [["downsample", "d-config"], ["randomcompress", "c-config"]], "d-config": {"scale": 4},
              "c-config": toml.loads(ORIGINAL_RANDOM_COMPRESS)["deg_configs"]["c-config"]}
    config = tiny_config(training={"num_epochs": 1})
    config["model"] = {"name": "MetaNet", "internal_params": {"scale": 4, "metadata": ["jm_qpi", "jpeg_quality"]}}
    config["data"]["online_pipeline"] = layout
    config["data"]["training_sets"]["train"] = {"hr": str(sr_data.train_hr), "online_degradations": True,
                                                "crop": 13, "random_augment": True}
    config["data"]["eval_sets"]["eval"] = {"hr": str(sr_data.eval_hr), "online_degradations": True}
    data = build_datasets(validate(config, tmp_path / "cfg.toml"))
    online = data.train.datasets[0].dataset
    for index in range(4):
        item = online[(index, (7, 1, index))]
        assert item["lr"].shape == (3, 13, 13) and item["hr"].shape == (3, 52, 52)  # odd sides kept online
        assert torch.equal(item["lr"], online[(index, (7, 1, index))]["lr"])
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    assert [r["epoch"] for r in read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")] == [1]
    assert MetaNet.seen[-1].shape[1] == 2


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory, photos):
    """Three small real HR images whose x4 LR sides are odd and even."""
    folder = tmp_path_factory.mktemp("hr")
    for name, path, (height, width) in (("a", photos.train[0], (50, 44)), ("b", photos.train[1], (45, 41)),
                                        ("c", photos.train[2], (37, 36)), ("d", photos.train[3], (28, 60))):
        save_png(photo_crop(path, 64)[:height, :width], folder / f"{name}.png")
    return folder
