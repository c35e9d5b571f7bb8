"""Paired sets: standard splits, cutoff, pairing and sizes, crops and augmentation, lr_interp,
image modes, truncated files and the in-memory cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from rumpycore import ConfigError, DataError
from rumpycore.data.images import load_rgb
from rumpycore.testing import needs_benchmark, photo_crop, rumpy_in_process, save_png, write_config

from .data_helpers import blocks, build, write_blocky_pair
from .helpers import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def numbered(tmp_path_factory, photos):
    """DIV2K/CelebA-like numbered files around the split boundaries (LR 4x4, HR 16x16)."""
    root = tmp_path_factory.mktemp("numbered")
    for i, number in enumerate(["0799", "0800", "0801", "0900", "0901", "162770", "162771", "182637", "182638"]):
        write_blocky_pair(root, number, photo_crop(photos.train[0], 4, top=100 + 4 * i), lr_suffix="x4")
    return root


def names(dataset) -> list[str]:
    return [p.name for p in dataset.pairs]


@pytest.mark.parametrize("name, split, expected", [
    ("div2k", "train", ["0799x4.png", "0800x4.png"]),
    ("DIV2K", "eval", ["0801x4.png", "0900x4.png"]),
    ("celeba", "train", ["0799x4.png", "0800x4.png", "0801x4.png", "0900x4.png", "0901x4.png", "162770x4.png"]),
    ("celeba", "eval", ["162771x4.png", "182637x4.png"]),
])
def test_standard_splits_select_images_by_number(numbered, name, split, expected):
    dataset = build({"lr": str(numbered / "lr"), "hr": str(numbered / "hr"), "name": name}, split)
    assert names(dataset) == expected


@pytest.mark.parametrize("name, split", [("flickr2k", "train"), ("set5", "eval"), ("Set14", "eval"),
                                         ("b100", "eval"), ("bsd100", "eval"), ("urban100", "eval"),
                                         ("manga109", "eval")])
def test_whole_dataset_splits_use_every_image(numbered, name, split):
    assert len(build({"lr": str(numbered / "lr"), "hr": str(numbered / "hr"), "name": name}, split)) == 9


@pytest.mark.parametrize("name, split, message", [
    ("set5", "train", "data.training_sets.s.name: set5 has no training split (it is for evaluation only)"),
    ("flickr2k", "eval", "data.eval_sets.s.name: flickr2k has no evaluation split (it is for training only)"),
    ("div2kk", "train", "data.training_sets.s.name: 'div2kk' has no standard split; did you mean div2k?"),
])
def test_split_misuse_is_a_one_line_error(numbered, name, split, message):
    with pytest.raises(ConfigError) as info:
        build({"lr": str(numbered / "lr"), "hr": str(numbered / "hr"), "name": name}, split)
    assert str(info.value).startswith(message)


def test_cutoff_takes_priority_over_the_split(numbered):
    table = {"lr": str(numbered / "lr"), "hr": str(numbered / "hr"), "name": "div2k"}
    assert names(build({**table, "cutoff": 3}, "eval")) == ["0799x4.png", "0800x4.png", "0801x4.png"]
    assert names(build({**table, "cutoff": [1, 3]}, "eval")) == ["0800x4.png", "0801x4.png"]
    # any label is fine as a name when cutoff decides
    assert len(build({**table, "name": "my_photos", "cutoff": 2}, "train")) == 2


@pytest.fixture(scope="module")
def unnumbered(tmp_path_factory, photos):
    """Files named without image numbers, as in a folder of the user's own photos."""
    root = tmp_path_factory.mktemp("unnumbered")
    for i, stem in enumerate(["photo10", "photo2", "beach"]):
        write_blocky_pair(root, stem, photo_crop(photos.train[0], 4, top=100 + 4 * i))
    return root


def test_split_of_unnumbered_files_takes_them_by_position_with_a_note(unnumbered, capsys):
    table = {"lr": str(unnumbered / "lr"), "hr": str(unnumbered / "hr"), "name": "div2k"}
    assert names(build(table, "train")) == ["beach.png", "photo2.png", "photo10.png"]
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and note.startswith("rumpy: note: data.training_sets.s.name: the images are not "
                                                     "numbered, so the div2k train split takes them by position, "
                                                     "images 1-3 of 3 in natural order")
    assert names(build({**table, "name": "celeba"}, "train")) == ["beach.png", "photo2.png", "photo10.png"]
    with pytest.raises(DataError, match="by position the div2k eval split \\(images 801-900\\) is past the 3 images"):
        build(table, "eval")


