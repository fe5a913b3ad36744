"""What the benchmark times, and how: the configurations, the port's epoch,
one worker process per configuration, and the rounds in which the workers
take turns.

A worker builds its epoch, times a first one, runs an untimed warm-up and
says it is ready; then, each turn, an untimed epoch lets the previous
worker's BLAS threads go quiet before the timed ones (the protocol is
``peers.serve``).  The port's workers run ``python -m
logreg_mnist.benchmark --worker CONFIG`` in this interpreter, with the
configuration's THEANO_FLAGS; the peers' run ``peers.py`` as a plain
script in ``--peer-python``.
"""
import json
import os
import statistics
import subprocess
import sys
import time

from .. import KERNEL_VARIABLE
from .system import blas_in_use, openmp_threads

#: The environment as the user started us, before the engine adjusts it:
#: workers start from it, so peers run exactly as a user's own script would.
USER_ENV = dict(os.environ)

#: name -> (what runs, where: 'cpu' or 'cuda', floatX, THEANO_FLAGS that
#: the port adds)
CONFIGS = {
    'port': ('port', None, None, ''),   # the current flags, unchanged
    'port-cpu-float64': ('port', 'cpu', 'float64', 'device=cpu'),
    'port-cpu-float32': ('port', 'cpu', 'float32', 'device=cpu'),
    # the same through the graph's two BLAS products (see engine/kernel.py)
    'port-cpu-float64-graph': ('port', 'cpu', 'float64', 'device=cpu'),
    'port-cpu-float32-graph': ('port', 'cpu', 'float32', 'device=cpu'),
    'port-cuda-float64': ('port', 'cuda', 'float64',
                          'device=cuda,force_device=True'),
    'port-cuda-float32': ('port', 'cuda', 'float32',
                          'device=cuda,force_device=True'),
    # PyTensor's JAX mode, which device=cuda uses, here on the CPU
    'port-jax-cpu-float32': ('port', 'cpu', 'float32', 'device=cpu,mode=JAX'),
    'numpy-float64': ('numpy', 'cpu', 'float64', None),
    'numpy-float32': ('numpy', 'cpu', 'float32', None),
    'jax-step-float32': ('jax-step', 'cpu', 'float32', None),
    'jax-scan-float32': ('jax-scan', 'cpu', 'float32', None),
    'torch-float32': ('torch', 'cpu', 'float32', None),
    'jax-step-cuda-float32': ('jax-step', 'cuda', 'float32', None),
    'jax-scan-cuda-float32': ('jax-scan', 'cuda', 'float32', None),
    'torch-cuda-float32': ('torch', 'cuda', 'float32', None),
}
#: what --compare runs by default
COMPARED = [c for c in CONFIGS if c != 'port']
#: the configurations that run the port (the others run a peer)
PORT_CONFIGS = sorted(c for c in CONFIGS if CONFIGS[c][0] == 'port')


#################
# WHAT IS TIMED #
#################

def port_epoch(arrays, batch_size):
    """The Theano port's compiled functions and the tutorial's epoch."""
    import numpy
    from ..data import shared_dataset
    from ..engine import (C_ENGINE, ENGINE, blas_ldflags, device,
                          device_name, jax_mode, kernel, theano)
    from ..sgd import chosen_build
    datasets = [shared_dataset(xy) for xy in arrays]
    start = time.perf_counter()
    # the graph training compiles: kernel.c's op where it runs
    _, train_model, validate_model, _ = chosen_build()(
        datasets + datasets[-1:], batch_size=batch_size)
    # JIT backends (Numba, XLA) compile at the first call: count it here
    float(numpy.asarray(train_model(0)))
    float(validate_model(0))
    compile_time = time.perf_counter() - start
    n_train_batches = len(arrays[0][0]) // batch_size
    n_valid_batches = len(arrays[1][0]) // batch_size

    def epoch():
        for minibatch_index in range(n_train_batches):
            train_model(minibatch_index)
        return float(numpy.mean([validate_model(i)
                                 for i in range(n_valid_batches)]))

    ldflags = blas_ldflags()
    info = {'library': ENGINE, 'device': device(),
            'device_name': device_name(),
            'floatX': theano.config.floatX, 'blas.ldflags': ldflags}
    if jax_mode():
        info['blas'] = "XLA's own (Eigen on a CPU, cuBLAS on a GPU)"
    elif kernel.enabled():
        # (under PyTensor, functions holding the kernel run on its C backend)
        info['library'] = C_ENGINE + ' + kernel.c'
        info['blas'] = 'none in the loop: kernel.c, %s OpenMP threads' % (
            openmp_threads())
    elif not ldflags.strip():
        info['blas'] = "NumPy's, through its C API (blas.ldflags is empty)"
    else:
        # the library blas.ldflags names, or, where the backend loaded
        # none of them (one that does not link C code), any BLAS loaded
        linked = [f[2:] for f in ldflags.split() if f.startswith('-l')]
        found = blas_in_use(linked) or blas_in_use()
        info['blas'] = 'unknown' if found is None else (
            '; '.join(found) or 'none found')
    return epoch, info, compile_time


