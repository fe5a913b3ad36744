"""The model fitted by conjugate gradient (``python -m logreg_mnist.cg``).

The tutorial's ``logistic_cg.py``.  SciPy's ``fmin_cg`` works on one flat
vector, so ``theta`` packs ``W`` (row after row) and then ``b``.  The cost
it minimises is the mean negative log-likelihood over the whole training
set, and its gradient, both averaged over the training minibatches (a
shorter last one included); Theano computes them one minibatch at a time.
CG suits a small, smooth problem like this one: no learning rate to tune,
and a few dozen iterations get close to the optimum.

After every CG iteration the model is validated; a new best is tested and
saved just as SGD saves it, so ``predict`` and the pictures work on it.
"""
import numpy
import scipy.optimize

from .defaults import BATCH_SIZE, CG_ITERATIONS, DATASET, MODEL
from .engine import compiling_line, describe, theano, T
from .errors import TrainingInterrupted
from .cli.progress import StatusLine
from .engine.graph import compile_now, minibatch, n_batches
from .training import (Run, evaluators, load_for_training, new_model,
                       prepared_outputs)


class _StopRequested(Exception):
    """Leaves fmin_cg from the callback, between two iterations."""


class Objective(object):
    """The training cost and its gradient as functions of a flat ``theta``,
    for ``fmin_cg``, computed by compiled functions of the classifier."""

    def __init__(self, classifier, index, x, y, train, batch_size):
        self.classifier = classifier
        self.n_in, self.n_out = classifier.W.get_value(borrow=True).shape
        self.n_batches = n_batches(train[0], batch_size, partial=True)
        cost = classifier.negative_log_likelihood(y)
        givens = minibatch(x, y, train[0], train[1], index, batch_size)
        self.batch_cost = theano.function([index], cost, givens=givens)
        self.batch_grad = theano.function(
            [index], T.grad(cost, classifier.params), givens=givens)
        self.status = StatusLine()
        self.iteration = 0   # CG iterations finished
        self.loaded = None   # the theta W and b hold
        self.loaded_cost = None   # the cost there, once computed

    def load(self, theta):
        """Make ``theta`` the classifier's W and b (unless they are already:
        fmin_cg asks for the cost and the gradient at the same point, and
        on a GPU each load is an upload)."""
        theta = numpy.asarray(theta, dtype=theano.config.floatX)
        if self.loaded is not None and numpy.array_equal(theta, self.loaded):
            return
        self.loaded = theta.copy()
        self.loaded_cost = None
        split = self.n_in * self.n_out
        self.classifier.W.set_value(
            theta[:split].reshape(self.n_in, self.n_out), borrow=True)
        self.classifier.b.set_value(theta[split:], borrow=True)

    def theta(self):
        return numpy.concatenate([self.classifier.W.get_value().ravel(),
                                  self.classifier.b.get_value()])

    def _show(self, what, i):
        if self.status.enabled:
            self.status.update('CG iteration %i: %s, minibatch %i/%i' % (
                self.iteration + 1, what, i + 1, self.n_batches))

    def cost(self, theta):
        self.load(theta)
        costs = []
        for i in range(self.n_batches):
            self._show('cost', i)
            costs.append(self.batch_cost(i))
        self.loaded_cost = numpy.mean(costs)
        return self.loaded_cost

    def gradient(self, theta):
        self.load(theta)
        total = numpy.zeros((self.n_in + 1) * self.n_out)
        for i in range(self.n_batches):
            self._show('gradient', i)
            g_W, g_b = self.batch_grad(i)
            total += numpy.concatenate([numpy.ravel(g_W), g_b])
        return total / self.n_batches


def cg_optimization_mnist(n_epochs=CG_ITERATIONS, dataset=DATASET,
                          batch_size=BATCH_SIZE, model_out=MODEL):
    """Fit the classifier to ``dataset`` with at most ``n_epochs`` CG
    iterations, saving each new best to ``model_out``.

    Returns the best validation error and its test error, the iterations
    run, and the training cost before and after.
    """
    with prepared_outputs(model_out) as stop:
        datasets = load_for_training(dataset, batch_size, model_out)
        print('... building the model', flush=True)
        print(describe(), flush=True)
        print(compiling_line(), flush=True)
        classifier, index, x, y = new_model(datasets)
        objective = Objective(classifier, index, x, y, datasets[0],
                              batch_size)
        validate_model, test_model = evaluators(
            classifier.errors(y), index, x, y, datasets, batch_size)
        compile_now(classifier.params, [objective.batch_cost,
                                        objective.batch_grad,
                                        validate_model, test_model])

        stop.defer()   # a model to keep from now on: stop cleanly
        print('Optimizing using scipy.optimize.fmin_cg...', flush=True)
        theta0 = numpy.zeros((objective.n_in + 1) * objective.n_out,
                             dtype=x.dtype)
        initial_cost = objective.cost(theta0)
        run = Run(classifier,
                  validate_model,
                  n_batches(datasets[1][0], batch_size, partial=True),
                  test_model,
                  n_batches(datasets[2][0], batch_size, partial=True),
                  model_out, dataset, optimizer='cg', batch_size=batch_size)

        def after_iteration(theta):
            objective.iteration += 1
            objective.load(theta)
            loss = run.validation_error()
            objective.status.clear()
            print('validation error %f %%' % (loss * 100.), flush=True)
            run.keep_if_best(loss, objective.iteration, objective.n_batches,
                             objective.iteration,
                             training_cost=objective.loaded_cost)
            if stop:
                raise _StopRequested

        stopped = None
        try:
            scipy.optimize.fmin_cg(f=objective.cost, x0=theta0,
                                   fprime=objective.gradient,
                                   callback=after_iteration, disp=0,
                                   maxiter=n_epochs)
        except _StopRequested:
            stopped = TrainingInterrupted(
                'training interrupted after CG iteration %i; %s'
                % (objective.iteration, run.what_is_saved()))
        objective.status.clear()
        result = run.summary('cg.py')   # the command's name, as before
    if stopped is not None:
        raise stopped
    return dict(result, iterations=objective.iteration,
                initial_cost=float(initial_cost),
                final_cost=float(objective.cost(objective.theta())))
