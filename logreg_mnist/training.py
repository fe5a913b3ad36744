"""What the two optimisers (``sgd`` and ``cg``) have in common.

Both train a ``LogisticRegression`` on the shared datasets, judge it on the
validation minibatches, and whenever it beats its best validation error so
far, measure it on the test minibatches and save it.  This module holds
those shared pieces, so that ``sgd.py`` and ``conjugate_gradient.py`` hold
little but their own algorithm:

* ``minibatch`` / ``n_batches`` (from ``engine.graph``): how a compiled
  function reads one minibatch of a shared dataset in place, on the
  engine that runs it;
* ``prepared_outputs``: the output files checked and locked before any
  data is read, and Ctrl-C turned into a request to stop cleanly;
* ``load_for_training``: the data, refused when a split is smaller than a
  minibatch;
* ``new_model`` / ``evaluators``: the classifier, and its compiled
  zero-one loss on the validation and test minibatches;
* ``Run``: the compiled evaluators, the best model so far, its history and
  saving, and the closing summary.
"""
import contextlib
import os
import sys
import timeit

import numpy

from .data import N_CLASSES, SPLITS, load_data
from .engine import theano, T
from .engine.graph import compile_now, exact_errors, minibatch, n_batches
from .errors import DataError, UsageError
from .files.history import History
from .model import LogisticRegression
from .files.modelfile import HISTORY_SUFFIX, model_set, save_model
from .cli import phases
from .cli.signals import stop_requests
from .files.writing import (check_target, check_writable, exclusive,
                     reading_inputs)




@contextlib.contextmanager
def prepared_outputs(model_out):
    """Check the outputs before anything slow happens, hold them against a
    second run, and yield a ``StopRequest`` (Ctrl-C / SIGTERM)."""
    if model_out.endswith(HISTORY_SUFFIX):   # (another set's history)
        raise UsageError('`model_out` %s names a training history; choose '
                         'a model file name, such as best_model.pkl'
                         % model_out)
    check_writable(model_set(model_out))
    with reading_inputs(), exclusive(model_out), stop_requests() as stop:
        yield stop


def load_for_training(dataset, batch_size, model_out):
    """``load_data``, then sure that no output would overwrite a file it
    read and that every split has at least one minibatch (the tutorial's
    floor division would otherwise give zero batches)."""
    datasets = load_data(dataset)
    for path in model_set(model_out):
        check_target(path, '`model_out`')
    for name, (set_x, _) in zip(SPLITS, datasets):
        rows = set_x.get_value(borrow=True).shape[0]
        if rows < batch_size:
            raise DataError(
                '%s: the %s split has %d examples, fewer than one minibatch '
                'of %d; use a smaller `batch_size`'
                % (dataset, name, rows, batch_size))
    return datasets


def new_model(datasets):
    """The tutorial's symbols and classifier for ``datasets`` (shared
    (x, y) pairs): ``(classifier, index, x, y)``."""
    index = T.lscalar('index')   # which minibatch a call works on
    x = T.matrix('x')            # its images, one flattened image a row
    y = T.ivector('y')           # and their labels
    n_in = datasets[0][0].get_value(borrow=True).shape[1]   # 784 for MNIST
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=N_CLASSES)
    return classifier, index, x, y


def evaluators(errors, index, x, y, datasets, batch_size, mode=None):
    """``validate_model`` and ``test_model``: ``evaluator`` on the
    validation and the test split of ``datasets``."""
    return tuple(evaluator(errors, index, x, y, split, batch_size, mode)
                 for split in datasets[1:])


def evaluator(errors, index, x, y, data, batch_size, mode=None):
    """A compiled ``f(index)``: ``errors``, the zero-one loss of a
    classifier of ``x`` and labels ``y``, on that minibatch of ``data``, a
    shared (x, y) pair; compiled in ``mode``.

    The loss is a count of mistakes over ``batch_size``; ``exact_errors``
    makes sure it is that fraction as the CPU computes it, whatever the
    engine computes, so that the printed trace is the same everywhere.
    """
    compiled = theano.function(
        inputs=[index], outputs=errors, mode=mode,
        givens=minibatch(x, y, data[0], data[1], index, batch_size))
    return exact_errors(compiled, batch_size)


class Run(object):
    """One training run: the best model so far, and what happens to it.

    ``validate_model`` and ``test_model`` are compiled ``f(i)`` giving the
    zero-one loss of minibatch ``i``; ``n_valid_batches`` and
    ``n_test_batches`` say how many there are.  ``provenance`` goes into
    every saved ``.npz``.
    """

    def __init__(self, classifier, validate_model, n_valid_batches,
                 test_model, n_test_batches, model_out, dataset,
                 **provenance):
        self.classifier = classifier
        self.validate_model, self.n_valid_batches = (validate_model,
                                                     n_valid_batches)
        self.test_model, self.n_test_batches = test_model, n_test_batches
        self.model_out = model_out
        self.provenance = dict(provenance, dataset=str(dataset))
        self.history = History(model_out)
        self.best_validation_loss = numpy.inf
        self.test_score = 0.
        self.saved = False
        self.start_time = timeit.default_timer()
        phases.begin('train')   # (until the summary)

    def validation_error(self):
        """The mean zero-one loss over the validation minibatches."""
        return numpy.mean([self.validate_model(i)
                           for i in range(self.n_valid_batches)])

    def keep_if_best(self, loss, epoch, minibatch, iteration, **seen):
        """Record a validation (with what ``seen`` adds to the history:
        ``training_cost``, ``patience``); if ``loss`` is a new best, test
        the model and save it with the history.  True for a new best."""
        improved = loss < self.best_validation_loss
        if improved:
            self.best_validation_loss = loss
            self.test_score = numpy.mean([self.test_model(i)
                                          for i in range(self.n_test_batches)])
        self.history.record(epoch, minibatch, iteration, loss,
                            self.test_score if improved else None, **seen)
        if improved:   # the model and its history, replaced together
            with phases.phase('save'):
                save_model(self.classifier, self.model_out,
                           beside=[(self.history.path,
                                    self.history.content())],
                           epoch=epoch, minibatch=minibatch,
                           validation_error=loss, test_error=self.test_score,
                           **self.provenance)
            self.saved = True
        return improved

    def what_is_saved(self):
        """What an early stop leaves on disk, in words."""
        if not self.saved:
            return 'no model was saved'
        return 'the best model so far is in %s' % self.model_out

    def summary(self, program, epochs=None):
        """The tutorial's closing lines; the history gets its last rows."""
        elapsed = timeit.default_timer() - self.start_time
        phases.end('train')
        if self.saved:
            with phases.phase('save'):
                self.history.save()
        print('Optimization complete with best validation score of %f %%, '
              'with test performance %f %%'
              % (self.best_validation_loss * 100., self.test_score * 100.))
        if epochs is not None:
            print('The code run for %d epochs, with %f epochs/sec'
                  % (epochs, epochs / elapsed))
        print('The code for file %s ran for %.1fs'
              % (os.path.basename(program), elapsed), file=sys.stderr)
        return {'best_validation_loss': float(self.best_validation_loss),
                'test_score': float(self.test_score),
                'epochs_per_sec': (epochs / elapsed) if epochs else None}