###########
# WORKERS #
###########

def worker(folder, batch_size, engine=None):
    """Serve the port, as THEANO_FLAGS configure it, on the arrays in
    ``folder`` (see ``peers.serve``), on the ``engine`` named (see
    ``engine.start``): an engine that cannot start is reported as the
    configuration's error, like any other failure to build."""
    from .peers import load_arrays, serve

    def build():
        from ..engine import start
        start(engine)
        return port_epoch(load_arrays(folder), batch_size)
    serve(build)


def port_environment(*flags):
    """The user's environment, with ``flags`` added to their THEANO_FLAGS
    (where the same flag is named twice, the later one counts)."""
    env = dict(USER_ENV)
    env['THEANO_FLAGS'] = ','.join(
        f for f in (env.get('THEANO_FLAGS', ''),) + flags if f)
    return env


def port_command(arguments, engine=None):
    """The command line of ``python -m logreg_mnist.benchmark arguments``
    in this interpreter, on the ``engine`` the benchmark was given."""
    return ([sys.executable, '-m', 'logreg_mnist.benchmark'] + arguments
            + (['--engine', engine] if engine else []))


def start_worker(config, folder, batch_size, extra_flags, peer_python,
                 engine=None):
    """A worker process for ``config``: the port in this interpreter, a
    peer in ``peer_python`` (peers.py runs there as a plain script)."""
    from . import peers
    kind, where, floatx, flags = CONFIGS[config]
    if kind == 'port':
        env = port_environment(flags, floatx and 'floatX=' + floatx,
                               extra_flags)
        env[KERNEL_VARIABLE] = 'graph' if config.endswith('-graph') else \
            env.get(KERNEL_VARIABLE, 'fused')
        command = port_command(['--worker', config, '--data-folder', folder,
                                '--batch-size', str(batch_size)], engine)
    else:
        env = dict(USER_ENV)
        command = [peer_python, peers.__file__, '--worker', kind, floatx,
                   folder, str(batch_size), where]
    if where == 'cuda':
        # JAX takes 75 % of a GPU's memory up front unless told not to;
        # two workers on one GPU would fight over it
        env['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
    elif where == 'cpu':
        env['JAX_PLATFORMS'] = 'cpu'   # a CPU run never touches a GPU
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def measure(configs, folder, args):
    """Start a worker per config and time them in interleaved rounds: the
    rows, without ratios."""
    rows, workers = [], {}
    for config in configs:
        proc = start_worker(config, folder, args.batch_size, args.flags,
                            args.peer_python, args.engine)
        reply = proc.stdout.readline()
        try:
            ready = json.loads(reply)
        except ValueError:
            err = proc.stderr.read().strip().splitlines()
            ready = {'error': err[-1] if err else 'worker failed'}
        row = dict(config=config, **ready)
        rows.append(row)
        if 'error' in row:
            proc.kill()
            proc.communicate()
        else:
            row['times'] = []
            workers[config] = (proc, row)
        print('... %s: %s' % (config, 'unavailable' if 'error' in row else
                              'compiled in %.1fs' % row['compile']),
              file=sys.stderr, flush=True)
    for _ in range(args.rounds):
        for proc, row in workers.values():
            time.sleep(0.2)  # the last worker's BLAS threads stop spinning
            proc.stdin.write('%d\n' % args.epochs)
            proc.stdin.flush()
            row['times'] += json.loads(proc.stdout.readline())['times']
    for proc, row in workers.values():
        proc.stdin.close()
        proc.wait()
        row['epochs_per_sec'] = 1.0 / statistics.median(row['times'])
    return rows


def write_arrays(args, folder):
    """The data every worker reads: synthetic, or the named dataset.
    Returns ``(what they are, training images, validation images)``."""
    import numpy
    if args.dataset:
        from ..data import read_dataset, resolve_dataset
        # (in float32, the narrowest precision timed: checked after the cast)
        train, valid, _ = read_dataset(resolve_dataset(args.dataset),
                                       dtype='float32')
        source = args.dataset
    else:
        rng = numpy.random.RandomState(1234)
        train, valid = [(rng.randint(0, 256, (n, 784)).astype('float32')
                         / numpy.float32(255), rng.randint(0, 10, n))
                        for n in (args.train_size, 10000)]
        source = 'synthetic, %d + 10000 x 784' % args.train_size
    for split, (x, y) in (('train', train), ('valid', valid)):
        numpy.save(os.path.join(folder, split + '_x.npy'), x)
        numpy.save(os.path.join(folder, split + '_y.npy'), y)
    return source, len(train[0]), len(valid[0])
