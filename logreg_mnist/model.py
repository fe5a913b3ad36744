"""The model: multi-class logistic regression.

Logistic regression is a probabilistic, linear classifier. It is parametrized
by a weight matrix :math:`W` and a bias vector :math:`b`. Classification is
done by projecting data points onto a set of hyperplanes, the distance to
which is used to determine a class membership probability.

.. math::

  P(Y=i|x, W,b) &= softmax_i(W x + b) \\\\
                &= \\frac {e^{W_i x + b_i}} {\\sum_j e^{W_j x + b_j}}

The prediction is the class whose probability is maximal:

.. math::

  y_{pred} = argmax_i P(Y=i|x,W,b)

Reference: "Pattern Recognition and Machine Learning", C. M. Bishop, 4.3.2.
"""
import os
import pickle

import numpy

from .engine import ENGINE, device, theano, T
from .errors import DataError, ModelError
from .safety import atomic_write, deferred_interrupts


class LogisticRegression(object):
    """Multi-class Logistic Regression Class

    The logistic regression is fully described by a weight matrix :math:`W`
    and bias vector :math:`b`. Classification is done by projecting data
    points onto a set of hyperplanes, the distance to which is used to
    determine a class membership probability.
    """

    def __init__(self, input, n_in, n_out):
        """Initialize the parameters of the logistic regression

        :type input: theano.tensor.TensorType
        :param input: symbolic variable that describes the input of the
                      architecture (one minibatch)

        :type n_in: int
        :param n_in: number of input units, the dimension of the space in
                     which the datapoints lie

        :type n_out: int
        :param n_out: number of output units, the dimension of the space in
                      which the labels lie
        """
        # initialize with 0 the weights W as a matrix of shape (n_in, n_out)
        self.W = theano.shared(
            value=numpy.zeros((n_in, n_out), dtype=theano.config.floatX),
            name='W',
            borrow=True
        )
        # initialize the biases b as a vector of n_out 0s
        self.b = theano.shared(
            value=numpy.zeros((n_out,), dtype=theano.config.floatX),
            name='b',
            borrow=True
        )

        # symbolic expression for computing the matrix of class-membership
        # probabilities, where:
        # W is a matrix where column-k represents the separation hyperplane
        #   for class-k
        # x is a matrix where row-j represents input training sample-j
        # b is a vector where element-k represents the free parameter of
        #   hyperplane-k
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)

        # symbolic description of how to compute prediction as class whose
        # probability is maximal
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)

        # parameters of the model
        self.params = [self.W, self.b]

        # keep track of model input
        self.input = input

    def negative_log_likelihood(self, y):
        """Return the mean of the negative log-likelihood of the prediction
        of this model under a given target distribution.

        .. math::

            \\frac{1}{|\\mathcal{D}|} \\mathcal{L} (\\theta=\\{W,b\\}, \\mathcal{D}) =
            \\frac{1}{|\\mathcal{D}|} \\sum_{i=0}^{|\\mathcal{D}|}
                \\log(P(Y=y^{(i)}|x^{(i)}, W,b)) \\\\
            \\ell (\\theta=\\{W,b\\}, \\mathcal{D})

        :type y: theano.tensor.TensorType
        :param y: corresponds to a vector that gives for each example the
                  correct label

        Note: we use the mean instead of the sum so that
              the learning rate is less dependent on the batch size
        """
        # y.shape[0] is (symbolically) the number of rows in y, i.e.,
        # number of examples (call it n) in the minibatch.
        # T.arange(y.shape[0]) is a symbolic vector which will contain
        # [0,1,2,... n-1]. T.log(self.p_y_given_x) is a matrix of
        # Log-Probabilities (call it LP) with one row per example and
        # one column per class. LP[T.arange(y.shape[0]),y] is a vector
        # v containing [LP[0,y[0]], LP[1,y[1]], LP[2,y[2]], ...,
        # LP[n-1,y[n-1]]] and T.mean(LP[T.arange(y.shape[0]),y]) is
        # the mean (across minibatch examples) of the elements in v,
        # i.e., the mean log-likelihood across the minibatch.
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """Return a float representing the number of errors in the minibatch
        over the total number of examples of the minibatch ; zero one
        loss over the size of the minibatch

        :type y: theano.tensor.TensorType
        :param y: corresponds to a vector that gives for each example the
                  correct label
        """
        # check if y has same dimension of y_pred
        if y.ndim != self.y_pred.ndim:
            raise TypeError(
                'y should have the same shape as self.y_pred',
                ('y', y.type, 'y_pred', self.y_pred.type)
            )
        # check if y is of the correct datatype
        if y.dtype.startswith('int'):
            # the T.neq operator returns a vector of 0s and 1s, where 1
            # represents a mistake in prediction
            return T.mean(T.neq(self.y_pred, y))
        else:
            raise NotImplementedError()


###########################
# SAVING AND LOADING MODELS
###########################
#
# Training writes every new best model twice:
#
# * ``best_model.pkl``: the tutorial's format, a pickle of the whole
#   ``LogisticRegression`` object with its symbolic graph.  Loading a pickle
#   can run arbitrary code, and this one only loads where the same engine,
#   device support and package are installed.
# * ``best_model.npz``: the safe, portable format -- plain arrays ``W`` and
#   ``b`` with ``n_in``, ``n_out``, ``floatX`` and provenance (dataset, epoch,
#   errors, package version).  Loading it runs no code
#   (``allow_pickle=False``) and works on any machine, GPU or not.

