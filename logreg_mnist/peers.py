"""The tutorial's epoch written without Theano: the peers of the benchmark.

``python -m logreg_mnist.benchmark --compare`` times these next to the Theano
port, in the same run, so that the ratio between them holds on a noisy
machine.  Each peer is what a competent user would write in an afternoon:
the same model (softmax regression, zero-initialised W and b), the same
minibatch SGD step (mean negative log-likelihood, learning rate 0.13, batch
600) and the same epoch (every training minibatch, then the zero-one loss of
every validation minibatch).

This file is benchmark code: the package never imports it.

Each ``*_epoch`` function takes ``((train_x, train_y), (valid_x, valid_y))``
as numpy arrays and returns ``(epoch, info)``: a function that runs one
epoch and returns the mean validation error, and a dict describing the
library.
"""
import numpy


def numpy_epoch(train, valid, dtype='float32', batch_size=600,
                learning_rate=0.13):
    """Plain NumPy, with the gradient of the softmax cross-entropy by hand."""
    train_x, train_y = (numpy.asarray(train[0], dtype), train[1])
    valid_x, valid_y = (numpy.asarray(valid[0], dtype), valid[1])
    n_in, n_out = train_x.shape[1], 10
    W = numpy.zeros((n_in, n_out), dtype)
    b = numpy.zeros(n_out, dtype)
    lr = numpy.asarray(learning_rate, dtype)
    rows = numpy.arange(batch_size)

    def step(x, y):
        nonlocal W, b
        z = x @ W + b
        z -= z.max(axis=1, keepdims=True)
        p = numpy.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        cost = -numpy.log(p[rows, y]).mean()
        p[rows, y] -= 1             # d cost / d z, times the batch size
        p /= batch_size
        W -= lr * (x.T @ p)
        b -= lr * p.sum(axis=0)
        return cost

    def epoch():
        for i in range(len(train_x) // batch_size):
            s = slice(i * batch_size, (i + 1) * batch_size)
            step(train_x[s], train_y[s])
        errors = [numpy.mean(numpy.argmax(valid_x[s] @ W + b, axis=1)
                             != valid_y[s])
                  for s in (slice(i * batch_size, (i + 1) * batch_size)
                            for i in range(len(valid_x) // batch_size))]
        return float(numpy.mean(errors))

    return epoch, {'library': 'NumPy %s' % numpy.__version__}


def torch_epoch(train, valid, dtype='float32', batch_size=600,
                learning_rate=0.13):
    """PyTorch on the CPU with autograd and its fused cross-entropy."""
    import torch
    import torch.nn.functional as F

    tdtype = getattr(torch, dtype)
    train_x = torch.as_tensor(numpy.asarray(train[0], dtype))
    train_y = torch.as_tensor(numpy.asarray(train[1], 'int64'))
    valid_x = torch.as_tensor(numpy.asarray(valid[0], dtype))
    valid_y = torch.as_tensor(numpy.asarray(valid[1], 'int64'))
    W = torch.zeros(train_x.shape[1], 10, dtype=tdtype, requires_grad=True)
    b = torch.zeros(10, dtype=tdtype, requires_grad=True)

    def epoch():
        nonlocal W, b
        for i in range(len(train_x) // batch_size):
            s = slice(i * batch_size, (i + 1) * batch_size)
            cost = F.cross_entropy(train_x[s] @ W + b, train_y[s])
            W.grad = b.grad = None
            cost.backward()
            with torch.no_grad():
                W -= learning_rate * W.grad
                b -= learning_rate * b.grad
            cost.item()              # the tutorial's train_model returns it
        with torch.no_grad():
            errors = [(torch.argmax(valid_x[s] @ W + b, dim=1) != valid_y[s])
                      .double().mean().item()
                      for s in (slice(i * batch_size, (i + 1) * batch_size)
                                for i in range(len(valid_x) // batch_size))]
        return float(numpy.mean(errors))

    return epoch, {'library': 'PyTorch %s (%d threads)'
                              % (torch.__version__, torch.get_num_threads()),
                   'blas': "PyTorch's own (MKL: %s)"
                           % torch.backends.mkl.is_available()}


PEERS = {'numpy': numpy_epoch, 'torch': torch_epoch}
