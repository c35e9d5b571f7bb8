"""``rumpy list`` (every registered component with its parameters), its one-kind forms
``rumpy list-models``, ``list-tasks``, ``list-losses``, ``list-datasets``, ``list-metrics``,
``list-schedulers``, ``list-loggers``, ``list-callbacks``, and ``rumpy plugins``."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import params as P
from ..errors import ConfigError
from ..params import ParamInfo, describe
from ..plugins import Registered, host, model_registry
from ..specs import ModelSpec

KINDS = {"models": "model", "tasks": "task", "losses": "loss", "datasets": "dataset", "metrics": "metric",
         "schedulers": "scheduler", "loggers": "logger", "callbacks": "callback"}
"""The plural a user types -> the registry kind."""

PARAMS_TABLE = {
    "model": "[model.internal_params] (and [model.<role>.internal_params] for a task's other networks)",
    "task": "[model.task_params]",
    "loss": "[model.internal_params.losses.<name>], with its weight",
    "dataset": "[data.training_sets.<id>] and [data.eval_sets.<id>]",
    "metric": "[training.metric_params.<name>]",
    "scheduler": "[model.internal_params.scheduler_params]",
    "logger": "[training.logger_params.<name>]",
    "callback": "[training.callback_params.<name>]",
}
"""Where the parameters of each kind of component are set in a training config."""

MODEL_CORE_KEYS = "lr, scale, scheduler, scheduler_params, optimizer_params, grad_clip, loss, losses, init_from"


def _table(rows: list[list[str]], header: list[str] | None = None, indent: str = "") -> str:
    lines = ([header] if header else []) + rows
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(lines[0]))]
    return "\n".join(indent + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines)


def parameter_entry(info: ParamInfo) -> dict[str, Any]:
    """One parameter as JSON: name, type, default (absent when required), bounds, aliases, help."""
    entry: dict[str, Any] = {"name": info.name, "type": info.type_name, "required": info.required}
    if not info.required:
        entry["default"] = info.default
    entry.update({"min": info.min, "max": info.max, "aliases": list(info.aliases), "help": info.help})
    return entry


def component_entry(kind: str, registered: Registered) -> dict[str, Any]:
    """A registered component as JSON: name, provider, description, kind-specific facts, parameters."""
    spec, provider = registered.spec, registered.provider
    entry: dict[str, Any] = {"name": spec.name, "distribution": provider.distribution, "version": provider.version,
                             "description": spec.summary}
    if kind == "model":
        entry.update(task=spec.task, scales=list(spec.scales), inputs=list(spec.inputs),
                     unsupported=dict(spec.unsupported),
                     presets={name: dict(values) for name, values in spec.presets.items()}, paper=spec.paper)
    elif kind == "metric":
        entry.update(task=spec.task, higher_is_better=spec.higher_is_better)
    elif kind == "scheduler":
        entry.update(interval=spec.interval)
    elif kind == "task":
        entry.update(roles=[{"name": r.name, "accepts": list(r.accepts), "default_model": r.default_model,
                             "optional": r.optional, "losses": dict(r.losses)} for r in spec.roles],
                     metrics=list(spec.metrics), unsupported=dict(spec.unsupported))
    entry["parameters"] = [parameter_entry(info) for info in describe(spec.params)]
    return entry


def _value(value: Any) -> str:
    """A default as it would be written in TOML ("unset": the key is simply left out)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _bounds(parameter: dict[str, Any]) -> str:
    low, high = parameter["min"], parameter["max"]
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f">= {low:g}"
    return f"<= {high:g}" if high is not None else ""


