"""The README's degrade section documents every operation, parameter, metadata column and flag."""

from __future__ import annotations

from pathlib import Path

import toml

from rumpycore.degrade.catalog import ALIASES, OPERATIONS
from rumpycore.degrade.pipeline import Pipeline
from rumpycore.degrade.settings import DegradeSettings
from rumpycore.params import describe

README = Path(__file__).resolve().parents[1] / "README.md"


def section() -> str:
    text = README.read_text()
    return text[text.index("## Preparing data: rumpy degrade"):text.index("## Writing a plugin")]


def test_every_operation_and_parameter_is_documented():
    text = section()
    for name, operation in {**OPERATIONS, **ALIASES}.items():
        assert f"`{name}`" in text, name
        for info in describe(operation.Params):
            for spelling in (info.name, *info.aliases):
                assert f"`{spelling}`" in text, f"{name}.{spelling}"


def test_every_metadata_column_is_documented():
    text = section()
    fast = {"pca_samples": 1000}
    tables = {"blur": fast, "realesrganblur": fast, "bsrganblur": fast}
    columns = set()
    for name in OPERATIONS:  # one pipeline each: some record the same columns (realesrgan and noise)
        pipeline = Pipeline.from_config({"pipeline": [name], "deg_configs": {name: tables[name]} if name in tables
                                         else {}}, "")
        columns.update(pipeline.metadata_dims())
    anisotropic = Pipeline.from_config({"pipeline": "blur", "deg_configs": {"blur": {"iso_probability": 0.5, **fast}}},
                                       "")
    columns.update(anisotropic.metadata_dims())
    assert {"blur_sigma", "blur_sigma_x", "blur_angle", "blur_kernel", "scale", "noise_gray", "jpeg_quality"} <= columns
    for column in columns:
        assert f"`{column}`" in text, column


def test_every_flag_and_file_key_is_documented():
    text = section()
    for info in describe(DegradeSettings):
        assert f"`--{info.name.replace('_', '-')}`" in text or f"`{info.name}`" in text, info.name


def test_the_example_pipeline_config_is_valid():
    text = section()
    example = toml.loads(text[text.index("```toml") + len("```toml"):].split("```")[0])
    example["deg_configs"]["soft"]["pca_samples"] = 1000  # only to keep the test fast
    pipeline = Pipeline.from_config({key: example[key] for key in ("pipeline", "deg_configs")}, "")
    assert [step.operation.name for step in pipeline.steps] == ["blur", "downsample", "noise", "compress"]
    assert pipeline.steps[0].operation.params.sigma == [0.2, 3.0]
