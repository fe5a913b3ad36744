"""Where the seconds of a run go: ``train --profile``.

The library marks its slow steps: ``with phase('load'):`` around reading
the data, ``'build'`` around building and compiling the functions,
``'save'`` around each save, ``'import'`` around importing the engine; a
training ``Run`` is ``'train'`` from its start to its summary.  Every
second is counted once, in the innermost phase it is spent in: a save
during training is a save, not training.  What no phase holds is
``'other'`` (parsing the arguments, checking the outputs), and what went by
before the command began (Python starting, its first imports) is
``'import'``.  Counting costs two clock readings a phase, so it always
runs; ``report`` says what it counted.
"""
import contextlib
import os
import sys
import time

#: The phases, in the order a run goes through them, with what each holds.
PHASES = (('import', 'Python, the package and the engine'),
          ('load', 'the data, decoded or read back from the cache'),
          ('build', 'the graph, its functions compiled or loaded'),
          ('train', 'the epochs, with their validations and tests'),
          ('save', 'the best model and its history, %d writes'),
          ('other', 'arguments, checks, what is printed around'))

_clock = time.perf_counter
_began = _clock()        # when the command began (see ``restart``)
_spent = {}              # seconds by phase
_entered = {}            # how many times each phase began
_open = ['other']        # the phases the run is in, innermost last
_since = _began          # when the innermost one was last counted


def restart():
    """Count from zero, a command beginning: what went before counts as
    ``'import'``.  (A process may run several, as the tests do.)"""
    global _began, _since
    _began = _since = _clock()
    _spent.clear()
    _entered.clear()
    del _open[1:]


def _count():
    global _since
    now = _clock()
    _spent[_open[-1]] = _spent.get(_open[-1], 0.) + now - _since
    _since = now
    return now


def begin(name):
    """From now on, count the seconds in ``name`` (one of ``PHASES``),
    until ``end(name)`` or a phase inside it begins."""
    _count()
    _open.append(name)
    _entered[name] = _entered.get(name, 0) + 1


def end(name):
    """Stop counting in ``name`` (if it runs, with the phases inside it)
    and go back to the phase it began in."""
    if name in _open[1:]:
        _count()
        del _open[len(_open) - 1 - _open[::-1].index(name):]


@contextlib.contextmanager
def phase(name):
    """Count the seconds of the block in ``name``, but for those of the
    phases inside it."""
    begin(name)
    try:
        yield
    finally:
        end(name)


def process_age():
    """Seconds since this process started, as the system recorded it
    (Linux), else None."""
    try:
        with open('/proc/self/stat') as f:
            fields = f.read().rpartition(')')[2].split()
        started = int(fields[19]) / os.sysconf('SC_CLK_TCK')
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def seconds():
    """``({phase: seconds}, total, since)``: what each phase took so far,
    the wall time, and since when: the process started where the system
    says when, else the command began."""
    now = _count()
    spent = {name: _spent.get(name, 0.) for name, _ in PHASES}
    age = process_age()
    if age is None:
        return spent, now - _began, 'the command began'
    spent['import'] += max(0., age - (now - _began))
    return spent, max(age, now - _began), 'the process started'


def report(file=None):
    """Print where the seconds of the run went, one line a phase, then
    the total (on stderr, with the run's other timing line)."""
    spent, total, since = seconds()
    file = file or sys.stderr
    print('... where the %.1fs of this run went (--profile):' % total,
          file=file)
    for name, what in PHASES:
        if '%d' in what:
            what = what % _entered.get(name, 0)
        print('    %-6s %7.2fs  %s' % (name, spent[name], what), file=file)
    print('    %-6s %7.2fs  wall time since %s' % ('total', total, since),
          file=file, flush=True)
