"""`Option`: an option a pass or a target declares (name, type, default, help, choices).

`compile` accepts exactly the options declared by the passes that run for the target and
quantize mode, plus the target's own; it checks each value against its declaration. A pass
reads a value with `ctx.option("name")`, which falls back to the declared default.

    class Prune(qgraph.Pass):
        name = "prune"; phase = "compress"
        options = (qgraph.Option("sparsity", float, 0.5, "fraction of weights set to zero"),)
        def run(self, graph, ctx):
            sparsity = ctx.option("sparsity")
            ...

    qgraph.compile(model, sparsity=0.8)    # or on the CLI: --option sparsity=0.8
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qgraph.errors import OptionError

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One declared option. `type` is a class values must be instances of: `int`, `float` (an
    int is accepted too), `bool`, `str`, `object` (anything: arrays, datasets, callables), or
    any other class or ABC (`collections.abc.Callable`). `choices` restricts the values.
    `default` is what a pass reads when the caller gives none (or gives None)."""

    name: str
    type: type = object
    default: Any = None
    help: str = ""
    choices: Sequence[Any] | None = None

    @property
    def type_name(self) -> str:
        return "any" if self.type is object else getattr(self.type, "__name__", str(self.type))

    def signature(self) -> str:
        """`name: type = default`, with choices: `name: 'a' | 'b' = 'a'`."""
        kind = " | ".join(repr(c) for c in self.choices) if self.choices else self.type_name
        return f"{self.name}: {kind} = {self.default!r}"

    def check(self, value: Any, owner: str = "") -> None:
        """Raise `OptionError` naming the option unless `value` fits the declaration (None
        always fits: it stands for the default)."""
        if value is None:
            return
        if not _is_instance(value, self.type):
            raise OptionError(
                f"option {self.name}={_short(value)} is {_article(type(value).__name__)}; {self.name} takes "
                f"{_article(self.type_name)}{_declared_by(owner)}"
            )
        if self.choices is not None and value not in self.choices:
            raise OptionError(
                f"{self.name}={value!r} is not supported; choose one of "
                f"{', '.join(str(c) for c in self.choices)}{_declared_by(owner)}"
            )

    def parse(self, text: str) -> Any:
        """The value of `text` (a command-line `NAME=VALUE`'s VALUE) as this option's type."""
        try:
            if self.type is bool:
                if text.lower() not in _TRUE + _FALSE:
                    raise ValueError(text)
                return text.lower() in _TRUE
            if self.type in (int, float, str):
                return self.type(text)
        except ValueError:
            raise OptionError(
                f"--option {self.name}={text!r}: {self.name} takes {_article(self.type_name)}"
                + (" (true or false)" if self.type is bool else "")
            ) from None
        raise OptionError(
            f"--option {self.name}: {self.name} takes {_article(self.type_name)}, which cannot be "
            "written on the command line; give it through the Python API (qgraph.compile)"
        )


class LazyChoices(Sequence[Any]):
    """`Option.choices` computed on first use, from `compute()`. For choices that cost time to
    find (the ethos-u target asks the installed Vela, ~0.2 s): a plugin declares its options
    when it is loaded, which every qgraph call does, while only a few read the choices."""

    def __init__(self, compute: Callable[[], Sequence[Any]]) -> None:
        self._compute = compute
        self._values: tuple[Any, ...] | None = None

    def _get(self) -> tuple[Any, ...]:
        if self._values is None:
            self._values = tuple(self._compute())
        return self._values

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


def _is_instance(value: Any, kind: type) -> bool:
    if kind is object:
        return True
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    return isinstance(value, kind)


def _article(type_name: str) -> str:
    return "any value" if type_name == "any" else f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def _declared_by(owner: str) -> str:
    return f" (declared by {owner})" if owner else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["LazyChoices", "Option"]
