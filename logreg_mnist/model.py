"""The model: logistic regression over ten classes (softmax regression).

For an image ``x`` (a row of pixels), each class ``k`` gets a score, the
pixels weighted by column ``k`` of ``W`` plus the offset ``b[k]``.  The
softmax turns the ten scores into probabilities that sum to one::

    P(Y = k | x) = exp(x . W[:, k] + b[k]) / sum_j exp(x . W[:, j] + b[j])

and the predicted class is the one with the highest probability.  Each
column of ``W`` is therefore a template of its digit: pixels that make the
class likelier get positive weights (the pictures in ``plot`` show them).
The model is linear in the pixels, which is why it stops near 7.5 %
error on MNIST.  (Bishop, "Pattern Recognition and Machine Learning",
section 4.3.4, derives the same model.)

Training minimises the mean negative log-likelihood of the true labels:
the mean, not the sum, so that one learning rate suits any batch size.
"""
import numpy

from .engine import theano, T


class LogisticRegression:
    """The classifier as a symbolic graph over a minibatch ``input``.

    ``input`` is a symbolic matrix, one image a row, ``n_in`` pixels wide;
    ``n_out`` is the number of classes.  The parameters ``W`` (n_in x
    n_out) and ``b`` (n_out) are shared variables starting at zero, which
    is fine for this convex problem.  The attributes are the tutorial's:
    ``p_y_given_x`` (class probabilities, a row per image), ``y_pred``
    (the likeliest class of each image), ``params`` and ``input``.
    """

    def __init__(self, input, n_in, n_out):
        floatX = theano.config.floatX
        self.W = theano.shared(numpy.zeros((n_in, n_out), dtype=floatX),
                               name='W', borrow=True)
        self.b = theano.shared(numpy.zeros(n_out, dtype=floatX),
                               name='b', borrow=True)
        scores = T.dot(input, self.W) + self.b   # a row of n_out per image
        self.p_y_given_x = T.nnet.softmax(scores)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """The mean over the minibatch of -log P(Y = y_i | x_i).

        ``y`` is the symbolic vector of true labels.  Indexing the matrix
        of log-probabilities with (row i, column y_i) for every i picks
        each image's log-probability of its own label.
        """
        log_p = T.log(self.p_y_given_x)
        rows = T.arange(y.shape[0])
        return -T.mean(log_p[rows, y])

    def errors(self, y):
        """The fraction of the minibatch whose predicted class is not the
        label in ``y`` (the zero-one loss), as a symbolic scalar."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError('labels y must have the same shape as '
                            'self.y_pred', ('y', y.type, 'y_pred',
                                            self.y_pred.type))
        if not y.dtype.startswith('int'):
            raise NotImplementedError('labels must be integers, got %s'
                                      % y.dtype)
        return T.mean(T.neq(self.y_pred, y))
