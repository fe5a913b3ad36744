"""Minibatch SGD with early stopping: the tutorial's ``logistic_sgd.py``.

``build_model`` compiles the three functions the tutorial names:
``train_model(i)`` takes one SGD step on training minibatch ``i`` and
returns its cost, ``validate_model(i)`` and ``test_model(i)`` return the
zero-one loss of a validation or test minibatch.

``sgd_optimization_mnist`` runs them.  Every ``validation_frequency``
steps (here: once an epoch) it validates; a new best validation error is
tested and saved (see ``training.Run``).  Training ends after ``n_epochs``,
or earlier once ``patience`` steps have gone by with no new best: each
improvement of at least 0.5 % pushes the patience out to twice the steps
taken so far.
"""
import numpy

from . import kernel
from .defaults import (BATCH_SIZE, DATASET, LEARNING_RATE, MODEL,
                       N_EPOCHS)
from .engine import (compiling_line, describe, host_array, quiet_autocast,
                     theano, T)
from .errors import TrainingInterrupted, TrainingStopped
from .progress import StatusLine
from .training import (Run, compile_now, evaluators, load_for_training,
                       minibatch, n_batches, new_model, prepared_outputs)


def build_model(datasets, learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE):
    """The classifier and the compiled ``train_model``, ``validate_model``
    and ``test_model`` over the three shared (x, y) pairs of ``datasets``.
    """
    classifier, index, x, y = new_model(datasets)
    cost = classifier.negative_log_likelihood(y)
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    errors = classifier.errors(y)
    # kernel.c computes the same in one pass, where it runs (float32, CPU)
    cost, g_W, g_b, errors, mode = kernel.fuse(classifier, y, cost, g_W, g_b,
                                               errors)

    # one plain gradient step on W and b per call
    with quiet_autocast():
        updates = [(classifier.W, classifier.W - learning_rate * g_W),
                   (classifier.b, classifier.b - learning_rate * g_b)]
    train_x, train_y = datasets[0]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates, mode=mode,
        givens=minibatch(x, y, train_x, train_y, index, batch_size))
    validate_model, test_model = evaluators(errors, index, x, y, datasets,
                                            batch_size, mode)
    return classifier, train_model, validate_model, test_model


class Watch(object):
    """What the loop looks out for besides the algorithm: a cost that
    became NaN or infinite (a learning rate too large), Ctrl-C or SIGTERM
    (``stop``), and a live progress line on a terminal.

    Reading a cost back from a GPU waits for the device, so the costs are
    kept where they are and looked at together (``check``), before each
    validation and at the end: no model with NaN weights is ever saved.
    """

    def __init__(self, stop, learning_rate, run, n_train_batches):
        self.stop = stop
        self.learning_rate = learning_rate
        self.run = run
        self.n_train_batches = n_train_batches
        self.status = StatusLine()
        self.costs = []
        self.checked = 0   # steps before self.costs[0]
        self.mean_cost = None   # of the steps checked last (the history)
        self.where = None   # the last step, in words

    def step(self, cost, epoch, minibatch_index):
        """Take note of a step's cost; show it now and then."""
        self.costs.append(cost)
        self.where = 'at epoch %i, minibatch %i/%i' % (
            epoch, minibatch_index + 1, self.n_train_batches)
        if self.status.enabled and self.status.due():
            self.status.update('epoch %i: minibatch %i/%i, cost %.4f' % (
                epoch, minibatch_index + 1, self.n_train_batches, cost))

    def check(self):
        """Raise TrainingStopped, naming the step, if a cost since the last
        check is not finite."""
        self.status.clear()
        costs = host_array(self.costs)
        bad = numpy.flatnonzero(~numpy.isfinite(costs))
        first = self.checked
        self.checked += len(self.costs)
        self.costs = []
        if not len(bad):
            self.mean_cost = float(costs.mean()) if len(costs) else None
        else:
            epoch, minibatch_index = divmod(first + int(bad[0]),
                                            self.n_train_batches)
            raise TrainingStopped(
                'the cost became %s at epoch %i, minibatch %i/%i: the '
                'learning rate %g is too large; %s' % (
                    costs[bad[0]], epoch + 1, minibatch_index + 1,
                    self.n_train_batches, self.learning_rate,
                    self.run.what_is_saved()))

    def stop_if_asked(self):
        """Raise TrainingInterrupted if Ctrl-C or SIGTERM asked to stop
        (TrainingStopped if the cost diverged before)."""
        if self.stop:
            self.check()
            raise TrainingInterrupted('training interrupted %s; %s' % (
                self.where, self.run.what_is_saved()))