def test_split_with_some_unnumbered_files_names_one_and_says_to_use_cutoff(unnumbered, tmp_path, photos):
    for side in ("lr", "hr"):
        shutil.copytree(unnumbered / side, tmp_path / side)
    write_blocky_pair(tmp_path, "0001", photo_crop(photos.train[0], 4))
    with pytest.raises(DataError, match="beach.png has no leading number.*use cutoff"):
        build({"lr": str(tmp_path / "lr"), "hr": str(tmp_path / "hr"), "name": "div2k"})


@needs_benchmark
def test_benchmark_names_pair_and_hr_is_modcropped_from_the_top_left(shared_data):
    # Set14 comic is 250x361: its MATLAB LR (comicx4.png) is 62x90, made from the top-left 248x360
    folder = shared_data / "Set14"
    dataset = build({"lr": str(folder / "LR_bicubic" / "X4"), "hr": str(folder / "HR"), "cutoff": [4, 5]}, "eval")
    item = dataset[0]
    assert item["name"] == "comicx4"
    hr = np.asarray(Image.open(folder / "HR" / "comic.png").convert("RGB"))
    lr = np.asarray(Image.open(folder / "LR_bicubic" / "X4" / "comicx4.png").convert("RGB"))
    assert torch.equal(item["hr"], torch.from_numpy(hr[:360, :248].transpose(2, 0, 1).copy()))
    assert torch.equal(item["lr"], torch.from_numpy(lr.transpose(2, 0, 1).copy()))
    assert dataset.lr_size(0) == (90, 62)


@pytest.fixture(scope="module")
def blocky(tmp_path_factory, photos):
    """Three LR/HR/interp triples where HR (and interp) repeat every LR pixel as a 4x4 block."""
    root = tmp_path_factory.mktemp("blocky")
    for i in range(3):
        write_blocky_pair(root, f"img{i}", photo_crop(photos.train[i], 20 + 4 * i))
    return root


def test_crops_and_augmentation_keep_lr_hr_and_lr_interp_aligned(blocky):
    table = {"lr": str(blocky / "lr"), "hr": str(blocky / "hr"), "lr_interp": str(blocky / "interp"),
             "crop": 8, "random_augment": True}
    dataset = build(table, inputs=("lr_interp",))
    patches = set()
    for seed in range(24):
        item = dataset[(seed % 3, (5, 1, seed))]
        assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 32, 32)
        assert torch.equal(item["hr"], blocks(item["lr"]))
        assert torch.equal(item["lr_interp"], item["hr"])
        patches.add(item["lr"].numpy().tobytes())
        again = dataset[(seed % 3, (5, 1, seed))]
        assert torch.equal(again["lr"], item["lr"])  # the key's seed alone decides crop and flips
    assert len(patches) > 12
    whole = build({**table, "crop": None, "random_augment": False}, "eval", inputs=("lr_interp",))
    for index in range(3):
        item = whole[index]
        lr = np.asarray(Image.open(blocky / "lr" / f"img{index}.png"))
        assert torch.equal(item["lr"], torch.from_numpy(lr.transpose(2, 0, 1).copy()))
        assert torch.equal(item["lr_interp"], blocks(item["lr"]))


def test_lr_interp_is_only_read_for_models_that_take_it(blocky):
    table = {"lr": str(blocky / "lr"), "hr": str(blocky / "hr"), "lr_interp": str(blocky / "interp")}
    assert "lr_interp" not in build(table)[0]
    made = build({"lr": table["lr"], "hr": table["hr"]}, inputs=("lr_interp",))[0]  # no folder: made from lr
    assert made["lr_interp"].shape == made["hr"].shape and not torch.equal(made["lr_interp"], made["hr"])


def test_lr_interp_of_the_wrong_size_names_the_file(blocky, tmp_path):
    interp = tmp_path / "interp"
    shutil.copytree(blocky / "interp", interp)
    Image.open(interp / "img1.png").resize((40, 40)).save(interp / "img1.png")
    table = {"lr": str(blocky / "lr"), "hr": str(blocky / "hr"), "lr_interp": str(interp)}
    with pytest.raises(DataError, match=r"img1.png: interpolated LR is 40x40, expected 96x96"):
        build(table, inputs=("lr_interp",))


def test_repeat_visits_each_image_several_times_per_epoch(blocky):
    dataset = build({"lr": str(blocky / "lr"), "hr": str(blocky / "hr"), "crop": 8, "repeat": 4})
    assert len(dataset) == 12
    assert dataset[(7, (1, 1, 7))]["name"] == "img1"
    assert len(build({"lr": str(blocky / "lr"), "hr": str(blocky / "hr"), "repeat": 4}, "eval")) == 3


