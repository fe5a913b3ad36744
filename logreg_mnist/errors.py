"""The errors this package reports to users as one line (see ``cli``)."""


class LogregError(Exception):
    """Base class: something the user can fix, described in one sentence."""
    exit_code = 1


class UsageError(LogregError):
    """Command-line values that cannot work together (exit status 2, like
    argparse's own errors)."""
    exit_code = 2


class DataError(LogregError):
    """A dataset that is missing, unreadable or not what we expect."""


class EngineError(LogregError):
    """The engine cannot run as THEANO_FLAGS ask."""


class ModelError(LogregError):
    """A model file that is missing, damaged or not one of ours."""


class TrainingStopped(LogregError):
    """Training ended early (divergence, Ctrl-C); the summary was printed."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code
