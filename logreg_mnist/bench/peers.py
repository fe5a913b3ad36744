"""The tutorial's epoch written without Theano: the benchmark's peers.

``python -m logreg_mnist.benchmark --compare`` times these beside the port
in the same run, so that the ratios hold on a noisy machine.  Each is what
a user who knows the library would write today, at its best: the same
model (softmax regression, W and b starting at zero), the same step
(minibatch SGD on the mean negative log-likelihood, learning rate 0.13,
batch 600) and the same epoch (every training minibatch, then the zero-one
loss of every validation minibatch).

* ``numpy``: the gradient written out by hand;
* ``jax-step``: one ``jax.jit`` step called per minibatch, as a
  straightforward JAX port would;
* ``jax-scan``: the whole training pass of an epoch as one ``lax.scan``
  compiled by XLA, JAX's fastest form;
* ``torch``: PyTorch's autograd and fused cross-entropy.

JAX and PyTorch run on the CPU (``device='cpu'``) or on the first GPU
(``device='cuda'``), with the same code: the data are put on the device
once, and every epoch ends by waiting for the device
(``jax.block_until_ready``, ``torch.<device>.synchronize``), so that the
benchmark's clock stops only when the work is done.  float32 products run
in float32 on a GPU too (not TF32), as the port's do.

This file needs only numpy (and the peer's library): the benchmark runs it
as a script, ``python .../bench/peers.py --worker ...``, in whichever
interpreter ``--peer-python`` names, so that peers can use a newer NumPy
than the one Theano 1.0.5 pins.  The worker protocol (``serve``) is the
port's too.
"""
import json
import os
import sys
import time

if __name__ == '__main__':   # run as a script: the modules beside this one
    del sys.path[0]          # (system.py, report.py...) must not shadow others

import numpy  # noqa: E402


