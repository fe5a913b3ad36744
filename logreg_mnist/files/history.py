"""The training history: one CSV row per validation, beside the model.

Training (SGD or CG) writes ``best_model.history.csv`` next to
``best_model.pkl``: the epoch (or CG iteration), minibatch and iteration of
each validation, its validation error and, when it was a new best, the test
error of that model (errors as fractions, as ``errors()`` returns them),
then the mean training cost since the previous validation (SGD: the mean of
the epoch's minibatch costs; CG: the cost over the training set) and, for
SGD, the patience in force during those steps (the iteration at which
training stops unless a new best pushes it further out).

Files written before the last two columns existed are still read: the
missing values come back as None.  What is read must be something a plot
can place: counts from 1 to below 2**53 (exact as floats), error rates in
0..1, costs from 0 to 1e300, at most ``MOST_ROWS`` rows of at most
``MOST_COLUMNS`` columns, in at most ``MOST_BYTES``; anything else is
refused in one line that names the file, the line and the value.

The file is rewritten whole, atomically, each time the model is saved and
when the run ends -- so it always describes the model beside it, a symlink
in its place is replaced rather than followed, and a run that saves no
model leaves the history of the previous one alone.
"""
import csv
import io
import re

import numpy

from . import reading
from ..errors import DataError, quoted
from .modelfile import history_path
from .writing import atomic_write

FIELDS = ['epoch', 'minibatch', 'iteration', 'validation_error',
          'test_error', 'training_cost', 'patience']


def _cell(value, kind):
    return '' if value is None else repr(kind(value))


class History(object):
    """The validations of one run, written beside ``model_out``."""

    def __init__(self, model_out):
        self.path = history_path(model_out)
        self.rows = []

    def record(self, epoch, minibatch, iteration, validation_error,
               test_error=None, training_cost=None, patience=None):
        self.rows.append([epoch, minibatch, iteration,
                          _cell(validation_error, float),
                          _cell(test_error, float),
                          _cell(training_cost, float),
                          _cell(patience, int)])

    def content(self):
        """The file's bytes: every row recorded so far."""
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(FIELDS)
        writer.writerows(self.rows)
        return text.getvalue().encode('ascii')

    def save(self):
        """Replace the file with every row recorded so far."""
        with atomic_write(self.path) as f:
            f.write(self.content())


#: Counts (epoch, minibatch, iteration, patience) are below this: a plot
#: computes with them as floats, which hold every whole number below it
#: exactly (and overflow on an integer of a few hundred digits).
MOST_COUNT = 2 ** 53

#: The largest training cost read: matplotlib computes the ticks and
#: margins of an axis in floats, and overflows near the largest one.
MOST_COST = 1e300

#: The most validation rows read: a learning curve of more cannot show
#: them apart, and takes seconds and hundreds of MB per 100,000 to draw.
MOST_ROWS = 100000

#: The columns every history has (the others may be missing).
REQUIRED = FIELDS[:4]

#: The most columns a history's first line may name: those of ``FIELDS``
#: and some to spare.  (A reader fills a dict of every column for each row:
#: a header of a million columns took a minute for 200 rows.)
MOST_COLUMNS = 32

#: The most bytes a history file may hold: ``MOST_ROWS`` rows of the
#: longest values read take about 13 MB.  (A file in /proc says it holds
#: 0 bytes, and holds gigabytes.)
MOST_BYTES = 16 << 20


def _value(row, key, kind):
    """The number in column ``key`` (None when empty or absent), or a
    ValueError that quotes it."""
    text = row.get(key)
    if text is None or (text == '' and key not in REQUIRED):
        if key in REQUIRED:
            raise ValueError('no %s' % key)
        return None
    if kind is int:
        if not re.fullmatch(r'[+-]?[0-9]+', text):
            raise ValueError('%s %s: not a whole number' % (key, quoted(text)))
        digits = text.lstrip('+-')
        # (int() of thousands of digits takes long, or refuses)
        value = (MOST_COUNT if len(digits.lstrip('0')) > len(str(MOST_COUNT))
                 else int(digits)) * (-1 if text[0] == '-' else 1)
        if value < 1:
            raise ValueError('%s %s: %s' % (
                key, quoted(text), 'a patience below 1' if key == 'patience'
                else 'counts start at 1'))
        if value >= MOST_COUNT:
            raise ValueError('%s %s: a count of 2**53 or more, which a plot '
                             'cannot place' % (key, quoted(text)))
        return value
    try:
        value = float(text)
    except ValueError:
        raise ValueError('%s %s: not a number' % (key, quoted(text))) \
            from None
    if key == 'training_cost':
        if not 0 <= value < numpy.inf:
            raise ValueError('%s %s: a training cost that is negative or not '
                             'finite' % (key, quoted(text)))
        if value > MOST_COST:
            raise ValueError('%s %s: a training cost above %g, which a plot '
                             'cannot place' % (key, quoted(text), MOST_COST))
    elif not 0 <= value <= 1:
        raise ValueError('%s %s: an error rate outside 0..1'
                         % (key, quoted(text)))
    return value


def _row(row):
    """One CSV row as a dict of numbers, or ValueError."""
    return {key: _value(row, key, int if key in (
        'epoch', 'minibatch', 'iteration', 'patience') else float)
        for key in FIELDS}


def _read(path):
    """The bytes of the history file ``path``: at most ``MOST_BYTES`` of
    them (or the input limit, if that is lower), or DataError."""
    limit = reading.limit_bytes()
    budget = reading.Budget(path, min(limit, MOST_BYTES))
    too_big = DataError('%s holds more than %d MB, more than a training '
                        'history does' % (path, MOST_BYTES >> 20))
    if limit <= MOST_BYTES:   # (the input limit's message, which says how
        return reading.read_bytes(path, budget=budget)  # to raise it)
    if reading.check_regular(path).st_size > MOST_BYTES:
        raise too_big
    try:
        return reading.read_bytes(path, budget=budget)
    except DataError:
        if budget.spent > budget.limit:
            raise too_big from None
        raise


def read_history(path):
    """The rows of a history file as dicts (None where a value is absent)."""
    raw = _read(path)
    out = []
    try:
        reader = csv.DictReader(io.StringIO(raw.decode('ascii')))
        if reader.fieldnames and len(reader.fieldnames) > MOST_COLUMNS:
            raise ValueError('line 1: %d columns, more than the %d a '
                             'history may have'
                             % (len(reader.fieldnames), MOST_COLUMNS))
        for key in REQUIRED if reader.fieldnames else ():   # (empty file)
            if key not in reader.fieldnames:
                raise ValueError('line 1 names no %s column' % key)
        for row in reader:
            if len(out) == MOST_ROWS:
                raise DataError('%s holds more than %d validation rows, more '
                                'than a learning curve can show'
                                % (path, MOST_ROWS))
            try:
                out.append(_row(row))
            except ValueError as e:
                raise ValueError('line %d: %s' % (reader.line_num, e)) \
                    from None
    except (UnicodeDecodeError, csv.Error, ValueError) as e:
        raise DataError('%s is not a training history (%s)'
                        % (path, e)) from None
    if not out:
        raise DataError('%s holds no validation rows' % path)
    return out
