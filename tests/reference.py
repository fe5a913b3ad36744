"""An independent NumPy implementation of the tutorial's algorithm.

Written from the tutorial's description (softmax regression, mean negative
log-likelihood, minibatch SGD, early stopping with patience), in float64,
without any code from the package, so that the package's Theano graph can be
checked against it number for number.
"""
import numpy


def softmax(a):
    e = numpy.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cost_and_gradients(W, b, x, y):
    """The mean negative log-likelihood, and its gradients with respect to
    W and b derived by hand: x^T (p - onehot(y)) / n and mean(p - onehot(y)),
    from one forward pass."""
    p = softmax(x @ W + b)
    rows = numpy.arange(len(y))
    cost = -numpy.mean(numpy.log(p[rows, y]))
    p[rows, y] -= 1.0
    return cost, x.T @ p / len(y), p.mean(axis=0)


def nll(W, b, x, y):
    return cost_and_gradients(W, b, x, y)[0]


def gradients(W, b, x, y):
    """d nll / dW and d nll / db."""
    return cost_and_gradients(W, b, x, y)[1:]


def error_rate(W, b, x, y):
    return numpy.mean(numpy.argmax(x @ W + b, axis=1) != y)


def sgd_trace(datasets, learning_rate=0.13, n_epochs=1000, batch_size=600,
              n_out=10, seen=None):
    """Run the tutorial's loop; return (trace lines, best (W, b), summary).

    ``seen``, a list, gets one (mean training cost since the previous
    validation, patience before this validation) pair per validation."""
    (tx, ty), (vx, vy), (sx, sy) = [
        (numpy.asarray(x, numpy.float64), numpy.asarray(y, numpy.int64))
        for x, y in datasets]
    n_train, n_valid, n_test = (len(tx) // batch_size, len(vx) // batch_size,
                                len(sx) // batch_size)

    def batch(x, y, i):
        s = slice(i * batch_size, (i + 1) * batch_size)
        return x[s], y[s]

    W = numpy.zeros((tx.shape[1], n_out))
    b = numpy.zeros(n_out)
    patience, best, test_score, best_params = 5000, numpy.inf, 0.0, None
    frequency = min(n_train, patience // 2)
    lines, costs = [], []
    epoch, done = 0, False
    while epoch < n_epochs and not done:
        epoch += 1
        for i in range(n_train):
            cost, gW, gb = cost_and_gradients(W, b, *batch(tx, ty, i))
            costs.append(cost)
            W, b = W - learning_rate * gW, b - learning_rate * gb
            it = (epoch - 1) * n_train + i
            if (it + 1) % frequency == 0:
                if seen is not None:
                    seen.append((numpy.mean(costs), patience))
                costs = []
                loss = numpy.mean([error_rate(W, b, *batch(vx, vy, j))
                                   for j in range(n_valid)])
                lines.append('epoch %i, minibatch %i/%i, validation error '
                             '%f %%' % (epoch, i + 1, n_train, loss * 100.))
                if loss < best:
                    if loss < best * 0.995:
                        patience = max(patience, it * 2)
                    best = loss
                    test_score = numpy.mean(
                        [error_rate(W, b, *batch(sx, sy, j))
                         for j in range(n_test)])
                    best_params = (W.copy(), b.copy())
                    lines.append('     epoch %i, minibatch %i/%i, test error '
                                 'of best model %f %%'
                                 % (epoch, i + 1, n_train, test_score * 100.))
            if patience <= it:
                done = True
                break
    lines.append('Optimization complete with best validation score of %f %%, '
                 'with test performance %f %%' % (best * 100.,
                                                  test_score * 100.))
    return lines, best_params, epoch
