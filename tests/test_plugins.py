import types

import pytest

import rumpycore
from rumpycore import PluginError
from rumpycore.plugins import PluginHost


def model_plugin(name: str) -> types.SimpleNamespace:
    @rumpycore.hookimpl
    def register_models(register):
        register(rumpycore.ModelSpec(name=name, build=lambda p, ctx: None, summary="test model"))

    return types.SimpleNamespace(register_models=register_models, __name__=f"plugin_{name}")


def test_builtins_register_through_the_same_hooks():
    host = PluginHost(load_entry_points=False)
    assert {"PSNR", "SSIM"} <= set(host.registry("metric").names())
    assert "paired" in host.registry("dataset").names()
    assert {"console", "summary", "plots", "samples"} <= set(host.registry("logger").names())
    assert "cosine_annealing_warm_restarts" in host.registry("scheduler").names()
    assert host.registry("model").names() == []


def test_lookup_is_case_insensitive_and_records_the_provider():
    host = PluginHost(load_entry_points=False)
    host.register_plugin(model_plugin("NetA"), "dist-a", "1.2")
    entry = host.registry("model").get("neta")
    assert entry.spec.name == "NetA"
    assert (entry.provider.distribution, entry.provider.version) == ("dist-a", "1.2")
    assert host.registry("model").get("NETA") is entry


def test_unknown_name_lists_known_names_and_closest_match():
    host = PluginHost(load_entry_points=False)
    host.register_plugin(model_plugin("NetA"), "dist-a")
    with pytest.raises(PluginError) as info:
        host.registry("model").get("NetB", "model.name")
    message = str(info.value)
    assert message.startswith("model.name: unknown model 'NetB'")
    assert "did you mean NetA?" in message and "known: NetA" in message


def test_two_distributions_with_one_name_fail_naming_both():
    host = PluginHost(load_entry_points=False)
    host.register_plugin(model_plugin("Twin"), "first-dist", "1.0")
    host.register_plugin(model_plugin("twin"), "second-dist", "2.0")
    with pytest.raises(PluginError) as info:
        host.registry("model")
    assert "first-dist 1.0" in str(info.value) and "second-dist 2.0" in str(info.value)


def test_registering_the_wrong_spec_type_is_refused():
    @rumpycore.hookimpl
    def register_metrics(register):
        register(rumpycore.ModelSpec(name="oops", build=lambda p, c: None))

    host = PluginHost(load_entry_points=False)
    host.register_plugin(types.SimpleNamespace(register_metrics=register_metrics, __name__="bad"), "bad-dist")
    with pytest.raises(PluginError, match="expected a MetricSpec"):
        host.registry("metric")


def test_every_hook_has_a_docstring():
    host = PluginHost(load_entry_points=False)
    for name in ("register_models", "register_datasets", "register_metrics", "register_schedulers",
                 "register_loggers"):
        spec = getattr(host.pm.hook, name).spec
        assert spec is not None and (spec.function.__doc__ or "").strip(), name
