"""The training loop: minibatch SGD with early stopping, as in the tutorial.

``sgd_optimization_mnist`` compiles three functions over the shared
datasets -- ``train_model`` (cost and parameter updates), ``validate_model``
and ``test_model`` (zero-one loss) -- each taking a minibatch index and
picking its rows out of the shared data with ``givens``.  The loop then
validates every ``validation_frequency`` minibatches and stops once
``patience`` iterations have passed without a significant improvement.
"""
import os
import sys
import timeit

import numpy

from .data import SPLITS, load_data
from .engine import describe, minibatch, theano, T
from .errors import DataError, TrainingStopped
from .model import LogisticRegression, save_model
from .history import History
from .progress import StatusLine
from .safety import stop_requests


def saved_note(model_out, best_validation_loss):
    """What an early stop leaves on disk, in words."""
    if best_validation_loss == numpy.inf:
        return 'no model was saved'
    return 'the best model so far is in %s' % model_out


def load_for_training(dataset, batch_size):
    """``load_data``, refusing splits smaller than one minibatch (the
    tutorial's floor division would make zero batches of them)."""
    datasets = load_data(dataset)
    for name, (set_x, _) in zip(SPLITS, datasets):
        if set_x.get_value(borrow=True).shape[0] < batch_size:
            raise DataError(
                '%s: the %s split has %d examples, fewer than one minibatch '
                'of %d; use a smaller --batch-size' % (
                    dataset, name, set_x.get_value(borrow=True).shape[0],
                    batch_size))
    return datasets


def build_model(datasets, learning_rate=0.13, batch_size=600):
    """Build the classifier and compile the tutorial's three functions.

    Each takes a minibatch index; ``givens`` substitutes that minibatch of
    the shared datasets for the symbolic ``x`` and ``y``:

    * ``train_model(i)``: returns the cost and applies one SGD step;
    * ``validate_model(i)`` / ``test_model(i)``: return the zero-one loss.
    """
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    # allocate symbolic variables for the data
    index = T.lscalar()  # index to a [mini]batch

    # generate symbolic variables for input (x and y represent a
    # minibatch)
    x = T.matrix('x')  # data, presented as rasterized images
    y = T.ivector('y')  # labels, presented as 1D vector of [int] labels

    # construct the logistic regression class
    # Each MNIST image has size 28*28 (in general: as wide as the data)
    n_in = train_set_x.get_value(borrow=True).shape[1]
    classifier = LogisticRegression(input=x, n_in=n_in, n_out=10)

    # the cost we minimize during training is the negative log likelihood of
    # the model in symbolic format
    cost = classifier.negative_log_likelihood(y)

    # compiling a Theano function that computes the mistakes that are made by
    # the model on a minibatch
    test_model = theano.function(
        inputs=[index],
        outputs=classifier.errors(y),
        givens=minibatch(x, y, test_set_x, test_set_y, index, batch_size)
    )

    validate_model = theano.function(
        inputs=[index],
        outputs=classifier.errors(y),
        givens=minibatch(x, y, valid_set_x, valid_set_y, index, batch_size)
    )

    # compute the gradient of cost with respect to theta = (W,b)
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)

    # specify how to update the parameters of the model as a list of
    # (variable, update expression) pairs.  (PyTensor tries the learning
    # rate as float32 first; a huge one would print numpy's overflow
    # warning there, before training even starts to tell what is wrong.)
    with numpy.errstate(over='ignore'):
        updates = [(classifier.W, classifier.W - learning_rate * g_W),
                   (classifier.b, classifier.b - learning_rate * g_b)]

    # compiling a Theano function `train_model` that returns the cost, but in
    # the same time updates the parameter of the model based on the rules
    # defined in `updates`
    train_model = theano.function(
        inputs=[index],
        outputs=cost,
        updates=updates,
        givens=minibatch(x, y, train_set_x, train_set_y, index, batch_size)
    )
    return classifier, train_model, validate_model, test_model


