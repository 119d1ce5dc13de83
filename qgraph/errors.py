"""Errors qgraph raises. Each one names the thing at fault and what is supported."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any


class QGraphError(Exception):
    """Base class of every error qgraph raises on purpose."""


class UnsupportedLayerError(QGraphError):
    """A Keras layer the frontend cannot lower (names the layer, its class, and the hook to add it)."""


class UnsupportedOpError(QGraphError):
    """An IR op a backend (emitter, serializer, target) cannot handle."""


class LintError(QGraphError):
    """The IR breaks an invariant; the message lists every violation."""


class PassError(QGraphError):
    """A pass raised or left an invalid graph; names the pass and the passes before it."""


class PassOrderError(QGraphError):
    """`after`/`before` constraints form a cycle or name a pass that does not exist."""


class TargetError(QGraphError):
    """An unknown target, or a target/option combination the target cannot run."""


class OptionError(QGraphError):
    """An option value that is not supported (names the option and the allowed values)."""


class ModelFileError(QGraphError, ValueError):
    """A model file that is damaged or not in the format its name says: names the file and
    the first inconsistency found in it."""


def did_you_mean(name: Any, known: Sequence[str], form: str = "", cutoff: float = 0.75) -> str:
    """` (did you mean 'x'?)` for the closest names in `known`, or "" when none is close;
    `form` may name what is misspelled (" for {0!r}" gives ` (did you mean 'x' for 'y'?)`)."""
    names = [str(k) for k in known]
    # Case first ('EdgeTPU' is 'edgetpu'), then spelling.
    close = [k for k in names if k.lower() == str(name).lower()][:1]
    close = close or difflib.get_close_matches(str(name), names, n=2, cutoff=cutoff)
    if not close:
        return ""
    return f" (did you mean {' or '.join(map(repr, close))}{form.format(name)}?)"
