"""``rumpy list-models`` and ``rumpy plugins``."""

from __future__ import annotations

import json

import click

from ..plugins import host, model_registry


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


@click.command("list-models")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_models(as_json: bool) -> None:
    """List every model that installed plugins provide."""
    host().report_failures()
    entries = [
        {
            "name": e.spec.name,
            "task": e.spec.task,
            "distribution": e.provider.distribution,
            "version": e.provider.version,
            "scales": list(e.spec.scales),
            "inputs": list(e.spec.inputs),
            "description": e.spec.summary,
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