def validate(run, epoch, minibatch_index, n_train_batches, iteration,
             **seen):
    """One validation of the loop: print it, keep a new best (printing its
    test error), record it with ``seen`` (see ``Run.keep_if_best``);
    return the loss and the best loss before it."""
    previous_best = run.best_validation_loss
    loss = run.validation_error()
    print('epoch %i, minibatch %i/%i, validation error %f %%'
          % (epoch, minibatch_index + 1, n_train_batches, loss * 100.),
          flush=True)
    if run.keep_if_best(loss, epoch, minibatch_index + 1, iteration + 1,
                        **seen):
        print('     epoch %i, minibatch %i/%i, test error of best model %f %%'
              % (epoch, minibatch_index + 1, n_train_batches,
                 run.test_score * 100.), flush=True)
    return loss, previous_best


def _prepare(dataset, learning_rate, batch_size, model_out):
    """The data, the model and its compiled functions, announced with the
    tutorial's lines: (the Run, train_model, training minibatches)."""
    datasets = load_for_training(dataset, batch_size, model_out)
    print('... building the model', flush=True)
    print(describe(), flush=True)
    print(compiling_line(), flush=True)
    classifier, train_model, validate_model, test_model = build_model(
        datasets, learning_rate, batch_size)
    compile_now(classifier.params, [train_model, validate_model, test_model])
    kernel.announce()
    run = Run(classifier, validate_model,
              n_batches(datasets[1][0], batch_size), test_model,
              n_batches(datasets[2][0], batch_size), model_out, dataset,
              learning_rate=learning_rate, batch_size=batch_size)
    return run, train_model, n_batches(datasets[0][0], batch_size)


def sgd_optimization_mnist(learning_rate=LEARNING_RATE, n_epochs=N_EPOCHS,
                           dataset=DATASET, batch_size=BATCH_SIZE,
                           model_out=MODEL):
    """Train on ``dataset`` (see ``data.load_data``) with the tutorial's
    minibatch SGD and early stopping, saving each new best to
    ``model_out`` (and the ``.npz`` and history beside it).

    Returns the best validation error, its test error, the epochs run and
    the epochs per second; raises TrainingStopped, after the summary, when
    the cost diverges, and TrainingInterrupted when Ctrl-C or SIGTERM
    stops the run.
    """
    with prepared_outputs(model_out) as stop:
        run, train_model, n_train_batches = _prepare(
            dataset, learning_rate, batch_size, model_out)
        stop.defer()   # a model to keep from now on: stop cleanly
        print('... training the model', flush=True)
        patience = 5000               # steps to take whatever happens
        patience_increase = 2         # on a real improvement, wait this
        improvement_threshold = 0.995  # many times longer; "real" = 0.5 %
        validation_frequency = min(n_train_batches, patience // 2)
        watch = Watch(stop, learning_rate, run, n_train_batches)
        epoch = 0
        done_looping = False
        try:
            while (epoch < n_epochs) and (not done_looping):
                epoch = epoch + 1
                for minibatch_index in range(n_train_batches):
                    minibatch_avg_cost = train_model(minibatch_index)
                    iter = (epoch - 1) * n_train_batches + minibatch_index
                    watch.step(minibatch_avg_cost, epoch, minibatch_index)
                    if (iter + 1) % validation_frequency == 0:
                        watch.check()
                        loss, best = validate(
                            run, epoch, minibatch_index, n_train_batches,
                            iter, training_cost=watch.mean_cost,
                            patience=patience)
                        if loss < best * improvement_threshold:
                            patience = max(patience, iter * patience_increase)
                    if patience <= iter:
                        done_looping = True
                        break
                    watch.stop_if_asked()
            watch.check()
        except TrainingStopped:
            run.summary(__file__, epochs=epoch)   # what was done, then why
            raise
        result = run.summary(__file__, epochs=epoch)
    return dict(result, epochs=epoch)
