from dataclasses import dataclass
from typing import Literal

import pytest

from rumpycore import ConfigError, option
from rumpycore.params import describe, parse


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