#: Where a pickle may take classes and functions from: this package, the
#: engine and numpy.  Anything else is refused before it can run.
_PICKLE_MODULES = ('logreg_mnist', 'theano', 'pytensor', 'numpy')
_PICKLE_GLOBALS = {('copyreg', '_reconstructor'), ('builtins', 'object'),
                   ('builtins', 'set'), ('builtins', 'frozenset'),
                   ('builtins', 'slice'), ('_codecs', 'encode'),
                   ('collections', 'OrderedDict')}


def npz_path(path):
    """The ``.npz`` that goes with a model path (``best_model.pkl`` ->
    ``best_model.npz``)."""
    return os.path.splitext(path)[0] + '.npz'


def save_model(classifier, path, **provenance):
    """Write ``classifier`` to ``path`` (pickle) and beside it as ``.npz``.

    The ``.npz`` records the engine, device and package version with the
    ``provenance`` given.  Both writes are atomic (see
    ``safety.atomic_write``) and Ctrl-C waits for them.  With a ``path``
    ending in ``.npz`` only the ``.npz`` is written.
    """
    from . import __version__
    # values kept on a JAX device would pickle as JAX arrays: keep it plain
    for param in classifier.params:
        value = param.get_value(borrow=True)
        if not isinstance(value, numpy.ndarray):
            param.set_value(numpy.asarray(value), borrow=True)
    W = classifier.W.get_value()
    b = classifier.b.get_value()
    fields = dict(W=W, b=b, n_in=W.shape[0], n_out=W.shape[1],
                  floatX=str(W.dtype), package_version=__version__,
                  engine=ENGINE, device=device())
    fields.update(provenance)
    with deferred_interrupts():  # Ctrl-C waits until both files are written
        if not path.endswith('.npz'):
            with atomic_write(path) as f:
                pickle.dump(classifier, f)
        with atomic_write(npz_path(path)) as f:
            numpy.savez(f, **{k: numpy.asarray(v)
                              for k, v in fields.items()})


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module.split('.')[0] in _PICKLE_MODULES or
                (module, name) in _PICKLE_GLOBALS):
            return super().find_class(module, name)
        raise pickle.UnpicklingError('it refers to %s.%s' % (module, name))


def load_model(path):
    """A ``LogisticRegression`` from a ``.npz`` or ``.pkl`` model file."""
    if not os.path.isfile(path):
        raise ModelError('%s: no such model file' % path)
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == b'PK\x03\x04':  # a zip archive: numpy's .npz
        return _load_npz(path)
    try:
        with open(path, 'rb') as f:
            classifier = _ModelUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError) as e:
        raise ModelError('%s is not a logreg_mnist model file (%s: %s)'
                         % (path, type(e).__name__, e)) from None
    except Exception as e:  # a model pickled where other modules existed
        raise ModelError('%s cannot be loaded here (%s: %s); load the '
                         'portable .npz that training wrote beside it'
                         % (path, type(e).__name__, e)) from None
    if not isinstance(classifier, LogisticRegression):
        raise ModelError('%s holds a %s, not a logreg_mnist LogisticRegression'
                         % (path, type(classifier).__name__))
    return classifier


def model_input(classifier, images, model, dataset):
    """``images`` as ``classifier``'s input (its dtype), or DataError when
    they are not as wide as the model (``model`` and ``dataset`` name the
    files in the message)."""
    n_in = classifier.W.get_value(borrow=True).shape[0]
    if images.shape[1] != n_in:
        raise DataError('%s has %d pixels per image, but the model in %s '
                        'expects %d' % (dataset, images.shape[1], model, n_in))
    return numpy.asarray(images, dtype=classifier.input.dtype)


def model_info(path):
    """The arrays and provenance stored in a ``.npz`` model, as a dict."""
    try:
        with numpy.load(path, allow_pickle=False) as z:
            info = {k: z[k] for k in z.files}
    except Exception as e:
        raise ModelError('%s is not a readable .npz model (%s: %s)'
                         % (path, type(e).__name__, e)) from None
    missing = {'W', 'b', 'n_in', 'n_out'} - set(info)
    if missing:
        raise ModelError('%s is not a logreg_mnist model: it has no %s'
                         % (path, ', '.join(sorted(missing))))
    n_in, n_out = int(info['n_in']), int(info['n_out'])
    if info['W'].shape != (n_in, n_out) or info['b'].shape != (n_out,):
        raise ModelError('%s: W %s and b %s do not fit n_in=%d, n_out=%d'
                         % (path, info['W'].shape, info['b'].shape, n_in,
                            n_out))
    if not (numpy.isfinite(info['W']).all() and
            numpy.isfinite(info['b']).all()):
        raise ModelError('%s: the weights are not all finite' % path)
    return info


def _load_npz(path):
    info = model_info(path)
    x = T.matrix('x')
    classifier = LogisticRegression(input=x, n_in=int(info['n_in']),
                                    n_out=int(info['n_out']))
    classifier.W.set_value(info['W'].astype(theano.config.floatX))
    classifier.b.set_value(info['b'].astype(theano.config.floatX))
    return classifier
