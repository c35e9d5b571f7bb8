"""The README's plugin guide documents every hook (a new hook without docs fails here)."""

import inspect
from pathlib import Path

from rumpycore import hookspecs
from rumpycore.plugins import PluginHost

README = Path(__file__).resolve().parents[1] / "README.md"


def hook_names() -> list[str]:
    host = PluginHost(load_entry_points=False)
    return sorted(name for name in dir(host.pm.hook) if name.startswith("register_"))


def test_hook_list_is_the_eight_kinds():
    assert hook_names() == ["register_callbacks", "register_datasets", "register_loggers", "register_losses",
                            "register_metrics", "register_models", "register_schedulers", "register_tasks"]


def test_every_hook_is_documented_in_the_readme_plugin_guide():
    text = README.read_text()
    guide = text[text.index("## Writing a plugin"):]
    for name in hook_names():
        signature = f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"
        assert f"### `{signature}`" in guide, f"README plugin guide lacks a section for {signature}"
