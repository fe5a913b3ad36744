"""What the command lines share: argument checks and one-line errors.

Every ``python -m logreg_mnist.*`` command parses its arguments first (so
``--help`` answers at once, without importing Theano), then starts the
engine ``--engine`` names (see ``engine.start``) and runs.  Problems
the user can fix -- a missing file, a bad flag -- end the run with one line on
stderr and a non-zero exit status; ``--debug`` shows the full traceback
instead.  Bad command-line values exit with status 2 (argparse's usage
error), problems found while running with 1, and an interruption (Ctrl-C,
SIGTERM) with 130.  What the system refuses (a full disk, a file that
cannot be read or written, a standard output that is full or was closed
with ``>&-``) is one line too, naming the file.  When the reader of the
output goes away (``train | head -3``), the command ends quietly the way
Unix tools do, killed by SIGPIPE, with what it had saved kept.

This is the only module that knows flags and exit statuses: the library
raises ``errors`` that name the arguments of its functions, shown here as
the flags that set them.
"""
import argparse
import errno
import os
import re
import signal
import sys

from .. import ENGINE_VARIABLE
from ..defaults import BATCH_SIZE, DATASET, MODEL
from ..errors import LogregError, TrainingInterrupted, UsageError
from .phases import phase, restart

#: Exit statuses: a bad command-line value, a run stopped by the user.
USAGE, INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A bad argument: one line, not the usage block argparse prints."""
        self.exit(2, '%s: error: %s (see --help)\n' % (self.prog,
                                                        one_line(message)))

    def print_help(self, file=None):
        """The help, whose write errors are not ignored (argparse's are):
        see ``run``."""
        file = file or sys.stdout
        file.write(self.format_help())
        file.flush()


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):
        """Show defaults that say something: not 'None', 'False', or a
        second '(default: ...)' after a help text that explains its own."""
        if (action.default is None or action.default is False
                or '(default' in (action.help or '')):
            return action.help
        return super()._get_help_string(action)


def new_parser(prog, description):
    parser = _Parser(
        prog='python -m logreg_mnist.' + prog, description=description,
        formatter_class=_Formatter)
    parser.add_argument('--debug', action='store_true',
                        help='show full tracebacks instead of one-line errors')
    parser.add_argument('--engine', choices=['auto', 'theano', 'pytensor'],
                        help='the engine that runs the graph (default: $%s, '
                             'else auto: Theano 1.0.5 on Python <= 3.11, '
                             'PyTensor on 3.12+)' % ENGINE_VARIABLE)
    return parser


def add_training_arguments(parser, n_epochs, epochs_help):
    """The options ``train`` and ``cg`` share: data, length, batch, output."""
    from ..data import DATA_FOLDER_HELP
    parser.add_argument(
        '--dataset', type=dataset_name, default=DATASET,
        help="the tutorial's mnist.pkl.gz (looked for in the data folder, "
             "where the four IDX files do too; downloaded there when "
             "missing), another pickle of the same structure, or a "
             "directory holding the four MNIST IDX files. The data folder "
             "is " + DATA_FOLDER_HELP)
    parser.add_argument('--n-epochs', type=positive(int), default=n_epochs,
                        help=epochs_help)
    parser.add_argument('--batch-size', type=positive(int),
                        default=BATCH_SIZE,
                        help='examples per minibatch')
    parser.add_argument('--model-out', type=output_file,
                        default=MODEL,
                        help='where the best model is pickled on every '
                             'improvement; the .npz every command reads '
                             '(weights and provenance, no code) and the '
                             'history are written beside it')


def positive(kind):
    """An argparse type: a number of ``kind`` that is greater than zero."""
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < float('inf'):
            raise argparse.ArgumentTypeError(
                'expected a positive %s, got %r' % (kind.__name__, text))
        return value
    convert.__name__ = 'positive ' + kind.__name__
    return convert


def named(what):
    """An argparse type: a name of ``what`` that is not empty.  An empty
    name would be read as a folder (``os.path.join(folder, '')`` is the
    folder itself) or replaced by a default, so that a command would read
    what was not asked for -- the data folder, the default model's
    history."""
    def convert(text):
        if not text:
            raise argparse.ArgumentTypeError("'' names no %s" % what)
        return text
    convert.__name__ = what
    return convert


#: The types of ``--dataset`` and of the input files of every command.
dataset_name, input_file = named('dataset'), named('file')


def output_file(text):
    """An argparse type: a file path whose folder exists, that can be
    written (see ``files.writing.output_problem``)."""
    folder = os.path.dirname(os.path.abspath(text))
    if text and not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(
            'folder %s does not exist' % os.path.dirname(text))
    from ..files.writing import output_problem
    problem = output_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def exit_status(error):
    """The exit status for a ``LogregError``."""
    if isinstance(error, UsageError):
        return USAGE
    if isinstance(error, TrainingInterrupted):
        return INTERRUPTED
    return 1


def in_flags(message):
    """A library message with the arguments it names (`batch_size`)
    written as the flags that set them (--batch-size)."""
    return re.sub(r'`(\w+)`', lambda m: '--' + m.group(1).replace('_', '-'),
                  message)


def one_line(message):
    """``message`` with its control characters escaped: a file name may
    hold a newline, and an error stays one line."""
    return re.sub(r'[\x00-\x1f\x7f]',
                  lambda m: repr(m.group())[1:-1], message)


def _terminate(signum, frame):
    raise KeyboardInterrupt


class _NamedOutput(object):
    """``sys.stdout``, whose write errors name it (a full device, a closed
    pipe raise an OSError with no file name of its own)."""
    NAME = 'standard output'

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except OSError as e:
            e.filename = e.filename or self.NAME
            raise

    def flush(self):
        try:
            return self.stream.flush()
        except OSError as e:
            e.filename = e.filename or self.NAME
            raise

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _Closed(object):
    """The standard output of a process started with it closed (``>&-``),
    where Python's ``sys.stdout`` is None.  A write to it fails as a write
    to a closed descriptor does -- as ``ls >&-`` fails -- so that a run
    whose output went nowhere says so and does not end with status 0;
    a run that writes nothing there is not bothered."""

    def write(self, text):
        if text:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return 0

    def flush(self):
        pass

    def isatty(self):
        return False


def _hold_standard_descriptors():
    """Open /dev/null on any of the descriptors 0, 1, 2 that is closed.
    Otherwise the next file opened takes its number -- the temporary file
    a picture or a model is written to could become descriptor 1, and
    what a library or a child process writes to standard output would
    land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                pass


def _drop_stdout():
    """Send what stdout still holds to /dev/null, so that Python's own
    flush at exit does not fail on it a second time."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.__stdout__.fileno())
        os.close(null)
    except (OSError, AttributeError, ValueError):
        pass


def _end_like_unix_tools():
    """The reader of stdout is gone: end as `yes | head -1` does, killed
    by SIGPIPE, quietly."""
    _drop_stdout()
    sys.stderr.flush()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def system_error(e):
    """An OSError (or MemoryError) as one line that names its file."""
    if isinstance(e, MemoryError):
        return 'out of memory'
    what = e.strerror or str(e) or type(e).__name__
    files = [str(f) for f in (e.filename, e.filename2) if f is not None]
    return ': '.join(([' -> '.join(files)] if files else []) + [what])


def run(parser, action, argv=None, engine=True):
    """Parse ``argv`` with ``parser``, start the engine that ``--engine``
    names (see ``engine.start``), and call ``action(args)``.  ``engine``
    says whether the command runs the engine: True, False, or a function
    of the parsed arguments (a picture drawn from files alone needs
    none)."""
    restart()   # (where the seconds go: see ``phases``)
    _hold_standard_descriptors()
    stdout = sys.stdout
    sys.stdout = _NamedOutput(_Closed() if stdout is None else stdout)
    try:
        return _run(parser, action, argv, engine)
    finally:
        sys.stdout = stdout


def end_now():
    """End the process with status 0, the command done and its output
    flushed: the exit handlers run (the engines tidy their compile cache
    there), but the interpreter does not take apart, one object at a time,
    all that the engine built -- a quarter of a second for Theano's modules
    and graphs.  Nothing happens while a profiler or a tracer watches
    (they report after), another thread runs, or an output cannot be
    flushed: the process then ends as usual."""
    import atexit
    import threading
    if sys.getprofile() or sys.gettrace() or threading.active_count() > 1:
        return
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(0)


def _run(parser, action, argv, engine):
    def fail(status, message):
        parser.exit(status, '%s: %s\n' % (parser.prog, one_line(message)))

    try:
        args = parser.parse_args(argv)   # (--help writes to stdout)
    except BrokenPipeError:
        _end_like_unix_tools()
    except OSError as e:
        _drop_stdout()
        fail(1, 'error: ' + system_error(e))
    # `kill` (SIGTERM) stops a run as cleanly as Ctrl-C does
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if engine(args) if callable(engine) else engine:
            from ..engine import start
            with phase('import'):
                start(args.engine)   # (None: $LOGREG_MNIST_ENGINE, else auto)
        from ..files.writing import reading_inputs
        with reading_inputs():   # no output may replace what it reads
            result = action(args)
        sys.stdout.flush()   # here, where a failure is still ours to report
        return result
    except LogregError as e:
        if args.debug:
            raise
        fail(exit_status(e), 'error: ' + in_flags(str(e)))
    except KeyboardInterrupt:
        if args.debug:
            raise
        fail(INTERRUPTED, 'interrupted')
    except BrokenPipeError:
        if args.debug:
            _drop_stdout()
            raise
        _end_like_unix_tools()
    except Exception as e:   # MemoryError and OSError among them
        if getattr(e, 'filename', None) == _NamedOutput.NAME:
            _drop_stdout()
        started = sys.modules.get(__package__.rsplit('.', 1)[0] + '.engine')
        problem = started and started.failure(e)
        if problem is None and isinstance(e, (OSError, MemoryError)):
            problem = system_error(e)
        if args.debug or not problem:
            raise
        fail(1, 'error: %s' % problem)
