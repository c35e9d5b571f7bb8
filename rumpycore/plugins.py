"""Plugin discovery and the registries that config names resolve through.

Plugins are loaded once, lazily, from the entry-point group ``rumpy``. The environment
variable ``RUMPY_LOAD_PLUGINS`` pins which plugin distributions load (a comma-separated
list of distribution names; an empty value loads none); the core's built-ins always load.
A plugin that fails to import is reported once on stderr and skipped.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pluggy

from . import hookspecs
from .errors import PluginError
from .params import closest
from .specs import (
    CallbackSpec,
    DatasetSpec,
    LoggerSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    SchedulerSpec,
    TaskSpec,
)

ENV_LOAD_PLUGINS = "RUMPY_LOAD_PLUGINS"
ENTRY_POINT_GROUP = "rumpy"

S = TypeVar("S")

KINDS: dict[str, tuple[str, type]] = {
    "model": ("register_models", ModelSpec),
    "dataset": ("register_datasets", DatasetSpec),
    "metric": ("register_metrics", MetricSpec),
    "scheduler": ("register_schedulers", SchedulerSpec),
    "logger": ("register_loggers", LoggerSpec),
    "task": ("register_tasks", TaskSpec),
    "loss": ("register_losses", LossSpec),
    "callback": ("register_callbacks", CallbackSpec),
}


@dataclass(frozen=True)
class Provider:
    """The distribution a component came from."""

    distribution: str
    version: str
    plugin: str


@dataclass(frozen=True)
class Registered(Generic[S]):
    """A registered spec together with who provided it."""

    spec: S
    provider: Provider


@dataclass
class PluginInfo:
    """A loaded (or failed) plugin, for ``rumpy plugins``."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


def _normalise_dist(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


class Registry(Generic[S]):
    """Components of one kind, looked up by case-insensitive name."""

    def __init__(self, kind: str, failed: list[PluginInfo]) -> None:
        self.kind = kind
        self._entries: dict[str, Registered[S]] = {}
        self._failed = failed

    def add(self, spec: S, provider: Provider) -> None:
        """Register ``spec``; a name taken by another distribution is an error naming both, unless
        one of the two is a ``fallback`` (``ModelSpec.fallback``), which then yields to the other."""
        key = spec.name.lower()
        if key in self._entries:
            existing = self._entries[key]
            if getattr(existing.spec, "fallback", False) != getattr(spec, "fallback", False):
                if existing.spec.fallback:
                    self._entries[key] = Registered(spec, provider)
                return
            other = existing.provider
            raise PluginError(
                f"{self.kind} '{spec.name}' is registered by both {other.distribution} "
                f"{other.version} and {provider.distribution} {provider.version}; uninstall one "
                f"or pin the plugins to load with {ENV_LOAD_PLUGINS}"
            )
        self._entries[key] = Registered(spec, provider)

    def get(self, name: str, where: str = "") -> Registered[S]:
        """The component called ``name`` (any case); unknown names fail with the closest match."""
        entry = self._entries.get(str(name).lower())
        if entry is not None:
            return entry
        known = sorted(e.spec.name for e in self._entries.values())
        prefix = f"{where}: " if where else ""
        suggestion = closest(str(name), known)
        hint = f"did you mean {suggestion}? " if suggestion else ""
        listing = ", ".join(known) if known else "none installed"
        broken = "".join(f"; plugin {f.distribution} failed to load ({f.error})" for f in self._failed)
        raise PluginError(
            f"{prefix}unknown {self.kind} '{name}'; {hint}known: {listing}{broken}"
        )

    def __contains__(self, name: str) -> bool:
        return str(name).lower() in self._entries

    def __iter__(self) -> Iterator[Registered[S]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.spec.name.lower()))

    def names(self) -> list[str]:
        """Registered names in their registered spelling, sorted."""
        return [e.spec.name for e in self]


