"""Degradation metadata: CSV columns and rows, list values, name matching, normalisation with
training statistics, errors before training, and a metadata model trained end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rumpycore.config import validate
from rumpycore.data.metadata import MetadataScaling
from rumpycore.loggers.summary import read_summary
from rumpycore.testing import photo_crop, write_config
from rumpycore.training.setup import build_datasets

from .data_helpers import TRAIN_SIGMA, MetaNet, build, kernel_code, meta_config, write_csv
from .helpers import assert_one_line_error, invoke



def test_items_carry_the_requested_values_in_the_requested_order(meta_sets):
    table = {"lr": str(meta_sets / "train" / "LR"), "hr": str(meta_sets / "train" / "HR"),
             "qpi_values": "on_site"}  # the original's spelling of degradation_metadata
    dataset = build(table, "eval", metadata=("blur_kernel", "sigma", "2-jpeg-jpeg_quality"))
    assert dataset.metadata_dims == {"blur_kernel": 3, "sigma": 1, "2-jpeg-jpeg_quality": 1}
    for index in range(len(dataset)):
        item = dataset[index]
        sigma = TRAIN_SIGMA[item["name"]]
        expected = torch.tensor([*kernel_code(sigma), sigma, 30 + 10 * sigma], dtype=torch.float32)
        assert item["metadata"].dtype == torch.float32
        assert torch.equal(item["metadata"], expected)
    assert dataset.metadata_values().shape == (6, 5)


def test_rows_match_benchmark_lr_names_and_csv_paths(tmp_path, photos):
    from .data_helpers import write_blocky_pair

    for i, stem in enumerate(["baby", "bird"]):
        write_blocky_pair(tmp_path, stem, photo_crop(photos.train[0], 8, top=50 * i), lr_suffix="x4")
    write_csv(tmp_path / "meta.csv", {"baby": 0.7, "bird": 2.2}, extension="")
    dataset = build({"lr": "lr", "hr": "hr", "degradation_metadata": "meta.csv"}, "eval", base=tmp_path,
                    metadata=("noise_sigma",))
    assert [dataset[i]["name"] for i in range(2)] == ["babyx4", "birdx4"]
    assert [float(dataset[i]["metadata"]) for i in range(2)] == pytest.approx([7.0, 22.0])


def test_training_statistics_normalise_every_set(test_models, tiny_config, meta_sets, tmp_path):
    config = meta_config(tiny_config, meta_sets, names=("sigma", "blur_kernel"))
    data = build_datasets(validate(config, tmp_path / "cfg.toml"))
    info = data.metadata_info
    sigmas = np.array(list(TRAIN_SIGMA.values()))
    codes = np.array([kernel_code(s) for s in sigmas])
    assert info["dims"] == {"sigma": 1, "blur_kernel": 3}
    assert info["normalization"] == "minmax"
    assert info["minimum"] == pytest.approx([0.5, 0.05, -3.0, 0.25])
    assert info["maximum"] == pytest.approx([3.0, 0.3, -0.5, 0.25])
    train_values = torch.stack([data.train[(i, (1, 1, i))]["metadata"] for i in range(6)])
    assert float(train_values[:, :3].min()) == 0.0 and float(train_values[:, :3].max()) == 1.0
    assert torch.all(train_values[:, 3] == 0)  # constant over the training data
    rgb = next(data.evals["eval"][i] for i in range(2) if data.evals["eval"][i]["name"] == "rgb")
    # eval values use the training range, so rgb's sigma of 4 lands beyond 1
    assert float(rgb["metadata"][0]) == pytest.approx((4.0 - 0.5) / 2.5)
    assert float(rgb["metadata"][2]) == pytest.approx((-4.0 + 3.0) / 2.5)
    restored = MetadataScaling.from_dict(info)
    raw = torch.tensor([[1.5, *kernel_code(1.5)]])
    assert torch.allclose(restored.normalise(raw), torch.tensor([[0.4, 0.4, 0.6, 0.0]]))
    assert np.allclose(codes.min(axis=0), info["minimum"][1:])


def test_normalisation_can_be_switched_off(test_models, tiny_config, meta_sets, tmp_path):
    config = meta_config(tiny_config, meta_sets, names=("noise_sigma",))
    config["data"]["metadata_normalization"] = "none"
    data = build_datasets(validate(config, tmp_path / "cfg.toml"))
    values = sorted(float(data.train[(i, (1, 1, i))]["metadata"]) for i in range(6))
    assert values == pytest.approx([5, 10, 15, 20, 25, 30])
    assert data.metadata_info["normalization"] == "none"


def test_metadata_model_trains_on_normalised_metadata(test_models, tiny_config, meta_sets, tmp_path, capsys):
    (tmp_path / "names.txt").write_text("blur_kernel\nsigma\nnoise_sigma\n")
    config = meta_config(tiny_config, meta_sets, metadata_list=str(tmp_path / "names.txt"))
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    rows = read_summary(tmp_path / "runs" / "tiny" / "result_outputs" / "summary.csv")
    assert [r["epoch"] for r in rows] == [1] and np.isfinite(rows[0]["val-PSNR"])
    assert [m.shape for m in MetaNet.seen] == [(4, 4), (2, 4), (2, 4)]  # two training batches, then evaluation
    training = torch.cat(MetaNet.seen[:2])
    assert float(training.min()) == 0.0 and float(training[:, :3].max()) == 1.0
    evaluation = sorted(MetaNet.seen[2][:, 3].tolist())  # sigma of gray (1.0) and rgb (4.0)
    assert evaluation == pytest.approx([(1.0 - 0.5) / 2.5, (4.0 - 0.5) / 2.5])
    stored = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert stored["metadata"]["normalization"] == "minmax"  # checkpoints record how metadata was scaled
    assert stored["metadata"]["dims"] == {"blur_kernel": 3, "sigma": 1}


CSV_MISTAKES = {
    "missing column": (("blur_sigma",), None, "has no column 'blur_sigma'"),
    "missing row": (None, dict(drop="photo_3"), "photo_3.png: no row for this image in"),
    "not a number": (None, dict(cell=("photo_2", "0-blur-sigma", "big")),
                     "column 0-blur-sigma: 'big' is not a number"),
    "nan": (None, dict(cell=("photo_2", "0-blur-sigma", "nan")), "value nan is not a finite number"),
    "empty cell": (None, dict(cell=("photo_2", "0-blur-sigma", "")), "'' is not a number"),
    "ragged list": (None, dict(cell=("photo_4", "0-blur-blur_kernel", "[1, 2]")),
                    "column 0-blur-blur_kernel has 2 values, other rows 3"),
}


@pytest.mark.parametrize("case", sorted(CSV_MISTAKES))
def test_metadata_mistakes_are_one_line_errors_before_training(case, test_models, tiny_config, meta_sets,
                                                               tmp_path, capsys):
    names, csv_changes, expected = CSV_MISTAKES[case]
    if csv_changes is not None:
        write_csv(meta_sets / "train" / "LR" / "degradation_metadata.csv", TRAIN_SIGMA, **csv_changes)
    config = meta_config(tiny_config, meta_sets, names=names or ("blur_kernel", "sigma"))
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert_one_line_error(code, err, expected)
    assert str(meta_sets / "train" / "LR" / "degradation_metadata.csv") in err
    assert not (tmp_path / "runs").exists()


def test_a_name_matching_several_step_columns_must_be_spelled_out():
    from rumpycore import DataError
    from rumpycore.data.metadata import parse_metadata_csv

    table = parse_metadata_csv("image,0-blur-sigma,1-noise-sigma\na.png,1,2\n", "m.csv")
    with pytest.raises(DataError, match="metadata 'sigma' matches several columns of m.csv "
                                        r"\(0-blur-sigma, 1-noise-sigma\); ask for the full column name"):
        table.find_column("sigma", "here")
    assert table.find_column("1-NOISE-sigma", "here") == 1


def test_set_and_model_metadata_disagreements(test_models, tiny_config, meta_sets, tmp_path, capsys):
    config = meta_config(tiny_config, meta_sets, metadata=["sigma"])
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "a.toml"))
    assert_one_line_error(code, err, "data.training_sets.train.metadata: the model uses 'blur_kernel', which this "
                                     "set does not offer (sigma)")
    config = meta_config(tiny_config, meta_sets)
    del config["data"]["eval_sets"]["eval"]["degradation_metadata"]
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "b.toml"))
    assert_one_line_error(code, err, "data.eval_sets.eval.degradation_metadata: the model uses metadata "
                                     "(blur_kernel, sigma); set it to the metadata CSV or 'on_site'")
    (meta_sets / "eval" / "LR" / "degradation_metadata.csv").unlink()
    config = meta_config(tiny_config, meta_sets)
    code, _, err = invoke(capsys, "check", "--parameters", write_config(config, tmp_path / "c.toml"))
    assert_one_line_error(code, err, f"'on_site' but {meta_sets / 'eval' / 'LR'} holds no degradation_metadata.csv")
