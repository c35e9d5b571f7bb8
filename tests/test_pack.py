"""``rumpy pack`` and packed sets: the file's contents, batches identical to the meta_sets with
and without loader workers, and one-line errors that leave nothing half-written."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore.config import validate
from rumpycore.testing import photo_crop
from rumpycore.training.setup import build_datasets, build_loaders

from .data_helpers import meta_config
from .helpers import assert_one_line_error, invoke


def pack_folders(capsys, root, part, *extra):
    out = root / f"{part}.h5"
    code, stdout, err = invoke(capsys, "pack", "--lr", root / part / "LR", "--hr", root / part / "HR",
                               "--out", out, *extra)
    assert code == 0, err
    return out, stdout


def test_pack_stores_decoded_images_names_sizes_and_metadata(meta_sets, capsys):
    out, stdout = pack_folders(capsys, meta_sets, "eval")
    assert stdout.startswith(f"packed 2 lr, 2 hr images with metadata from {meta_sets / 'eval' / 'LR'}")
    with h5py.File(out, "r") as handle:
        assert handle.attrs["format"] == "rumpy-pack"
        assert [n.decode() for n in handle["hr"]["names"][()]] == ["gray.png", "rgb.png"]
        assert handle["lr"]["sizes"][()].tolist() == [[16, 16], [16, 16]]
        assert handle["hr"]["gray"][()].tolist() == [True, False]
        for role, folder in (("lr", "LR"), ("hr", "HR")):
            for index, name in enumerate(["gray.png", "rgb.png"]):
                stored = handle[role]["images"][str(index)][()]
                expected = np.asarray(Image.open(meta_sets / "eval" / folder / name).convert("RGB"))
                assert stored.dtype == np.uint8 and np.array_equal(stored, expected)
        text = handle["metadata_csv"][()].decode()
    assert text == (meta_sets / "eval" / "LR" / "degradation_metadata.csv").read_text()


def all_batches(config, tmp_path, workers):
    config["data"]["dataloader_threads"] = workers
    run = validate(config, tmp_path / "cfg.toml")
    data = build_datasets(run)
    data.train[(0, (0, 0, 0))]  # the main process reads first: forked workers must not reuse its file handle
    loaders = build_loaders(run, data, torch.device("cpu"))
    batches = []
    for epoch in (1, 2):
        loaders.train.sampler.set_epoch(epoch)
        batches += list(loaders.train)
    return batches + [b for loader in loaders.evals.values() for b in loader]


def test_packed_sets_give_the_same_batches_as_folders_with_any_workers(test_models, tiny_config, meta_sets,
                                                                      tmp_path, capsys):
    packed = {part: pack_folders(capsys, meta_sets, part)[0] for part in ("train", "eval")}
    config = meta_config(tiny_config, meta_sets, names=("blur_kernel", "sigma"))
    reference = all_batches(config, tmp_path, 0)
    for part, table in (("train", config["data"]["training_sets"]["train"]),
                        ("eval", config["data"]["eval_sets"]["eval"])):
        table["lr"] = table["hr"] = str(packed[part])
    shutil.rmtree(meta_sets / "train")  # the packed file is all a set needs, metadata included
    for workers in (0, 2):
        batches = all_batches(config, tmp_path, workers)
        assert len(batches) == len(reference) == 5
        for ours, theirs in zip(batches, reference):
            assert ours["name"] == theirs["name"]
            for key in ("lr", "hr", "metadata", "gray"):
                assert torch.equal(ours[key], theirs[key]), key
            assert ours["lr"].dtype == torch.uint8


def test_packed_lr_interp_and_missing_roles(tmp_path, photos, capsys):
    from .data_helpers import build, write_blocky_pair

    for i in range(2):
        write_blocky_pair(tmp_path, f"img{i}", photo_crop(photos.train[i], 12))
    out = tmp_path / "set.h5"
    code, _, err = invoke(capsys, "pack", "--lr", tmp_path / "lr", "--hr", tmp_path / "hr", "--lr-interp",
                          tmp_path / "interp", "--out", out)
    assert code == 0, err
    folder = build({"lr": str(tmp_path / "lr"), "hr": str(tmp_path / "hr"), "lr_interp": str(tmp_path / "interp"),
                    "crop": 6, "random_augment": True}, inputs=("lr_interp",))
    packed = build({"lr": str(out), "hr": str(out), "lr_interp": str(out), "crop": 6, "random_augment": True},
                   inputs=("lr_interp",))
    for seed in range(4):
        a, b = folder[(seed % 2, (0, 0, seed))], packed[(seed % 2, (0, 0, seed))]
        assert all(torch.equal(a[k], b[k]) for k in ("lr", "hr", "lr_interp"))
    hr_only = tmp_path / "hr_only.h5"
    code, stdout, err = invoke(capsys, "pack", "--hr", tmp_path / "hr", "--out", hr_only)
    assert code == 0 and stdout.startswith("packed 2 hr images into"), err
    from rumpycore import DataError

    with pytest.raises(DataError, match=r"data.training_sets.s.lr: .*hr_only.h5 holds no lr images \(it holds: hr\); "
                                        r"pack them with rumpy pack --lr"):
        build({"lr": str(hr_only), "hr": str(hr_only)})
    with pytest.raises(DataError, match=r"'on_site' but .*set.h5 holds no metadata; pack it with --metadata"):
        build({"lr": str(out), "hr": str(out), "degradation_metadata": "on_site"}, metadata=("sigma",))


def no_leftovers(folder, allowed=()):
    return sorted(p.name for p in folder.iterdir() if p.name not in allowed) == []


def test_pack_mistakes_are_one_line_errors_that_write_nothing(meta_sets, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    lr, hr = meta_sets / "train" / "LR", meta_sets / "train" / "HR"
    cases = [
        (["--lr", tmp_path / "nope", "--out", out / "a.h5"], f"--lr: folder {tmp_path / 'nope'} does not exist"),
        (["--out", out / "a.h5"], "give at least one of --lr, --hr, --lr-interp"),
        (["--lr", lr, "--out", out / "missing" / "a.h5"], f"folder {out / 'missing'} does not exist"),
        (["--lr", lr, "--metadata", tmp_path / "none.csv", "--out", out / "a.h5"], "none.csv does not exist"),
        (["--hr", meta_sets / "eval" / "LR", "--out", out / "a.h5"], "no images (.png"),
    ]
    (meta_sets / "eval" / "LR" / "gray.png").unlink()
    (meta_sets / "eval" / "LR" / "rgb.png").unlink()
    for args, expected in cases:
        code, _, err = invoke(capsys, "pack", *args)
        assert_one_line_error(code, err, expected)
    assert no_leftovers(out)

    (tmp_path / "empty.csv").write_text("")
    code, _, err = invoke(capsys, "pack", "--lr", lr, "--metadata", tmp_path / "empty.csv", "--out", out / "a.h5")
    assert_one_line_error(code, err, "empty.csv: empty metadata file")

    existing = out / "existing.h5"
    existing.write_bytes(b"keep me")
    code, _, err = invoke(capsys, "pack", "--lr", lr, "--hr", hr, "--out", existing)
    assert_one_line_error(code, err, f"{existing}: already exists; pass --overwrite to replace it")
    assert existing.read_bytes() == b"keep me"
    code, _, err = invoke(capsys, "pack", "--lr", lr, "--hr", hr, "--out", existing, "--overwrite")
    assert code == 0, err
    assert h5py.is_hdf5(existing)

    # a PNG whose header and end are intact but whose pixel data is damaged fails while writing
    broken = hr / "photo_4.png"
    data = bytearray(broken.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    broken.write_bytes(bytes(data))
    code, _, err = invoke(capsys, "pack", "--lr", lr, "--hr", hr, "--out", out / "b.h5")
    assert_one_line_error(code, err, f"{broken}: not a readable image")
    assert no_leftovers(out, allowed=("existing.h5",))

    truncated = lr / "photo_2.png"
    truncated.write_bytes(truncated.read_bytes()[:-30])
    code, _, err = invoke(capsys, "pack", "--lr", lr, "--out", out / "c.h5")
    assert_one_line_error(code, err, f"{truncated}: file is truncated")
    assert no_leftovers(out, allowed=("existing.h5",))
