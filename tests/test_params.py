from dataclasses import dataclass
from typing import Literal

import pytest

from rumpycore import ConfigError, option
from rumpycore.params import closest, describe, parse, typo_distance


@dataclass(kw_only=True)
class Example:
    count: int = option(3, min=1, max=10, help="how many")
    rate: float = option(0.5)
    flag: bool = option(False)
    mode: Literal["fast", "slow"] = option("fast")
    names: list[str] = option(["a"])
    window: int | list[int] | None = option(None)
    old: str = option("x", aliases=("legacy_old",))
    needed: str = option(help="a required key")


def test_parse_fills_defaults_and_coerces():
    value = parse(Example, {"needed": "n", "rate": 2, "mode": "SLOW", "names": "b"}, "sec")
    assert value.count == 3 and value.rate == 2.0 and isinstance(value.rate, float)
    assert value.mode == "slow" and value.names == ["b"]
    assert Example(needed="x").names is not Example(needed="y").names


def test_aliases_and_case_insensitive_keys():
    value = parse(Example, {"NEEDED": "n", "legacy_old": "y"}, "sec")
    assert value.old == "y"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"needed": "n", "cuont": 2}, "sec.cuont: unknown key; did you mean count?"),
        ({"needed": "n", "count": 0}, "sec.count: 0 is below the minimum 1"),
        ({"needed": "n", "count": 11}, "sec.count: 11 is above the maximum 10"),
        ({"needed": "n", "count": True}, "sec.count: expected an integer"),
        ({"needed": "n", "count": 2.5}, "sec.count: expected an integer"),
        ({"needed": "n", "rate": "high"}, "sec.rate: expected a number"),
        ({"needed": "n", "flag": 1}, "sec.flag: expected true or false"),
        ({"needed": "n", "mode": "medium"}, "sec.mode: 'medium' is not one of 'fast', 'slow'"),
        ({"needed": "n", "window": "x"}, "sec.window: expected integer or list of integer"),
        ({}, "sec.needed: missing required key (a required key)"),
        ({"needed": "n", "old": "a", "legacy_old": "b"}, "given twice"),
    ],
)
def test_mistakes_name_the_key(raw, message):
    with pytest.raises(ConfigError) as info:
        parse(Example, raw, "sec")
    assert message in str(info.value)


def test_union_keeps_ints_and_lists():
    assert parse(Example, {"needed": "n", "window": 4}, "s").window == 4
    assert parse(Example, {"needed": "n", "window": [1, 2]}, "s").window == [1, 2]


def test_describe_lists_types_defaults_and_help():
    info = {p.name: p for p in describe(Example)}
    assert info["count"].type_name == "integer" and info["count"].default == 3 and info["count"].help == "how many"
    assert info["needed"].required and not info["count"].required
    assert info["old"].aliases == ("legacy_old",)


@pytest.mark.parametrize("a, b, distance", [("seed", "seed", 0), ("sed", "seed", 1), ("EDRS".lower(), "edsr", 1),
                                            ("num_epohcs", "num_epochs", 1), ("pairs", "paired", 2),
                                            ("in_features", "num_features", 3), ("", "abc", 3)])
def test_typo_distance_counts_edits_and_neighbour_swaps(a, b, distance):
    assert typo_distance(a, b) == distance == typo_distance(b, a)


@pytest.mark.parametrize("name, known, suggestion", [
    ("num_featurs", ["num_features", "num_blocks"], "num_features"),
    ("PNSR", ["PSNR", "SSIM"], "PSNR"),
    ("pairs", ["paired"], "paired"),
    ("epsilon", ["eps"], "eps"),
    ("sed", ["seed"], "seed"),
    # similar-looking but not a typo: no suggestion rather than a wrong one
    ("in_features", ["num_features", "n_feats"], None),
    ("ignore_degradation_location", ["online_degradations", "degradation_metadata"], None),
    ("cleanup_metric", ["best_metric"], None),
    ("dan", ["HAN", "SAN"], None),
    ("supmoco", ["QSAN", "SFTMD"], None),
])
def test_only_likely_typos_are_suggested(name, known, suggestion):
    assert closest(name, known) == suggestion


def test_the_nearest_candidate_is_suggested():
    assert closest("num_block", ["num_blocks", "num_block_groups"]) == "num_blocks"
    assert closest("sigmax", ["sigma", "sigma_x"]) == "sigma_x"
