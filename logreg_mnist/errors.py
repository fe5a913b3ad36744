"""The errors this package reports to users as one line (see ``cli``)."""


class LogregError(Exception):
    """Base class: something the user can fix, described in one sentence."""


class DataError(LogregError):
    """A dataset that is missing, unreadable or not what we expect."""


class EngineError(LogregError):
    """The engine cannot run as THEANO_FLAGS ask."""
