"""Register qgraph's Keras layers as soon as Keras is imported, without importing it.

A QAT or pruned model saved by qgraph holds qgraph layers (`qgraph>IROp`,
`qgraph>ActivationQuantizer`), and `keras.models.load_model` can read it back only once
their modules have run `@keras.saving.register_keras_serializable`. Users rely on a plain
`import qgraph` being enough. Importing those modules from `qgraph/__init__` would pull in
Keras and TensorFlow (about 3 s) for every `qgraph passes` or `qgraph inspect x.tflite`,
which need neither. So `install()` registers at once when Keras is already imported;
otherwise it puts a finder on `sys.meta_path` that wraps the loader of the top-level `keras`
module and imports the layer modules right after `keras` has executed. That covers
`import keras`, `tf.keras` (TensorFlow imports `keras` lazily) and `import keras.src.x`
(which imports `keras` first). qgraph registers nothing in tf-keras: `tf_keras` needs no hook.

When a qgraph module is what imports Keras (e.g. `qgraph.compress.kernels`, on its way to
`qgraph.emit.keras`), registering right then would import the layer modules while that
module is half-initialized: a circular import. So until registration is done the finder also
wraps every `qgraph.*` loader, and registration waits until no qgraph module is executing.
Then the finder leaves `sys.meta_path`: it costs nothing afterwards.

A failure to register is not swallowed: it propagates from the import that triggered it,
so a broken layer module shows at once, not later as an unknown layer in `load_model`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

#: the modules whose import registers qgraph's Keras-serializable classes.
LAYER_MODULES = ("qgraph.emit.keras", "qgraph.quant.layers")

# qgraph modules executing now (registration waits for 0) and whether registration ran
# or is running. One counter for all threads: at worst registration waits a little longer.
_state = {"executing": 0, "registered": False}


def register_layers() -> None:
    """Import every module in `LAYER_MODULES` (importing them is what registers; idempotent)."""
    for name in LAYER_MODULES:
        importlib.import_module(name)


def install() -> None:
    """Register now if Keras is imported, else once it is. Safe to call any number of times."""
    if "keras" in sys.modules:
        _register()
    elif not _state["registered"] and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _register() -> None:
    if _state["registered"]:
        return
    _state["registered"] = True  # set first: the imports below come back through the finder
    try:
        register_layers()
    except BaseException:
        _state["registered"] = False
        raise
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def _watched(name: str) -> bool:
    return name in ("keras", "qgraph") or name.startswith("qgraph.")


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `keras` and qgraph's modules through the finders after it and hands back their
    spec with the loader wrapped in `_Loader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if _state["registered"] or not _watched(fullname) or self not in sys.meta_path:
            return None
        # Ask the finders behind this one (asking importlib would come back here).
        for finder in sys.meta_path[sys.meta_path.index(self) + 1 :]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    """Runs the real loader (put back on the module first, so the module sees its own
    loader), then registers if Keras is loaded and no qgraph module is mid-import."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        counted = module.__name__ != "keras"
        _state["executing"] += counted
        try:
            self._loader.exec_module(module)
        finally:
            _state["executing"] -= counted
        if _state["executing"] == 0 and "keras" in sys.modules:
            _register()

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader, ...
        return getattr(self._loader, name)
