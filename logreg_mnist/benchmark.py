"""``python -m logreg_mnist.benchmark``: how fast is the tutorial's training?

One *epoch* is the tutorial's: every training minibatch through
``train_model`` (MNIST: 83 of 600), then every validation minibatch through
``validate_model`` (16).  The benchmark reports, for the current
``THEANO_FLAGS``:

* the compile time of the three functions,
* the first epoch (it pays for warming caches up),
* steady-state epochs/sec: the median of many epochs after a warm-up one,

with the device, floatX, BLAS library and threads in use.

``--compare`` runs the same epoch under several configurations, each in a
fresh worker process: the port on the CPU in float64 and float32, the port
with ``device=cuda`` in both precisions and in PyTensor's JAX mode on the
CPU, and the peers of ``peers.py``: NumPy, JAX (a jitted step per
minibatch, and an epoch as one ``lax.scan``) and PyTorch, on the CPU and
(JAX, PyTorch) on the GPU, run by ``--peer-python`` (by default this
Python; on Python 3.11, where Theano pins numpy 1.23, give it a venv with
today's NumPy).  A run that cannot happen here (no GPU, a library missing)
is reported as unavailable, with the reason.  Workers
take turns, a few epochs each, round after round, so that a machine that
slows down for a while slows every configuration alike; the ratios in the
table are the point.  Each turn starts after a short pause and an untimed
epoch, so that the BLAS threads of the previous worker, which spin for a
while after their last call, have gone quiet.

Every timed epoch ends with host-side numbers (the cost, the validation
error), and the peers wait for their device explicitly, so GPU work is
synchronised before the clock stops.

Without ``--dataset`` the data are synthetic, of MNIST's shape (50,000 +
10,000 images of 784 pixels in [0, 1]): speed does not depend on the
pixel values.
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from . import KERNEL_VARIABLE, cli
from .safety import atomic_write, check_target

#: The environment as the user started us, before the engine adjusts it:
#: workers start from it, so peers run exactly as a user's own script would.
USER_ENV = dict(os.environ)

#: name -> (what runs, where: 'cpu' or 'cuda', floatX, THEANO_FLAGS that
#: the port adds)
CONFIGS = {
    'port': ('port', None, None, ''),   # the current flags, unchanged
    'port-cpu-float64': ('port', 'cpu', 'float64', 'device=cpu'),
    'port-cpu-float32': ('port', 'cpu', 'float32', 'device=cpu'),
    # the same through the graph's two BLAS products (see kernel.py)
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


#################
# WHAT IS TIMED #
#################

def port_epoch(arrays, batch_size):
    """The Theano port's compiled functions and the tutorial's epoch."""
    import numpy
    from . import kernel
    from .data import shared_dataset
    from .engine import (ENGINE, blas_ldflags, device, device_name,
                         jax_mode, theano)
    from .sgd import build_model
    datasets = [shared_dataset(xy) for xy in arrays]
    start = time.perf_counter()
    _, train_model, validate_model, _ = build_model(
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
        info['library'] = kernel.engine_name() + ' + kernel.c'
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


def loaded_libraries():
    """The paths of the shared libraries loaded in this process (read from
    /proc/self/maps; Linux only), or None."""
    try:
        with open('/proc/self/maps') as f:
            return {line.split()[-1] for line in f if '.so' in line}
    except OSError:
        return None


def openmp_threads():
    """How many threads the loaded OpenMP runtime (kernel.c's) uses, or
    '?'."""
    gomp = [p for p in loaded_libraries() or () if 'libgomp' in p]
    try:
        return ctypes.CDLL(gomp[0]).omp_get_max_threads()
    except (IndexError, OSError, AttributeError):
        return '?'


def blas_in_use(names=None):
    """The BLAS libraries loaded in this process (only ``lib<name>`` ones
    when ``names`` are given), with core type and threads for OpenBLAS: a
    list of descriptions, or None where that cannot be known."""
    paths = loaded_libraries()
    if paths is None:
        return None
    found = []
    for path in sorted(paths):
        name = os.path.basename(path)
        if names and not any(name.startswith('lib%s.' % n) for n in names):
            continue
        if 'openblas' in name:
            lib = ctypes.CDLL(path)
            desc = name
            # plain, numpy's 64_ suffix, scipy-openblas32's scipy_ prefix
            for prefix, suffix in (('', ''), ('', '64_'), ('scipy_', '')):
                corename = prefix + 'openblas_get_corename' + suffix
                if hasattr(lib, corename):
                    getattr(lib, corename).restype = ctypes.c_char_p
                    threads = getattr(lib, prefix + 'openblas_get_num_threads'
                                      + suffix)
                    desc += ' (%s, %d threads)' % (
                        getattr(lib, corename)().decode(), threads())
                    break
            found.append(desc)
        elif name.startswith(('libmkl_rt', 'libmkl_core')):
            found.append(name)
    return found


##########
# WORKER #
##########

def worker(config, folder, batch_size):
    """Serve the port in one configuration (see ``peers.serve``)."""
    from .peers import load_arrays, serve

    def build():
        return port_epoch(load_arrays(folder), batch_size)
    serve(build)


def start_worker(config, folder, batch_size, extra_flags, peer_python):
    """A worker process for ``config``: the port in this interpreter, a
    peer in ``peer_python`` (peers.py runs there as a plain script)."""
    from . import peers
    env = dict(USER_ENV)
    kind, where, floatx, flags = CONFIGS[config]
    if kind == 'port':
        env[KERNEL_VARIABLE] = 'graph' if config.endswith('-graph') else \
            env.get(KERNEL_VARIABLE, 'fused')
        env['THEANO_FLAGS'] = ','.join(
            f for f in (env.get('THEANO_FLAGS', ''), flags,
                        floatx and 'floatX=' + floatx, extra_flags) if f)
    if where == 'cuda':
        # JAX takes 75 % of a GPU's memory up front unless told not to;
        # two workers on one GPU would fight over it
        env['XLA_PYTHON_CLIENT_PREALLOCATE'] = 'false'
    elif where == 'cpu':
        env['JAX_PLATFORMS'] = 'cpu'   # a CPU run never touches a GPU
    if kind == 'port':
        command = [sys.executable, '-m', 'logreg_mnist.benchmark',
                   '--worker', config, '--data-folder', folder,
                   '--batch-size', str(batch_size)]
    else:
        command = [peer_python, peers.__file__, '--worker', kind, floatx,
                   folder, str(batch_size), where]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


##########
# REPORT #
##########

def system_info():
    import numpy
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(l.split(':', 1)[1].strip() for l in f
                       if l.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(),
            'python': platform.python_version(), 'numpy': numpy.__version__}


def table(rows):
    """The comparison table, as text."""
    head = ['run', 'library', 'device', 'floatX', 'compile s',
            'first epoch s', 'epochs/sec', 'port is']
    body = [[r['config'], r['info']['library'], r['info']['device'],
             r['info']['floatX'], '%.2f' % r['compile'], '%.3f' % r['first'],
             '%.2f' % r['epochs_per_sec'],
             '%.2fx' % r['port_speedup'] if 'port_speedup' in r else '']
            for r in rows if 'error' not in r]
    widths = [max(len(line[i]) for line in [head] + body)
              for i in range(len(head))]

    def fmt(line):  # text columns to the left, numbers to the right
        return '  '.join(c.ljust(w) if i < 4 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths)))
    out = [fmt(head), fmt(['-' * w for w in widths])] + [fmt(l) for l in body]
    out += ['%-*s  unavailable: %s' % (widths[0], r['config'], r['error'])
            for r in rows if 'error' in r]
    return '\n'.join(out)


def markdown(result):
    """The results as Markdown: the port's epochs/sec on the CPU and the
    GPU in both precisions, then every run, then what it ran on."""
    timed = {r['config']: r for r in result['runs'] if 'error' not in r}
    gpus = sorted({r['info']['device_name'] for r in timed.values()
                   if r['info'].get('device_name')})
    s = result['system']
    out = ['%s, %d cores; GPU: %s; Python %s, numpy %s. Data: %s; batch %d; '
           'epochs/sec is the median of %d timed epochs.' % (
               s['cpu'], s['cores'], ', '.join(gpus) or 'none',
               s['python'], s['numpy'], result['data'],
               result['batch_size'], result['timed_epochs']),
           '', '| the port, epochs/sec | CPU | GPU | GPU / CPU |',
           '|---|---:|---:|---:|']
    for floatx in ('float64', 'float32'):
        cpu, gpu = (timed.get('port-%s-%s' % (where, floatx))
                    for where in ('cpu', 'cuda'))
        out.append('| %s | %s | %s | %s |' % (
            floatx, '%.2f' % cpu['epochs_per_sec'] if cpu else '-',
            '%.2f' % gpu['epochs_per_sec'] if gpu else '-',
            '%.2fx' % (gpu['epochs_per_sec'] / cpu['epochs_per_sec'])
            if cpu and gpu else '-'))
    out += ['', '| run | library | device | floatX | compile s | '
            'first epoch s | epochs/sec | port is |',
            '|---|---|---|---|---:|---:|---:|---:|']
    for r in result['runs']:
        if 'error' in r:
            out.append('| %s | unavailable: %s | | | | | | |' % (
                r['config'], r['error'].replace('|', '\\|')))
            continue
        info = r['info']
        out.append('| %s | %s | %s | %s | %.2f | %.3f | %.2f | %s |' % (
            r['config'], info['library'],
            info['device'] + (' (%s)' % info['device_name']
                              if info.get('device_name') else ''),
            info['floatX'], r['compile'], r['first'], r['epochs_per_sec'],
            '%.2fx' % r['port_speedup'] if 'port_speedup' in r else ''))
    out += ['', '"port is": the port\'s epochs/sec on the same device '
            '(CPU or GPU) at the same floatX, over the run\'s.', '']
    out += ['- %s: Python %s; BLAS: %s' % (
        r['config'], r['info']['python'], r['info']['blas'])
        for r in timed.values()]
    return '\n'.join(out)


def add_ratios(rows):
    """port_speedup: the epochs/sec of the port on the same device ('cpu'
    or 'cuda') at the same floatX over this row's (1.00x for the port
    itself; above 1 the port is faster)."""
    timed = {r['config']: r for r in rows if 'error' not in r}
    for name, r in timed.items():
        kind, where, floatx, _ = CONFIGS[name]
        port = timed.get('port-%s-%s' % (where, floatx))
        if port is not None:
            r['port_speedup'] = port['epochs_per_sec'] / r['epochs_per_sec']


def measure(configs, folder, args):
    """Start a worker per config and time them in interleaved rounds."""
    rows, workers = [], {}
    for config in configs:
        proc = start_worker(config, folder, args.batch_size, args.flags,
                            args.peer_python)
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
    add_ratios(rows)
    return rows


def write_arrays(args, folder):
    """The data every worker reads: synthetic, or the named dataset."""
    import numpy
    if args.dataset:
        from .data import read_dataset, resolve_dataset
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
    return source


def config_list(text):
    """An argparse type: configuration names, comma-separated, each a key
    of CONFIGS (a name given twice runs once)."""
    names = [n.strip() for n in text.split(',')]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise argparse.ArgumentTypeError(
            'unknown %s; choose from %s' % (', '.join(map(repr, unknown)),
                                            ', '.join(CONFIGS)))
    return list(dict.fromkeys(names))


def build_parser():
    parser = cli.new_parser(
        'benchmark',
        "Time the tutorial's training epoch (all training minibatches plus "
        "all validation minibatches) and report compile time, first epoch "
        "and steady-state epochs/sec. Without --compare, the current "
        "THEANO_FLAGS are measured; with --compare, CPU float64, CPU "
        "float32 and GPU float32 runs of the port and NumPy/PyTorch peers "
        "are measured in turns and compared.")
    parser.add_argument('--compare', action='store_true',
                        help='compare several configurations and peers')
    output = parser.add_mutually_exclusive_group()
    output.add_argument('--json', action='store_true',
                        help='print the results as JSON instead of a table')
    output.add_argument('--markdown', action='store_true',
                        help='print the results as Markdown tables (a '
                             'summary of the port on the CPU and the GPU, '
                             'then every run) instead of a table')
    parser.add_argument('--save-json', type=cli.output_file, metavar='FILE',
                        help='also write the results as JSON to FILE')
    parser.add_argument('--dataset', type=cli.dataset_name,
                        help='time on this dataset (any --dataset that '
                             'train accepts) instead of synthetic data')
    parser.add_argument('--train-size', type=cli.positive(int), default=50000,
                        help='training images of the synthetic data')
    parser.add_argument('--batch-size', type=cli.positive(int), default=600,
                        help='examples per minibatch')
    parser.add_argument('--epochs', type=cli.positive(int), default=2,
                        help='epochs each configuration runs per round')
    parser.add_argument('--rounds', type=cli.positive(int), default=5,
                        help='rounds of turns; epochs/sec is the median of '
                             'all epochs x rounds timed epochs')
    parser.add_argument('--configs', type=config_list, default=COMPARED,
                        help='the runs --compare makes, comma-separated '
                             '(any of %s; default: all but port)'
                             % ', '.join(CONFIGS))
    parser.add_argument('--flags', default='',
                        help='extra THEANO_FLAGS for the port in every run')
    parser.add_argument('--peer-python', default=sys.executable,
                        help='the Python that runs the peers (NumPy, JAX, '
                             'PyTorch), e.g. a venv with today\'s NumPy '
                             'where Theano pins numpy 1.23 (default: this '
                             'Python)')
    parser.add_argument('--worker', choices=sorted(   # peers run peers.py
                            c for c in CONFIGS if CONFIGS[c][0] == 'port'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--data-folder', help=argparse.SUPPRESS)
    return parser


def benchmark(args):
    if args.worker:
        return worker(args.worker, args.data_folder, args.batch_size)
    configs = args.configs if args.compare else ['port']
    with tempfile.TemporaryDirectory(prefix='logreg-bench-') as folder:
        source = write_arrays(args, folder)
        if args.save_json:   # (before the long part: not over the data)
            check_target(args.save_json, '`save_json`')
        rows = measure(configs, folder, args)
    result = {'system': system_info(), 'data': source,
              'batch_size': args.batch_size,
              'timed_epochs': args.epochs * args.rounds, 'runs': rows}
    if args.save_json:
        with atomic_write(args.save_json) as f:
            f.write(json.dumps(result, indent=2).encode())
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.markdown:
        print(markdown(result))
    else:
        print_report(result)
    return result


def print_report(result):
    """The results as text: what ran where, the table, then each run's
    Python and BLAS."""
    rows = result['runs']
    s = result['system']
    print('%s, %d cores; Python %s, numpy %s; data: %s; batch %d; median of '
          '%d epochs per run' % (s['cpu'], s['cores'], s['python'], s['numpy'],
                                 result['data'], result['batch_size'],
                                 result['timed_epochs']))
    print()
    print(table(rows))
    print()
    width = max(len(r['config']) for r in rows)
    for r in rows:
        if 'error' not in r:
            print('%-*s  Python %s; %sBLAS: %s' % (
                width, r['config'], r['info']['python'],
                'GPU: %s; ' % r['info']['device_name']
                if r['info'].get('device_name') else '', r['info']['blas']))


def main(argv=None):
    cli.run(build_parser(), benchmark, argv)


if __name__ == '__main__':
    main()
