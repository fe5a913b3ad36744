"""The training history: one CSV row per validation, beside the model.

Training (SGD or CG) writes ``best_model.history.csv`` next to
``best_model.pkl``: the epoch (or CG iteration), minibatch and iteration of
each validation, its validation error and, when it was a new best, the test
error of that model (errors as fractions, as ``errors()`` returns them).
Rows are flushed as they come, so the curve of a run can be drawn while it
runs or after it was stopped.
"""
import csv
import os

from .errors import DataError

FIELDS = ['epoch', 'minibatch', 'iteration', 'validation_error',
          'test_error']


def history_path(model_out):
    """``best_model.pkl`` -> ``best_model.history.csv``."""
    return os.path.splitext(model_out)[0] + '.history.csv'


class History(object):
    """Appends rows to the history file of ``model_out`` (a new file)."""

    def __init__(self, model_out):
        self.path = history_path(model_out)
        self.file = open(self.path, 'w', newline='')
        self.writer = csv.writer(self.file)
        self.writer.writerow(FIELDS)
        self.file.flush()

    def record(self, epoch, minibatch, iteration, validation_error,
               test_error=None):
        self.writer.writerow([epoch, minibatch, iteration,
                              repr(float(validation_error)),
                              '' if test_error is None
                              else repr(float(test_error))])
        self.file.flush()

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_history(path):
    """The rows of a history file as dicts (test_error None when absent).

    A last line cut short by a crash is ignored."""
    try:
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DataError('%s: %s' % (path, e.strerror or e)) from None
    out = []
    for row in rows:
        try:
            out.append({'epoch': int(row['epoch']),
                        'minibatch': int(row['minibatch']),
                        'iteration': int(row['iteration']),
                        'validation_error': float(row['validation_error']),
                        'test_error': (float(row['test_error'])
                                       if row['test_error'] else None)})
        except (KeyError, TypeError, ValueError):
            if row is not rows[-1]:
                raise DataError('%s is not a training history: bad row %r'
                                % (path, row)) from None
    if not out:
        raise DataError('%s holds no validation rows' % path)
    return out
