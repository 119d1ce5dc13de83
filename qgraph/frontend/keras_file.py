"""Loading a `.keras` / `.h5` file with the Keras that saved it.

Keras 3 reads tf-keras (Keras 2) files but computes some layers differently (its
`hard_sigmoid` is relu6(x + 3) / 6, tf-keras' 0.2x + 0.5 clipped: up to 0.08 apart), so a
file whose `keras_version` (h5 attribute, or `metadata.json` in a `.keras` zip) is 2.x (or 1.x) is
loaded with tf-keras, or refused when tf-keras is not installed. A damaged file is named as
damaged, and Keras' refusals that the user can lift (a Lambda's Python code needs
`safe_mode=False`; a custom layer needs its code) say how, in the API and on the command line.
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

from qgraph.errors import ModelFileError, OptionError, QGraphError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
LAMBDA_HINT = (
    "Keras runs a Lambda's Python code only from a file you trust; if you do, pass "
    "--unsafe-deserialization (API: qgraph.load(path, safe_mode=False))"
)


def load_model_file(path: str, safe_mode: bool = True, custom_objects: dict | None = None) -> Any:
    """The Keras model in `path` (already checked to be a regular file), loaded with the
    Keras that saved it."""
    with open(path, "rb") as f:
        is_hdf5 = f.read(8) == HDF5_SIGNATURE
    if path.endswith(".keras"):
        if is_hdf5:
            raise ModelFileError(f"{path!r} is an HDF5 file, not a .keras zip: rename it to .h5")
        version, config = _zip_contents(path)
    else:
        version, config = _h5_contents(path, is_hdf5)
    if version is not None and version.split(".")[0] in ("1", "2"):  # Keras 2 (tf-keras) or older
        try:
            import tf_keras as keras_module
        except ImportError:
            raise QGraphError(
                f"{path!r} was saved by tf-keras (Keras {version}); Keras 3 computes some of its "
                "layers differently (e.g. hard_sigmoid), so qgraph loads such files with tf-keras: "
                "pip install tf-keras"
            ) from None
        if safe_mode and _has_python_lambda(config):  # tf-keras' .h5 loader does not check
            raise OptionError(f"{path!r} has a Lambda layer with Python code: {LAMBDA_HINT}")
    else:
        import keras as keras_module
    try:
        return keras_module.models.load_model(
            path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects
        )
    except Exception as e:  # Keras' own errors: explain the ones the user can act on
        raise _explain(e, path) from e


def _zip_contents(path: str) -> tuple[str | None, Any]:
    """(keras_version from metadata.json or None, the model config) of a `.keras` zip."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise ModelFileError(f"{path!r} is damaged: its entry {bad!r} fails its CRC check")
            names = set(z.namelist())
            if "config.json" not in names:
                raise ModelFileError(f"{path!r} is a zip without config.json: not a Keras model file")
            config = json.loads(z.read("config.json"))
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise ModelFileError(f"{path!r} is damaged: not a valid .keras (zip) file ({e})") from e
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return (str(version) if version else None), config


def _h5_contents(path: str, is_hdf5: bool) -> tuple[str | None, Any]:
    """(keras_version attribute or None, the model config or None) of an `.h5` file."""
    import h5py

    if not is_hdf5 and not h5py.is_hdf5(path):
        raise ModelFileError(
            f"{path!r} is not an HDF5 file (no HDF5 signature); qgraph reads Keras .h5 files"
        )
    try:
        with h5py.File(path, "r") as f:
            version, config = f.attrs.get("keras_version"), f.attrs.get("model_config")
    except OSError as e:
        raise ModelFileError(f"{path!r} is damaged: not a valid HDF5 file ({e})") from e
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if isinstance(config, bytes):
        config = config.decode("utf-8", "replace")
    try:
        return (str(version) if version else None), json.loads(config) if config else None
    except ValueError as e:
        raise ModelFileError(f"{path!r} is damaged: its model_config is not JSON ({e})") from e


def _has_python_lambda(config: Any) -> bool:
    """A Lambda layer anywhere in `config` whose function is stored as Python bytecode."""
    if isinstance(config, dict):
        inner = config.get("config")
        if config.get("class_name") == "Lambda" and isinstance(inner, dict):
            return inner.get("function_type") == "lambda" or _has_python_lambda(inner)
        return any(_has_python_lambda(v) for v in config.values())
    if isinstance(config, list):
        return any(_has_python_lambda(v) for v in config)
    return False


def _explain(error: Exception, path: str) -> QGraphError:
    text = str(error)
    if "safe_mode=False" in text and "Lambda" in text:
        return OptionError(f"{path!r} has a Lambda layer with Python code: {LAMBDA_HINT}")
    unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", text) or re.search(
        r"Unknown [a-z ]+: '?([\w>.]+)'?", text
    )
    if unknown:
        name = unknown.group(1)
        module = re.search(r"Full object config: \{'module': '([^']+)'", text)
        where = module.group(1) if module and not module.group(1).startswith("keras") else "MODULE"
        return OptionError(
            f"{path!r} uses {name!r}, which Keras does not know (a custom layer or function): pass "
            f"the code that defines it with --custom-objects {where}:{name} (a module or .py file; "
            f"API: qgraph.load(path, custom_objects={{{name!r}: {name}}}))"
        )
    if isinstance(error, OSError | EOFError | zipfile.BadZipFile):
        return ModelFileError(f"{path!r} is damaged: {type(error).__name__}: {error}")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] or [type(error).__name__]
    cause = next((ln for ln in lines if ln.startswith("Exception encountered:")), lines[0])
    return QGraphError(f"cannot load {path!r} as a Keras model: {cause}")