def test_cache_keeps_decoded_images_and_gives_the_same_items(blocky, tmp_path):
    shutil.copytree(blocky, tmp_path / "copy")
    table = {"crop": 8, "random_augment": True}
    plain = build({**table, "lr": str(blocky / "lr"), "hr": str(blocky / "hr")})
    cached = build({**table, "lr": str(tmp_path / "copy" / "lr"), "hr": str(tmp_path / "copy" / "hr"), "cache": True})
    shutil.rmtree(tmp_path / "copy")  # a cached set no longer reads its files
    for seed in range(6):
        key = (seed % 3, (2, 3, seed))
        assert torch.equal(plain[key]["lr"], cached[key]["lr"]) and torch.equal(plain[key]["hr"], cached[key]["hr"])


def test_gray_rgba_palette_and_16bit_images_load_as_rgb(tmp_path, photos):
    rgb = photo_crop(photos.train[0], 16)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    cases = {
        "gray": (Image.fromarray(gray), np.stack([gray] * 3, axis=-1), True),
        "gray_alpha": (Image.fromarray(gray).convert("LA"), np.stack([gray] * 3, axis=-1), True),
        "rgba": (Image.fromarray(np.dstack([rgb, np.full(gray.shape, 7, np.uint8)])), rgb, False),
        "gray16": (Image.fromarray(gray.astype(np.uint16) * 257), np.stack([gray] * 3, axis=-1), True),
    }
    palette = Image.fromarray(rgb).quantize(16)
    cases["palette"] = (palette, np.asarray(palette.convert("RGB")), False)
    for name, (image, expected, is_gray) in cases.items():
        image.save(tmp_path / f"{name}.png")
        array, flag = load_rgb(tmp_path / f"{name}.png")
        assert array.dtype == np.uint8 and array.shape == (16, 16, 3), name
        assert np.array_equal(array, expected), name
        assert flag is is_gray, name
    assert Image.open(tmp_path / "gray16.png").mode == "I;16"


def test_gray_flag_comes_from_the_target(tmp_path, photos):
    lr = photo_crop(photos.train[0], 6)
    save_png(lr, tmp_path / "lr" / "a.png")
    (tmp_path / "hr").mkdir()
    Image.fromarray(lr.repeat(4, 0).repeat(4, 1)).convert("L").save(tmp_path / "hr" / "a.png")
    item = build({"lr": str(tmp_path / "lr"), "hr": str(tmp_path / "hr")}, "eval")[0]
    assert item["gray"] is True and item["hr"].shape == (3, 24, 24)


def truncate(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[:keep])


@pytest.mark.parametrize("kind", ["png", "jpg"])
def test_truncated_image_is_reported_before_training(kind, tiny_config, sr_data, tmp_path, capsys):
    hr = tmp_path / "hr"
    shutil.copytree(sr_data.train_hr, hr)
    victim = sorted(hr.iterdir())[2]
    if kind == "jpg":
        for path in sorted(hr.iterdir()):
            Image.open(path).save(path.with_suffix(".jpg"), quality=95)
            path.unlink()
        victim = victim.with_suffix(".jpg")
    truncate(victim, victim.stat().st_size - 200)
    config = tiny_config()
    config["data"]["training_sets"]["train"]["hr"] = str(hr)
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    marker = "PNG IEND chunk" if kind == "png" else "JPEG end-of-image marker"
    assert_one_line_error(code, err, f"{victim}: file is truncated (missing the {marker})")
    assert not (tmp_path / "runs").exists()


def test_complete_files_with_trailing_bytes_and_bmp_are_accepted(tmp_path, photos):
    from rumpycore.data.images import image_header

    crop = photo_crop(photos.train[0], 16)
    Image.fromarray(crop).save(tmp_path / "a.jpg")
    (tmp_path / "a.jpg").write_bytes((tmp_path / "a.jpg").read_bytes() + b"camera trailer")
    assert image_header(tmp_path / "a.jpg")[:2] == (16, 16)
    Image.fromarray(crop).save(tmp_path / "b.bmp")
    assert image_header(tmp_path / "b.bmp")[:2] == (16, 16)
    truncate(tmp_path / "b.bmp", 300)
    with pytest.raises(DataError, match="b.bmp: file is truncated"):
        image_header(tmp_path / "b.bmp")


