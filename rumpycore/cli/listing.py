"""``rumpy list-models`` and ``rumpy plugins``."""

from __future__ import annotations

import json

import click
import torch

from .. import params as P
from ..errors import ConfigError
from ..plugins import host, model_registry
from ..specs import ModelSpec


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def table_scale(spec: ModelSpec) -> int:
    """The scale a model is counted at in the model table: x4 when it has it."""
    return 4 if 4 in spec.scales or not spec.scales else spec.scales[0]


def parameter_count(spec: ModelSpec) -> int | None:
    """Trainable parameters of ``spec`` with its default parameters at :func:`table_scale`, or None
    when the defaults alone do not build it (required keys, metadata from the data)."""
    from ..training.networks import build_module, count_parameters

    try:
        params = P.parse(spec.params, {}, "model.internal_params")
        if spec.metadata is not None and spec.metadata(params):
            return None
    except ConfigError:
        return None
    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            return count_parameters(build_module(spec, params, table_scale(spec)))
    except (RuntimeError, ConfigError):  # some constructors read values (.item()) while building
        return count_parameters(build_module(spec, params, table_scale(spec)))


def _count_text(count: int | None) -> str:
    if count is None:
        return "—"
    return f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count / 1e3:.0f}K"


def markdown_table() -> str:
    """The README's model table: name, provider, parameters with the defaults, presets and paper."""
    lines = ["| model | provider | parameters (defaults) | presets | paper |", "|---|---|---|---|---|"]
    for e in model_registry():
        scale = table_scale(e.spec)
        count = parameter_count(e.spec)
        count = f"{_count_text(count)} at x{scale}" if count is not None else "—"
        presets = ", ".join(f"`{name}`" for name in e.spec.presets) or ""
        paper = e.spec.paper or e.spec.summary
        lines.append(f"| {e.spec.name} | {e.provider.distribution} | {count} | {presets} | {paper} |")
    return "\n".join(lines)


@click.command("list-models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the README's model table (builds every model to count it).")
def list_models(as_json: bool, markdown: bool) -> None:
    """List every model that installed plugins provide."""
    host().report_failures()
    if markdown:
        click.echo(markdown_table())
        return
    entries = [
        {
            "name": e.spec.name,
            "task": e.spec.task,
            "distribution": e.provider.distribution,
            "version": e.provider.version,
            "scales": list(e.spec.scales),
            "inputs": list(e.spec.inputs),
            "description": e.spec.summary,
            "presets": {name: dict(values) for name, values in e.spec.presets.items()},
            "paper": e.spec.paper,
        }
        for e in model_registry()
    ]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo("no models installed; install a plugin such as rumpy-edsr")
        return
    rows = [[e["name"], e["task"], e["distribution"], e["version"], e["description"]] for e in entries]
    click.echo(_table(rows, ["name", "task", "distribution", "version", "description"]))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List plugin distributions and the hooks each implements."""
    h = host()
    entries = [
        {"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": h.hooks_of(p),
         **({"error": p.error} if p.error else {})}
        for p in h.plugins
    ]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    rows = [[e["distribution"], e["version"],
             f"failed to load: {e['error']}" if "error" in e else ", ".join(e["hooks"]) or "(none yet)"]
            for e in entries]
    click.echo(_table(rows, ["distribution", "version", "hooks"]))