def sgd_optimization_mnist(learning_rate=0.13, n_epochs=1000,
                           dataset='mnist.pkl.gz',
                           batch_size=600, model_out='best_model.pkl'):
    """
    Demonstrate stochastic gradient descent optimization of a log-linear
    model

    This is demonstrated on MNIST.

    :type learning_rate: float
    :param learning_rate: learning rate used (factor for the stochastic
                          gradient)

    :type n_epochs: int
    :param n_epochs: maximal number of epochs to run the optimizer

    :type dataset: string
    :param dataset: the path of the MNIST dataset file (``mnist.pkl.gz``) or
                    of a directory of MNIST IDX files

    :type batch_size: int
    :param batch_size: number of examples in a minibatch

    :type model_out: string
    :param model_out: where the best model is pickled on every improvement
                      (a portable ``.npz`` copy is written beside it)

    Returns a dict with the best validation loss, its test score, the number
    of epochs run and the epochs/sec.
    """
    datasets = load_for_training(dataset, batch_size)

    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    # compute number of minibatches for training, validation and testing
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size

    ######################
    # BUILD ACTUAL MODEL #
    ######################
    print('... building the model', flush=True)
    print(describe(), flush=True)

    classifier, train_model, validate_model, test_model = build_model(
        datasets, learning_rate, batch_size)

    ###############
    # TRAIN MODEL #
    ###############
    print('... training the model', flush=True)
    # early-stopping parameters
    patience = 5000  # look as this many examples regardless
    patience_increase = 2  # wait this much longer when a new best is
                           # found
    improvement_threshold = 0.995  # a relative improvement of this much is
                                   # considered significant
    validation_frequency = min(n_train_batches, patience // 2)
                                  # go through this many
                                  # minibatche before checking the network
                                  # on the validation set; in this case we
                                  # check every epoch

    best_validation_loss = numpy.inf
    test_score = 0.
    start_time = timeit.default_timer()

    done_looping = False
    stopped = None  # why training ended early, if it did
    epoch = 0
    status = StatusLine()  # "epoch 3: minibatch 40/83" on a terminal only
    # Ctrl-C or SIGTERM stops the loop after the current minibatch, with the
    # best model saved and the summary printed (a second one stops at once);
    # every validation is also recorded in best_model.history.csv
    with stop_requests() as stop, History(model_out) as history:
        while (epoch < n_epochs) and (not done_looping):
            epoch = epoch + 1
            for minibatch_index in range(n_train_batches):

                minibatch_avg_cost = train_model(minibatch_index)
                # iteration number
                iter = (epoch - 1) * n_train_batches + minibatch_index
                status.update('epoch %i: minibatch %i/%i, cost %.4f' % (
                    epoch, minibatch_index + 1, n_train_batches,
                    minibatch_avg_cost))

                # a learning rate that is too large sends the cost to
                # NaN or infinity: everything after that would be garbage
                if not numpy.isfinite(minibatch_avg_cost):
                    stopped = TrainingStopped(
                        'the cost became %s at epoch %i, minibatch %i/%i: '
                        'the learning rate %g is too large; %s' % (
                            minibatch_avg_cost, epoch, minibatch_index + 1,
                            n_train_batches, learning_rate,
                            saved_note(model_out, best_validation_loss)))
                    done_looping = True
                    break

                if (iter + 1) % validation_frequency == 0:
                    status.clear()
                    # compute zero-one loss on validation set
                    validation_losses = [validate_model(i)
                                         for i in range(n_valid_batches)]
                    this_validation_loss = numpy.mean(validation_losses)

                    print(
                        'epoch %i, minibatch %i/%i, validation error %f %%' %
                        (
                            epoch,
                            minibatch_index + 1,
                            n_train_batches,
                            this_validation_loss * 100.
                        ),
                        flush=True
                    )

                    # if we got the best validation score until now
                    improved = this_validation_loss < best_validation_loss
                    if improved:
                        # improve patience if loss improvement is good enough
                        if this_validation_loss < best_validation_loss *  \
                           improvement_threshold:
                            patience = max(patience, iter * patience_increase)

                        best_validation_loss = this_validation_loss
                        # test it on the test set

                        test_losses = [test_model(i)
                                       for i in range(n_test_batches)]
                        test_score = numpy.mean(test_losses)

                        print(
                            (
                                '     epoch %i, minibatch %i/%i, test error of'
                                ' best model %f %%'
                            ) %
                            (
                                epoch,
                                minibatch_index + 1,
                                n_train_batches,
                                test_score * 100.
                            ),
                            flush=True
                        )

                        # save the best model (atomically, with a portable
                        # .npz copy beside the tutorial's pickle)
                        save_model(classifier, model_out,
                                   dataset=str(dataset), epoch=epoch,
                                   minibatch=minibatch_index + 1,
                                   validation_error=this_validation_loss,
                                   test_error=test_score,
                                   learning_rate=learning_rate,
                                   batch_size=batch_size)

                    history.record(epoch, minibatch_index + 1, iter + 1,
                                   this_validation_loss,
                                   test_score if improved else None)

                if patience <= iter:
                    done_looping = True
                    break

                if stop:
                    stopped = TrainingStopped(
                        'training interrupted at epoch %i, minibatch %i/%i; %s'
                        % (epoch, minibatch_index + 1, n_train_batches,
                           saved_note(model_out, best_validation_loss)),
                        exit_code=130)
                    done_looping = True
                    break

    status.clear()
    end_time = timeit.default_timer()
    print(
        (
            'Optimization complete with best validation score of %f %%,'
            ' with test performance %f %%'
        )
        % (best_validation_loss * 100., test_score * 100.)
    )
    print('The code run for %d epochs, with %f epochs/sec' % (
        epoch, 1. * epoch / (end_time - start_time)))
    print(('The code for file ' +
           os.path.split(__file__)[1] +
           ' ran for %.1fs' % ((end_time - start_time))), file=sys.stderr)
    if stopped is not None:
        raise stopped
    return {
        'best_validation_loss': float(best_validation_loss),
        'test_score': float(test_score),
        'epochs': epoch,
        'epochs_per_sec': epoch / (end_time - start_time),
    }
