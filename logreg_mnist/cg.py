"""``python -m logreg_mnist.cg``: the same model trained by conjugate gradient.

This is the tutorial's ``logistic_cg.py``: instead of minibatch SGD, SciPy's
``fmin_cg`` minimises the mean negative log-likelihood over the whole
training set, the better optimiser for small problems.  It sees the
parameters as one flat vector ``theta = (W.flatten(), b)``; Theano computes
the cost and the gradient minibatch by minibatch (``batch_cost``,
``batch_grad``), and ``train_fn`` / ``train_fn_grad`` average them over the
training set.  After every CG iteration ``callback`` validates, and on a new
best it tests and saves the model (``.pkl`` and ``.npz``, as SGD does), so
``predict`` and the plots work on it.
"""
import os
import sys
import timeit

import numpy
import scipy.optimize

from . import cli
from .engine import describe, minibatch, n_batches, theano, T
from .errors import TrainingStopped
from .history import History
from .model import LogisticRegression, save_model
from .progress import StatusLine
from .safety import stop_requests
from .sgd import load_for_training, saved_note


class _StopRequested(Exception):
    """Raised from the callback to leave fmin_cg at a safe point."""


def cg_optimization_mnist(n_epochs=50, dataset='mnist.pkl.gz',
                          batch_size=600, model_out='best_model.pkl'):
    """Demonstrate conjugate gradient optimization of a log-linear model

    This is demonstrated on MNIST.

    :type n_epochs: int
    :param n_epochs: number of epochs to run the optimizer (the maximum
                     number of CG iterations)

    :type dataset: string
    :param dataset: the path of the MNIST dataset file or IDX directory

    :type batch_size: int
    :param batch_size: examples per minibatch of the cost and gradient

    :type model_out: string
    :param model_out: where the best model is saved on every improvement

    Returns a dict with the best validation and its test score, the CG
    iterations run, and the training cost at the start and at the end.
    """
    #############
    # LOAD DATA #
    #############
    datasets = load_for_training(dataset, batch_size)

    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    # the last, partial minibatch counts too (as in logistic_cg.py)
    n_train_batches = n_batches(train_set_x, batch_size, partial=True)
    n_valid_batches = n_batches(valid_set_x, batch_size, partial=True)
    n_test_batches = n_batches(test_set_x, batch_size, partial=True)

    n_in = train_set_x.get_value(borrow=True).shape[1]  # 28 * 28 for MNIST
    n_out = 10  # number of output units

    ######################
    # BUILD ACTUAL MODEL #
    ######################
    print('... building the model', flush=True)
    print(describe(), flush=True)

    # allocate symbolic variables for the data
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix()   # the data is presented as rasterized images
    y = T.ivector()  # the labels are presented as 1D vector of
                     # [int] labels

    # construct the logistic regression class
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=n_out)

    # the cost we minimize during training is the negative log likelihood of
    # the model in symbolic format
    cost = classifier.negative_log_likelihood(y).mean()

    # compile a theano function that computes the mistakes that are made by
    # the model on a minibatch
    test_model = theano.function(
        [index], classifier.errors(y),
        givens=minibatch(x, y, test_set_x, test_set_y, index, batch_size),
        name='test')

    validate_model = theano.function(
        [index], classifier.errors(y),
        givens=minibatch(x, y, valid_set_x, valid_set_y, index, batch_size),
        name='validate')

    #  compile a theano function that returns the cost of a minibatch
    batch_cost = theano.function(
        [index], cost,
        givens=minibatch(x, y, train_set_x, train_set_y, index, batch_size),
        name='batch_cost')

    # compile a theano function that returns the gradient of the minibatch
    # with respect to theta = (W, b)
    batch_grad = theano.function(
        [index], T.grad(cost, classifier.params),
        givens=minibatch(x, y, train_set_x, train_set_y, index, batch_size),
        name='batch_grad')

    status = StatusLine()
    iteration = [0]  # CG iterations done (the callback counts them)

    def set_theta(theta_value):
        """Load the flat vector theta into the model's W and b."""
        theta_value = numpy.asarray(theta_value, dtype=theano.config.floatX)
        classifier.W.set_value(
            theta_value[:n_in * n_out].reshape((n_in, n_out)), borrow=True)
        classifier.b.set_value(theta_value[n_in * n_out:], borrow=True)

    # creates a function that computes the average cost on the training set
    def train_fn(theta_value):
        set_theta(theta_value)
        train_losses = []
        for i in range(n_train_batches):
            status.update('CG iteration %i: cost, minibatch %i/%i' % (
                iteration[0] + 1, i + 1, n_train_batches))
            train_losses.append(batch_cost(i))
        return numpy.mean(train_losses)

    # creates a function that computes the average gradient of cost with
    # respect to theta
    def train_fn_grad(theta_value):
        set_theta(theta_value)
        grad = numpy.zeros((n_in + 1) * n_out)
        for i in range(n_train_batches):
            status.update('CG iteration %i: gradient, minibatch %i/%i' % (
                iteration[0] + 1, i + 1, n_train_batches))
            g_W, g_b = batch_grad(i)
            grad += numpy.concatenate([g_W.ravel(), g_b])
        return grad / n_train_batches

    validation_scores = [numpy.inf, 0]

    # creates the validation function
    def callback(theta_value):
        iteration[0] += 1
        set_theta(theta_value)
        # compute the validation loss
        validation_losses = [validate_model(i)
                             for i in range(n_valid_batches)]
        this_validation_loss = numpy.mean(validation_losses)
        status.clear()
        print('validation error %f %%' % (this_validation_loss * 100.,),
              flush=True)

        # check if it is better then best validation score got until now
        improved = this_validation_loss < validation_scores[0]
        if improved:
            # if so, replace the old one, and compute the score on the
            # testing dataset
            validation_scores[0] = this_validation_loss
            test_losses = [test_model(i) for i in range(n_test_batches)]
            validation_scores[1] = numpy.mean(test_losses)
            save_model(classifier, model_out, dataset=str(dataset),
                       epoch=iteration[0], minibatch=n_train_batches,
                       validation_error=this_validation_loss,
                       test_error=validation_scores[1], optimizer='cg',
                       batch_size=batch_size)
        history.record(iteration[0], n_train_batches, iteration[0],
                       this_validation_loss,
                       validation_scores[1] if improved else None)
        if stop:
            raise _StopRequested

    ###############
    # TRAIN MODEL #
    ###############

    # using scipy conjugate gradient optimizer
    print('Optimizing using scipy.optimize.fmin_cg...', flush=True)
    x0 = numpy.zeros((n_in + 1) * n_out, dtype=x.dtype)
    initial_cost = train_fn(x0)
    stopped = None
    start_time = timeit.default_timer()
    with stop_requests() as stop, History(model_out) as history:
        try:
            scipy.optimize.fmin_cg(
                f=train_fn,
                x0=x0,
                fprime=train_fn_grad,
                callback=callback,
                disp=0,
                maxiter=n_epochs
            )
        except _StopRequested:
            stopped = TrainingStopped(
                'training interrupted after CG iteration %i; %s'
                % (iteration[0], saved_note(model_out, validation_scores[0])),
                exit_code=130)
    end_time = timeit.default_timer()
    status.clear()
    print(
        (
            'Optimization complete with best validation score of %f %%, with '
            'test performance %f %%'
        )
        % (validation_scores[0] * 100., validation_scores[1] * 100.)
    )
    print(('The code for file ' +
           os.path.split(__file__)[1] +
           ' ran for %.1fs' % ((end_time - start_time))), file=sys.stderr)
    if stopped is not None:
        raise stopped
    final_cost = train_fn(numpy.concatenate(
        [classifier.W.get_value().ravel(), classifier.b.get_value()]))
    return {'best_validation_loss': float(validation_scores[0]),
            'test_score': float(validation_scores[1]),
            'iterations': iteration[0],
            'initial_cost': float(initial_cost),
            'final_cost': float(final_cost)}


def build_parser():
    parser = cli.new_parser(
        'cg',
        'Train the same logistic regression with SciPy\'s conjugate '
        'gradient (fmin_cg) on the whole training set, as the Theano '
        'tutorial logistic_cg.py does: each iteration validates, and the '
        'best model is saved like logreg_mnist.train saves it.')
    parser.add_argument('--dataset', default='mnist.pkl.gz',
                        help='same forms as for logreg_mnist.train')
    parser.add_argument('--n-epochs', type=cli.positive(int), default=50,
                        help='maximal number of CG iterations')
    parser.add_argument('--batch-size', type=cli.positive(int), default=600,
                        help='examples per minibatch of the cost and '
                             'gradient sums')
    parser.add_argument('--model-out', type=cli.output_file,
                        default='best_model.pkl',
                        help='where the best model is saved (.pkl and .npz)')
    return parser


def main(argv=None):
    cli.run(build_parser(),
            lambda args: cg_optimization_mnist(
                n_epochs=args.n_epochs, dataset=args.dataset,
                batch_size=args.batch_size, model_out=args.model_out),
            argv)


if __name__ == '__main__':
    main()
