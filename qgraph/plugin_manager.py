"""The process-wide pluggy manager: built-ins first, then entry points, then run-time plugins."""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from qgraph import hookspecs

#: qgraph's own plugins, registered exactly as a third-party plugin would be.
DEFAULT_PLUGINS = (
    "qgraph.ops.builtin",
    "qgraph.passes",
    "qgraph.plugins.cpu",
    "qgraph.plugins.edgetpu",
    "qgraph.plugins.nnapi",
    "qgraph.plugins.ethos_u",
)

_manager: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        pm = pluggy.PluginManager("qgraph")
        pm.add_hookspecs(hookspecs)
        for mod in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(mod), name=mod)
        pm.load_setuptools_entrypoints("qgraph")
        _manager = pm
    return _manager


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object or module at run time; returns its name (for unregister)."""
    pm = plugin_manager()
    registered = pm.register(plugin, name=name)
    if registered is None:
        raise ValueError(f"plugin {name or plugin!r} is already registered or blocked")
    return registered


def unregister_plugin(plugin_or_name: Any) -> None:
    pm = plugin_manager()
    if isinstance(plugin_or_name, str):
        pm.unregister(name=plugin_or_name)
    else:
        pm.unregister(plugin_or_name)


def plugin_name(plugin: Any) -> str:
    return plugin_manager().get_name(plugin) or repr(plugin)
