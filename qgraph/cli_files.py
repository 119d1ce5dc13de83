"""What the `qgraph` command does with the files and modules it is given, before any work:
the output name (`-o`), the demo's folder (`--out`), and `--custom-objects` modules.
Each mistake is an `OptionError` naming the flag and the file."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from typing import Any

from qgraph.errors import OptionError
from qgraph.output_files import check_output


def check_compile_output(output: str, source: str, vela: bool) -> None:
    """Refuse `-o` (and Vela's `NAME_vela.tflite` next to it) before the model is loaded:
    a folder, a device or FIFO, the input model itself, or a Keras or NumPy file name."""
    check_output(output, source=source, what="-o")
    if vela:
        check_output(os.path.splitext(output)[0] + "_vela.tflite", source=source, what="Vela's output")


def prepare_demo_folder(folder: str) -> None:
    """Create the demo's `--out` folder, or refuse it, before minutes of training."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OptionError(f"--out {folder!r} is not a folder; name a folder for the demo's .tflite files")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OptionError(f"--out {folder!r}: cannot create the folder ({e.strerror})") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(f"--out {folder!r}: the folder is not writable")


def custom_objects(specs: list[str]) -> dict[str, Any] | None:
    """`--custom-objects` items -> Keras' `custom_objects`. Each is `MODULE` or `FILE.py`
    (imported: its `keras.saving.register_keras_serializable` classes register themselves),
    optionally `:NAME`, a class or function (passed by that name) or a dict of them."""
    objects: dict[str, Any] = {}
    for spec in specs:
        match = re.fullmatch(r"(.+?)(?::([A-Za-z_][\w.]*))?", spec.strip())
        if not match:
            raise OptionError(
                f"--custom-objects takes MODULE, FILE.py, MODULE:NAME or FILE.py:NAME (got {spec!r})"
            )
        where, name = match.group(1), match.group(2)
        module = _import(where, spec)
        if name is None:
            continue
        value: Any = module
        for part in name.split("."):
            if not hasattr(value, part):
                raise OptionError(f"--custom-objects {spec}: {where!r} has no attribute {name!r}")
            value = getattr(value, part)
        if isinstance(value, dict):
            objects.update(value)
        else:
            objects[name.rsplit(".", 1)[-1]] = value
    return objects or None


def _import(where: str, spec: str) -> Any:
    """The module `where` names: a `.py` file, or a module on the Python path (which, as
    for `python -m`, includes the current folder)."""
    if where.endswith(".py") or os.sep in where:
        if not os.path.isfile(where):
            raise OptionError(f"--custom-objects {spec}: no such Python file {where!r}")
        name = os.path.splitext(os.path.basename(where))[0]
        loader_spec = importlib.util.spec_from_file_location(name, where)
        if loader_spec is None or loader_spec.loader is None:
            raise OptionError(f"--custom-objects {spec}: cannot import {where!r} as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules.setdefault(name, module)
        try:
            loader_spec.loader.exec_module(module)
        except SyntaxError as e:
            raise OptionError(f"--custom-objects {spec}: {e.filename}:{e.lineno}: {e.msg}") from e
        return module
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        if e.name is not None and (where == e.name or where.startswith(e.name + ".")):
            raise OptionError(
                f"--custom-objects {spec}: no module named {where!r} (a module on the Python path, or a .py file)"
            ) from e
        raise OptionError(f"--custom-objects {spec}: importing {where!r} failed: {e}") from e
    except SyntaxError as e:
        raise OptionError(f"--custom-objects {spec}: {e.filename}:{e.lineno}: {e.msg}") from e
    finally:
        if added:
            sys.path.remove(os.getcwd())