class PluginHost:
    """Owns the pluggy manager, the loaded plugins and one registry per kind."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("rumpy")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failed: list[PluginInfo] = []
        self._failures_reported = False
        self._providers: dict[str, Provider] = {}
        self._registries: dict[str, Registry] | None = None
        self._register_builtins()
        if load_entry_points:
            self._load_entry_points()

    def _register_builtins(self) -> None:
        from . import __version__, builtins

        self.pm.register(builtins, name="rumpycore")
        self._providers["rumpycore"] = Provider("rumpycore", __version__, "rumpycore")
        self.plugins.append(PluginInfo("rumpycore", "rumpycore", __version__))

    def _load_entry_points(self) -> None:
        pinned = os.environ.get(ENV_LOAD_PLUGINS)
        allowed = None
        if pinned is not None:
            allowed = {_normalise_dist(n) for n in pinned.split(",") if n.strip()}
        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else ep.name
            version = ep.dist.version if ep.dist is not None else "unknown"
            if allowed is not None and _normalise_dist(dist) not in allowed:
                continue
            if (dist, ep.name) in seen:
                continue
            seen.add((dist, ep.name))
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                info = PluginInfo(ep.name, dist, version, error=f"{type(exc).__name__}: {exc}")
                self.failed.append(info)
                self.plugins.append(info)
                continue
            name = f"{dist}:{ep.name}"
            self.pm.register(plugin, name=name)
            self._providers[name] = Provider(dist, version, ep.name)
            self.plugins.append(PluginInfo(ep.name, dist, version))

    def report_failures(self) -> None:
        """Warn once on stderr about plugins that failed to load.

        Called once the command knows it can go on; when a failure makes the command fail
        (its model was the one requested), the error line names the plugin instead.
        """
        if self._failures_reported:
            return
        self._failures_reported = True
        for info in self.failed:
            print(f"rumpy: warning: plugin {info.distribution} failed to load and was skipped ({info.error})",
                  file=sys.stderr)

    def register_plugin(self, plugin: Any, distribution: str, version: str = "0") -> None:
        """Register an in-process plugin object (used by tests and embedding applications)."""
        name = f"{distribution}:{getattr(plugin, '__name__', type(plugin).__name__)}"
        self.pm.register(plugin, name=name)
        self._providers[name] = Provider(distribution, version, name)
        self.plugins.append(PluginInfo(name, distribution, version))
        self._registries = None

    def hooks_of(self, info: PluginInfo) -> list[str]:
        """Names of the hooks a loaded plugin implements."""
        for name, provider in self._providers.items():
            if provider.distribution == info.distribution and provider.plugin in (info.name, name):
                plugin = self.pm.get_plugin(name)
                callers = self.pm.get_hookcallers(plugin) or []
                return sorted(c.name for c in callers)
        return []

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` (``model``, ``dataset``, ``metric``, ``scheduler``, ``logger``, ``task``,
        ``loss``, ``callback``)."""
        if self._registries is None:
            self._registries = self._collect()
        return self._registries[kind]

    def _collect(self) -> dict[str, Registry]:
        registries = {kind: Registry(kind, self.failed) for kind in KINDS}
        for kind, (hook_name, spec_type) in KINDS.items():
            registry = registries[kind]
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                provider = self._providers[impl.plugin_name]

                def register(spec: Any, _provider: Provider = provider, _kind: str = kind,
                             _type: type = spec_type, _registry: Registry = registry) -> None:
                    if not isinstance(spec, _type):
                        raise PluginError(
                            f"plugin {_provider.distribution} registered {spec!r} as a {_kind}; "
                            f"expected a {_type.__name__}"
                        )
                    _registry.add(spec, _provider)

                impl.function(*[{"register": register}[a] for a in impl.argnames])
        return registries


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host, created (and plugins loaded) on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset_host() -> None:
    """Forget loaded plugins so the next :func:`host` call loads them again."""
    global _host
    _host = None


def model_registry() -> Registry[ModelSpec]:
    """All registered models."""
    return host().registry("model")


def dataset_registry() -> Registry[DatasetSpec]:
    """All registered dataset types."""
    return host().registry("dataset")


def metric_registry() -> Registry[MetricSpec]:
    """All registered metrics."""
    return host().registry("metric")


def scheduler_registry() -> Registry[SchedulerSpec]:
    """All registered learning-rate schedulers."""
    return host().registry("scheduler")


def logger_registry() -> Registry[LoggerSpec]:
    """All registered loggers."""
    return host().registry("logger")


def task_registry() -> Registry[TaskSpec]:
    """All registered tasks."""
    return host().registry("task")


def loss_registry() -> Registry[LossSpec]:
    """All registered losses."""
    return host().registry("loss")


def callback_registry() -> Registry[CallbackSpec]:
    """All registered callbacks."""
    return host().registry("callback")
