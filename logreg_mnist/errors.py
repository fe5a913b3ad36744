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



#: The most characters of anything read from a file that a message quotes.
QUOTE_MOST = 200


def quoted(value, most=QUOTE_MOST):
    """``repr(value)`` cut to at most ``most`` characters, for messages about
    values that came from a file or a server: a list of a million strings
    or an integer of a million digits is not written out to be cut."""
    import reprlib

    class Short(reprlib.Repr):
        def repr_int(self, x, level):
            if x.bit_length() > 4 * most:   # (repr is quadratic in digits)
                return '<an integer of %d bits>' % x.bit_length()
            return super().repr_int(x, level)

        def repr_bytes(self, x, level):
            return repr(bytes(x[:most])) + ('...' if len(x) > most else '')
        repr_bytearray = repr_bytes

    short = Short()
    short.maxstring = short.maxother = short.maxlong = most
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 8
    short.maxlevel = 3
    text = short.repr(value)
    return text if len(text) <= most else text[:most - 3] + '...'


def cut(text, most=QUOTE_MOST):
    """``text`` (an exception's message, say) cut to ``most`` characters."""
    return text if len(text) <= most else text[:most - 3] + '...'


def os_problem(path, error):
    """An OSError about ``path`` as one line: ``path: what the system
    said``."""
    return '%s: %s' % (path, error.strerror or error)
