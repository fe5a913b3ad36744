"""The errors this package reports to users as one line (see ``cli``).

A message names the arguments at fault as the Python functions call them,
in backquotes (`batch_size`); the command lines show their flags in their
place (--batch-size), and ``cli`` chooses each kind's exit status.
"""


class LogregError(Exception):
    """Base class: something the user can fix, described in one sentence."""


class UsageError(LogregError):
    """Arguments that cannot work together, or that would clobber a
    file."""


class DataError(LogregError):
    """A dataset that is missing, unreadable or not what we expect."""


class EngineError(LogregError):
    """The engine cannot run as THEANO_FLAGS ask."""


class ModelError(LogregError):
    """A model file that is missing, damaged or not one of ours."""


class TrainingStopped(LogregError):
    """Training ended early (divergence, Ctrl-C); the summary was printed."""


class TrainingInterrupted(TrainingStopped):
    """Training stopped at a request to (Ctrl-C, SIGTERM)."""