def _slices(n, batch_size):
    return [slice(i * batch_size, (i + 1) * batch_size)
            for i in range(n // batch_size)]


def numpy_info():
    """NumPy's version and the BLAS it was built with."""
    blas = 'unknown'
    try:
        config = numpy.show_config(mode='dicts')
        found = config['Build Dependencies']['blas']
        blas = '%s %s' % (found.get('name'), found.get('version'))
    except Exception:   # numpy < 1.25 has no dicts
        pass
    return 'NumPy %s' % numpy.__version__, blas


def numpy_epoch(train, valid, dtype='float32', batch_size=600,
                learning_rate=0.13, device='cpu'):
    """Plain NumPy, with the softmax cross-entropy gradient by hand."""
    if device != 'cpu':
        raise ValueError('device=%r: NumPy runs on the CPU only' % device)
    train_x, train_y = numpy.asarray(train[0], dtype), train[1]
    valid_x, valid_y = numpy.asarray(valid[0], dtype), valid[1]
    W = numpy.zeros((train_x.shape[1], 10), dtype)
    b = numpy.zeros(10, dtype)
    lr = numpy.asarray(learning_rate, dtype)
    rows = numpy.arange(batch_size)

    def step(x, y):
        z = x @ W + b
        z -= z.max(axis=1, keepdims=True)
        p = numpy.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        cost = -numpy.log(p[rows, y]).mean()
        p[rows, y] -= 1             # d cost / d z, times the batch size
        p /= batch_size
        W[...] -= lr * (x.T @ p)
        b[...] -= lr * p.sum(axis=0)
        return cost

    def epoch():
        for s in _slices(len(train_x), batch_size):
            step(train_x[s], train_y[s])
        return float(numpy.mean([
            numpy.mean(numpy.argmax(valid_x[s] @ W + b, axis=1)
                       != valid_y[s])
            for s in _slices(len(valid_x), batch_size)]))

    library, blas = numpy_info()
    return epoch, {'library': library, 'blas': blas, 'device': 'cpu'}


def _jax_device(jax, device):
    """JAX's device for ``device``: 'cpu', or 'cuda' for the first GPU."""
    if device == 'cpu':
        return jax.devices('cpu')[0]
    if device != 'cuda':
        raise ValueError("device=%r: choose 'cpu' or 'cuda'" % device)
    try:
        return jax.devices('gpu')[0]
    except RuntimeError as e:
        raise RuntimeError('JAX %s finds no GPU (%s)' % (
            jax.__version__, str(e).splitlines()[0])) from e


def _jax_parts(train, valid, dtype, batch_size, learning_rate, device):
    """What both JAX peers use: jax, the device, the step and the count of
    mistakes, the splits on the device as (batches, batch, ...) arrays,
    and zero parameters there."""
    import jax
    import jax.numpy as jnp
    if dtype == 'float64':
        jax.config.update('jax_enable_x64', True)
    where = _jax_device(jax, device)

    def scores(W, b, x):   # float32 products in float32, also on a GPU
        return jnp.dot(x, W, precision='highest') + b

    def cost(params, x, y):
        W, b = params
        log_p = jax.nn.log_softmax(scores(W, b, x))
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    def step(params, x, y):
        value, grads = jax.value_and_grad(cost)(params, x, y)
        return (tuple(p - learning_rate * g for p, g in zip(params, grads)),
                value)

    def mistakes(params, x, y):
        W, b = params
        return jnp.sum(jnp.argmax(scores(W, b, x), axis=1) != y)

    def on_device(data):
        x = numpy.asarray(data[0], dtype)
        y = numpy.asarray(data[1], 'int32')
        n = len(x) // batch_size
        return (jax.device_put(x[:n * batch_size].reshape(n, batch_size, -1),
                               where),
                jax.device_put(y[:n * batch_size].reshape(n, batch_size),
                               where))
    (tx, ty), (vx, vy) = on_device(train), on_device(valid)
    params = jax.device_put((numpy.zeros((tx.shape[2], 10), dtype),
                             numpy.zeros(10, dtype)), where)
    return jax, where, step, mistakes, (tx, ty, vx, vy), params


def jax_step_epoch(train, valid, dtype='float32', batch_size=600,
                   learning_rate=0.13, device='cpu'):
    """JAX: a jitted step called once per minibatch."""
    jax, where, step, mistakes, (tx, ty, vx, vy), zero = _jax_parts(
        train, valid, dtype, batch_size, learning_rate, device)
    params = [zero]
    # compiled ahead of time, so that the benchmark's "compile s" holds it
    step = jax.jit(step).lower(zero, tx[0], ty[0]).compile()
    mistakes = jax.jit(mistakes).lower(zero, vx[0], vy[0]).compile()

    def epoch():
        for i in range(tx.shape[0]):
            params[0], cost = step(params[0], tx[i], ty[i])
        errors = [int(mistakes(params[0], vx[i], vy[i]))
                  for i in range(vx.shape[0])]
        jax.block_until_ready(params[0])
        return float(numpy.mean(errors)) / batch_size
    return epoch, _jax_info(jax, device, where, 'jitted step per minibatch')


def jax_scan_epoch(train, valid, dtype='float32', batch_size=600,
                   learning_rate=0.13, device='cpu'):
    """JAX: each epoch's training pass as one ``lax.scan``."""
    jax, where, step, mistakes, (tx, ty, vx, vy), zero = _jax_parts(
        train, valid, dtype, batch_size, learning_rate, device)

    def run_epoch(params):
        params, costs = jax.lax.scan(
            lambda p, batch: step(p, *batch), params, (tx, ty))
        return params, jax.vmap(lambda x, y: mistakes(params, x, y))(vx, vy)

    params = [zero]
    run_epoch = jax.jit(run_epoch).lower(zero).compile()

    def epoch():
        params[0], counts = run_epoch(params[0])
        jax.block_until_ready(params[0])
        return float(numpy.mean(numpy.asarray(counts))) / batch_size
    return epoch, _jax_info(jax, device, where, 'epoch as one lax.scan')


def _jax_info(jax, device, where, how):
    info = {'library': 'JAX %s (%s)' % (jax.__version__, how),
            'blas': "XLA's own (%s)" % (
                'Eigen' if where.platform == 'cpu' else 'cuBLAS'),
            'device': 'cpu'}
    if device == 'cuda':
        info.update(device='cuda%d' % where.id, device_name=where.device_kind)
    return info


def _torch_device(torch, device):
    """PyTorch's device for ``device``: 'cpu', or 'cuda' for the first
    GPU."""
    if device == 'cpu':
        return torch.device('cpu')
    if device != 'cuda':
        raise ValueError("device=%r: choose 'cpu' or 'cuda'" % device)
    if not torch.cuda.is_available():
        raise RuntimeError('PyTorch %s finds no CUDA GPU' % torch.__version__)
    return torch.device('cuda', 0)


def torch_epoch(train, valid, dtype='float32', batch_size=600,
                learning_rate=0.13, device='cpu'):
    """PyTorch with autograd and its fused cross-entropy."""
    import torch
    import torch.nn.functional as F

    where = _torch_device(torch, device)
    # torch.cuda.synchronize on a GPU, torch.cpu's (which returns at once)
    synchronize = getattr(torch, where.type).synchronize
    tdtype = getattr(torch, dtype)

    def on_device(array, dtype):
        return torch.as_tensor(numpy.asarray(array, dtype), device=where)
    train_x, train_y = on_device(train[0], dtype), on_device(train[1], 'int64')
    valid_x, valid_y = on_device(valid[0], dtype), on_device(valid[1], 'int64')
    W = torch.zeros(train_x.shape[1], 10, dtype=tdtype, device=where,
                    requires_grad=True)
    b = torch.zeros(10, dtype=tdtype, device=where, requires_grad=True)

    def epoch():
        nonlocal W, b
        for s in _slices(len(train_x), batch_size):
            cost = F.cross_entropy(train_x[s] @ W + b, train_y[s])
            W.grad = b.grad = None
            cost.backward()
            with torch.no_grad():
                W -= learning_rate * W.grad
                b -= learning_rate * b.grad
        with torch.no_grad():
            errors = [(torch.argmax(valid_x[s] @ W + b, dim=1) != valid_y[s])
                      .double().mean().item()
                      for s in _slices(len(valid_x), batch_size)]
        synchronize()
        return float(numpy.mean(errors))

    if where.type == 'cpu':
        return epoch, {'library': 'PyTorch %s (%d threads)'
                       % (torch.__version__, torch.get_num_threads()),
                       'blas': "PyTorch's own (MKL: %s)"
                       % torch.backends.mkl.is_available(), 'device': 'cpu'}
    # PyTorch's default keeps float32 products in float32 (no TF32)
    return epoch, {'library': 'PyTorch %s (CUDA %s)'
                   % (torch.__version__, torch.version.cuda),
                   'blas': 'cuBLAS, float32 matmul precision %s'
                   % torch.get_float32_matmul_precision(),
                   'device': 'cuda%d' % where.index,
                   'device_name': torch.cuda.get_device_name(where)}


PEERS = {'numpy': numpy_epoch, 'jax-step': jax_step_epoch,
         'jax-scan': jax_scan_epoch, 'torch': torch_epoch}

#: The module each peer needs, to say so when it is missing.
NEEDS = {'numpy': 'numpy', 'jax-step': 'jax', 'jax-scan': 'jax',
         'torch': 'torch'}


def load_arrays(folder):
    """The (train, valid) arrays the benchmark wrote for its workers."""
    return [(numpy.load(os.path.join(folder, split + '_x.npy')),
             numpy.load(os.path.join(folder, split + '_y.npy')))
            for split in ('train', 'valid')]


def serve(build):
    """Run a benchmark worker: ``build()`` returns ``(epoch, info,
    compile seconds)``; then, one JSON object per line on stdout, report
    ``{"compile", "first", "info"}`` (or ``{"error"}``), and answer each
    line ``N`` on stdin with ``{"times": [N epoch durations]}``."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), 'w')
    sys.stdout = sys.stderr          # nothing else may write to the channel

    def send(obj):
        protocol.write(json.dumps(obj) + '\n')
        protocol.flush()

    try:
        epoch, info, compile_time = build()
        start = time.perf_counter()
        epoch()
        first = time.perf_counter() - start
        epoch()                      # warm-up, not counted
    except Exception as e:
        send({'error': '%s' % e})
        return
    info.setdefault('python', '%d.%d.%d' % sys.version_info[:3])
    send({'compile': compile_time, 'first': first, 'info': info})
    for line in sys.stdin:
        if not line.strip():
            break
        epoch()       # untimed: lets BLAS threads of the last turn settle
        times = []
        for _ in range(int(line)):
            start = time.perf_counter()
            epoch()
            times.append(time.perf_counter() - start)
        send({'times': times})


def peer_worker(name, dtype, folder, batch_size, device):
    """Serve peer ``name`` on ``device`` (this file run as a script by the
    benchmark)."""
    import importlib.util

    def build():
        if importlib.util.find_spec(NEEDS[name]) is None:
            raise RuntimeError('%s is not installed in %s'
                               % (NEEDS[name], sys.executable))
        arrays = load_arrays(folder)
        start = time.perf_counter()
        epoch, info = PEERS[name](arrays[0], arrays[1], dtype, batch_size,
                                  device=device)
        info['floatX'] = dtype
        return epoch, info, time.perf_counter() - start
    serve(build)


if __name__ == '__main__':
    # python peers.py --worker NAME DTYPE FOLDER BATCH_SIZE DEVICE
    if len(sys.argv) != 7 or sys.argv[1] != '--worker':
        sys.exit('usage: peers.py --worker NAME DTYPE FOLDER BATCH_SIZE '
                 'DEVICE')
    peer_worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                sys.argv[6])