def test_recursive_search_pairs_by_relative_path_also_when_packed(tmp_path, photos, capsys):
    for i, sub in enumerate(["b", "a", "a/deeper"]):
        write_blocky_pair(tmp_path / "sets" / sub, "same", photo_crop(photos.train[0], 6, top=40 * i))
        for role in ("lr", "hr"):
            (tmp_path / role / sub).mkdir(parents=True, exist_ok=True)
            shutil.move(tmp_path / "sets" / sub / role / "same.png", tmp_path / role / sub / "same.png")
    table = {"lr": str(tmp_path / "lr"), "hr": str(tmp_path / "hr"), "recursive_search": True}
    folder = build(table, "eval")
    assert names(folder) == ["a/deeper/same.png", "a/same.png", "b/same.png"]
    assert all(torch.equal(folder[i]["hr"], blocks(folder[i]["lr"])) for i in range(3))
    with pytest.raises(DataError, match="no images"):
        build({**table, "recursive_search": False})
    code, _, err = invoke(capsys, "pack", "--lr", tmp_path / "lr", "--hr", tmp_path / "hr", "--recursive",
                          "--out", tmp_path / "nested.h5")
    assert code == 0, err
    packed = build({"lr": str(tmp_path / "nested.h5"), "hr": str(tmp_path / "nested.h5")}, "eval")
    assert names(packed) == names(folder)
    assert all(torch.equal(packed[i]["lr"], folder[i]["lr"]) for i in range(3))


@pytest.fixture(scope="module")
def copies(tmp_path_factory, photos):
    """Three HR crops and two degraded copies of each (``<stem>_q0``, ``<stem>_q1``) made by
    ``rumpy degrade --multiples 2``, with their metadata."""
    root = tmp_path_factory.mktemp("copies")
    for photo, stem in enumerate(["a", "b", "c"]):
        save_png(photo_crop(photos.train[photo], 64), root / "hr" / f"{stem}.png")
    result = rumpy_in_process("degrade", "--source_dir", root / "hr", "--output_dir", root / "lr", "--pipeline",
                              "blur-downsample", "--scale", "4", "--multiples", "2")
    assert result.returncode == 0, result.stderr
    return root


def copy_set(copies, **keys) -> dict:
    return {"lr": str(copies / "lr"), "hr": str(copies / "hr"), **keys}


def test_degraded_copies_pair_with_their_original(copies):
    dataset = build(copy_set(copies, degradation_metadata="on_site"), metadata=("blur_sigma",))
    assert names(dataset) == ["a_q0.png", "a_q1.png", "b_q0.png", "b_q1.png", "c_q0.png", "c_q1.png"]
    hr_names = [dataset.hr.names[p.hr] for p in dataset.pairs]
    assert hr_names == ["a.png", "a.png", "b.png", "b.png", "c.png", "c.png"]
    sigmas = [float(dataset[i]["metadata"][0]) for i in range(len(dataset))]
    assert len(set(sigmas)) == 6  # each copy carries its own blur, not its original's


@pytest.mark.parametrize("keys, expected", [
    ({"cutoff": [1, 2]}, ["b_q0.png", "b_q1.png"]),  # a slice takes whole images, never half their copies
    ({"group_select": 1}, ["a_q1.png", "b_q1.png", "c_q1.png"]),
    ({"group_select": [0], "cutoff": 2}, ["a_q0.png", "b_q0.png"]),
])
def test_cutoff_counts_images_and_group_select_picks_copies(copies, keys, expected):
    assert names(build(copy_set(copies, **keys))) == expected


def test_image_shortlist_selects_by_name_with_or_without_extension(copies, tmp_path):
    (tmp_path / "list.txt").write_text("c.png\n\na\n")
    dataset = build(copy_set(copies, image_shortlist="list.txt"), base=tmp_path)
    assert names(dataset) == ["a_q0.png", "a_q1.png", "c_q0.png", "c_q1.png"]


@pytest.mark.parametrize("keys, message", [
    ({"group_select": [7]}, "data.training_sets.s.group_select: no image named <stem>_q<id> with id in [7]"),
    ({"image_shortlist": "typo.txt"}, "data.training_sets.s.image_shortlist: 1 listed image(s) are not in the "
                                      "folder, e.g. d"),
    ({"image_shortlist": "nowhere.txt"}, "data.training_sets.s.image_shortlist: file"),
])
def test_selection_mistakes_are_one_line_errors(copies, tmp_path, keys, message):
    (tmp_path / "typo.txt").write_text("a\nd\n")
    with pytest.raises((ConfigError, DataError)) as info:
        build(copy_set(copies, **keys), base=tmp_path)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_training_on_selected_copies_through_the_cli(copies, tiny_config, tmp_path, capsys):
    config = tiny_config(training={"num_epochs": 1})
    config["data"]["training_sets"] = {"copies": copy_set(copies, crop=8, group_select=[0, 1], cutoff=2)}
    code, _, err = invoke(capsys, "train", "--parameters", write_config(config, tmp_path / "cfg.toml"))
    assert code == 0, err
    state = torch.load(tmp_path / "runs" / "tiny" / "saved_models" / "train_model_1.pt", weights_only=True)
    assert state["step"] == 1  # 4 copies of 2 images, batch 4
