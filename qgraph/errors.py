"""Errors qgraph raises. Each one names the thing at fault and what is supported."""


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
