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
from .engine import (compiling_line, describe, host_array, quiet_autocast,
                     theano, T)
from .errors import TrainingStopped
from .model import LogisticRegression
from .progress import StatusLine
from .training import (Run, compile_now, evaluator, load_for_training,
                       minibatch, n_batches, prepared_outputs)


def build_model(datasets, learning_rate=0.13, batch_size=600):
    """The classifier and the compiled ``train_model``, ``validate_model``
    and ``test_model`` over the three shared (x, y) pairs of ``datasets``.
    """
    train, valid, test = datasets
    index = T.lscalar('index')   # which minibatch a call works on
    x = T.matrix('x')            # its images, one flattened image a row
    y = T.ivector('y')           # and their labels
    n_in = train[0].get_value(borrow=True).shape[1]   # 784 for MNIST
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=10)
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
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates, mode=mode,
        givens=minibatch(x, y, train[0], train[1], index, batch_size))
    validate_model = evaluator(errors, index, x, y, valid, batch_size, mode)
    test_model = evaluator(errors, index, x, y, test, batch_size, mode)
    return classifier, train_model, validate_model, test_model


class DivergenceWatch(object):
    """Catches a cost that became NaN or infinite (a learning rate too
    large) without asking for each step's cost: on a GPU, reading a value
    back waits for the device, so the costs are kept where they are and
    looked at together, once before each validation and at the end.  No
    model with NaN weights is ever saved."""

    def __init__(self, n_train_batches):
        self.n_train_batches = n_train_batches
        self.costs = []
        self.checked = 0   # steps before self.costs[0]
        self.mean_cost = None   # of the steps looked at last (the history)

    def add(self, cost):
        self.costs.append(cost)

    def diverged(self, learning_rate, run):
        """None, or the TrainingStopped that names the first bad step."""
        costs = host_array(self.costs)
        bad = numpy.flatnonzero(~numpy.isfinite(costs))
        first = self.checked
        self.checked += len(self.costs)
        self.costs = []
        if not len(bad):
            self.mean_cost = float(costs.mean()) if len(costs) else None
            return None
        epoch, minibatch_index = divmod(first + int(bad[0]),
                                        self.n_train_batches)
        return TrainingStopped(
            'the cost became %s at epoch %i, minibatch %i/%i: the learning '
            'rate %g is too large; %s' % (
                costs[bad[0]], epoch + 1, minibatch_index + 1,
                self.n_train_batches, learning_rate, run.what_is_saved()))


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


def sgd_optimization_mnist(learning_rate=0.13, n_epochs=1000,
                           dataset='mnist.pkl.gz', batch_size=600,
                           model_out='best_model.pkl'):
    """Train on ``dataset`` (see ``data.load_data``) with the tutorial's
    minibatch SGD and early stopping, saving each new best to
    ``model_out`` (and the ``.npz`` and history beside it).

    Returns the best validation error, its test error, the epochs run and
    the epochs per second; raises TrainingStopped, after the summary, when
    the cost diverges or Ctrl-C / SIGTERM stops the run.
    """
    with prepared_outputs(model_out) as stop:
        run, train_model, n_train_batches = _prepare(
            dataset, learning_rate, batch_size, model_out)
        print('... training the model', flush=True)
        patience = 5000               # steps to take whatever happens
        patience_increase = 2         # on a real improvement, wait this
        improvement_threshold = 0.995  # many times longer; "real" = 0.5 %
        validation_frequency = min(n_train_batches, patience // 2)
        status = StatusLine()   # a live line on a terminal, else nothing
        watch = DivergenceWatch(n_train_batches)
        stopped = None
        epoch = 0
        done_looping = False
        while epoch < n_epochs and not done_looping:
            epoch = epoch + 1
            for minibatch_index in range(n_train_batches):
                minibatch_avg_cost = train_model(minibatch_index)
                iter = (epoch - 1) * n_train_batches + minibatch_index
                watch.add(minibatch_avg_cost)
                if status.enabled and status.due():
                    status.update('epoch %i: minibatch %i/%i, cost %.4f' % (
                        epoch, minibatch_index + 1, n_train_batches,
                        minibatch_avg_cost))
                validating = (iter + 1) % validation_frequency == 0
                if validating or patience <= iter or stop or (
                        epoch == n_epochs and
                        minibatch_index == n_train_batches - 1):
                    stopped = watch.diverged(learning_rate, run)
                if validating and not stopped:
                    status.clear()
                    loss, best = validate(run, epoch, minibatch_index,
                                          n_train_batches, iter,
                                          training_cost=watch.mean_cost,
                                          patience=patience)
                    if loss < best * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                if not stopped and patience > iter and stop:
                    stopped = TrainingStopped(
                        'training interrupted at epoch %i, minibatch %i/%i; '
                        '%s' % (epoch, minibatch_index + 1, n_train_batches,
                                run.what_is_saved()), exit_code=130)
                if stopped or patience <= iter:
                    done_looping = True
                    break
        status.clear()
        result = run.summary(__file__, epochs=epoch)
    if stopped is not None:
        raise stopped
    return dict(result, epochs=epoch)
