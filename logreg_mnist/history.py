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
missing values come back as None.

The file is rewritten whole, atomically, each time the model is saved and
when the run ends -- so it always describes the model beside it, a symlink
in its place is replaced rather than followed, and a run that saves no
model leaves the history of the previous one alone.
"""
import csv
import io
import os

import numpy

from . import untrusted
from .errors import DataError
from .safety import atomic_write

FIELDS = ['epoch', 'minibatch', 'iteration', 'validation_error',
          'test_error', 'training_cost', 'patience']


def _cell(value, kind):
    return '' if value is None else repr(kind(value))


def history_path(model_out):
    """``best_model.pkl`` -> ``best_model.history.csv``."""
    return os.path.splitext(model_out)[0] + '.history.csv'


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


def _row(row):
    """One CSV row as a dict of numbers, or ValueError."""
    out = {k: int(row[k]) for k in ('epoch', 'minibatch', 'iteration')}
    out['validation_error'] = float(row['validation_error'])
    for key, kind in (('test_error', float), ('training_cost', float),
                      ('patience', int)):
        out[key] = kind(row[key]) if row.get(key) else None   # or an old file
    if min(out[k] for k in ('epoch', 'minibatch', 'iteration')) < 1:
        raise ValueError('counts start at 1')
    for key in ('validation_error', 'test_error'):
        if out[key] is not None and not 0 <= out[key] <= 1:
            raise ValueError('an error rate outside 0..1')
    if out['training_cost'] is not None and not (
            0 <= out['training_cost'] < numpy.inf):
        raise ValueError('a training cost that is negative or not finite')
    if out['patience'] is not None and out['patience'] < 1:
        raise ValueError('a patience below 1')
    return out


def read_history(path):
    """The rows of a history file as dicts (None where a value is absent)."""
    raw = untrusted.read_bytes(path)
    try:
        rows = list(csv.DictReader(io.StringIO(raw.decode('ascii'))))
        out = [_row(row) for row in rows]
    except (UnicodeDecodeError, csv.Error, KeyError, TypeError,
            ValueError) as e:
        raise DataError('%s is not a training history (%s)'
                        % (path, e)) from None
    if not out:
        raise DataError('%s holds no validation rows' % path)
    return out