def _facts(kind: str, entry: dict[str, Any]) -> str:
    if kind == "model":
        facts = [entry["task"]]
        if entry["scales"]:
            facts.append("scales " + ", ".join(str(s) for s in entry["scales"]))
        facts += [f"input {name}" for name in entry["inputs"]]
        facts += [f"no {option}" for option in entry["unsupported"]]
        return "; ".join(facts)
    if kind == "metric":
        return f"{entry['task']}; {'higher' if entry['higher_is_better'] else 'lower'} is better"
    if kind == "scheduler":
        return f"steps per {entry['interval']}"
    if kind == "task":
        tables = ["[model]"] + [f"[model.{role['name']}]" for role in entry["roles"][1:]]
        return "; ".join(f"{table} {'/'.join(role['accepts'])}{' (optional)' if role['optional'] else ''}"
                         for table, role in zip(tables, entry["roles"]))
    return ""


def render(kind: str, entries: list[dict[str, Any]]) -> str:
    """The text listing of one kind: a line per component, its parameters indented below it."""
    plural = next(p for p, k in KINDS.items() if k == kind)
    lines = [f"{plural} (parameters go in {PARAMS_TABLE[kind]}):"]
    for entry in entries:
        facts = _facts(kind, entry)
        lines.append(f"  {entry['name']}  ({entry['distribution']} {entry['version']}{'; ' + facts if facts else ''})")
        if entry["description"]:
            lines.append(f"      {entry['description']}")
        rows = [[p["name"], p["type"], "required" if p["required"] else f"default {_value(p['default'])}",
                 _bounds(p), p["help"]] for p in entry["parameters"]]
        lines.append(_table(rows, indent="      ") if rows else "      no parameters")
    if kind == "model":
        lines.append(f"  every model also takes the core's keys: {MODEL_CORE_KEYS}")
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
    import torch  # imported on use, so that listing without counting starts quickly

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


def entries_of(kind: str) -> list[dict[str, Any]]:
    """Every registered component of ``kind``, as JSON entries, sorted by name."""
    return [component_entry(kind, registered) for registered in host().registry(kind)]


def _show(plurals: list[str], as_json: bool, one_kind: bool) -> None:
    host().report_failures()
    listings = {plural: entries_of(KINDS[plural]) for plural in plurals}
    if as_json:
        click.echo(json.dumps(listings[plurals[0]] if one_kind else listings, indent=2, default=str))
        return
    blocks = []
    for plural, entries in listings.items():
        if entries:
            blocks.append(render(KINDS[plural], entries))
        else:
            hint = "; install a plugin such as rumpy-edsr" if plural == "models" else ""
            blocks.append(f"no {plural} installed{hint}")
    click.echo("\n\n".join(blocks))


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.command("list")
@click.argument("kinds", nargs=-1, type=click.Choice(list(KINDS), case_sensitive=False))
@JSON_OPTION
def list_components(kinds: tuple[str, ...], as_json: bool) -> None:
    """List the installed components with their parameters, defaults and providers.

    KINDS: any of models, tasks, losses, datasets, metrics, schedulers, loggers, callbacks
    (default: all). --json prints
    an object mapping each kind to its components.
    """
    _show([k.lower() for k in kinds] or list(KINDS), as_json, one_kind=False)


def _list_kind_command(plural: str) -> click.Command:
    @click.command(f"list-{plural}")
    @JSON_OPTION
    def command(as_json: bool) -> None:
        _show([plural], as_json, one_kind=True)

    command.help = (f"List the installed {plural} with their parameters, defaults and providers "
                    f"(as 'rumpy list {plural}'; --json prints a JSON list).")
    return command


@click.command("list-models")
@JSON_OPTION
@click.option("--markdown", is_flag=True, help="Print the README's model table (builds every model to count it).")
def list_models(as_json: bool, markdown: bool) -> None:
    """List the installed models with their parameters, defaults and providers (as 'rumpy list
    models'; --json prints a JSON list, --markdown the README's model table)."""
    if markdown:
        host().report_failures()
        click.echo(markdown_table())
        return
    _show(["models"], as_json, one_kind=True)


LIST_KIND_COMMANDS = [list_models] + [_list_kind_command(plural) for plural in KINDS if plural != "models"]


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
