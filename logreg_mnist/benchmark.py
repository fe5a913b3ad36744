"""``python -m logreg_mnist.benchmark``: how fast is the tutorial's training?

One *epoch* is the tutorial's: every training minibatch through
``train_model`` (MNIST: 83 of 600), then every validation minibatch through
``validate_model`` (16).  The benchmark reports, for the current
``THEANO_FLAGS``:

* the compile time of the three functions,
* the first epoch (it pays for warming caches up),
* steady-state epochs/sec: the median of many epochs after a warm-up one,

with the device, floatX, BLAS library and threads in use, and, for a run
on the CPU, how close it comes to the machine's limit: the shortest an
epoch could take at the peak multiply-add rate and the read rate of
memory, measured here once before the runs (``bench/limit.py``), and that
floor as a percentage of the run's epoch time.

``--compare`` runs the same epoch under several configurations, each in a
fresh worker process: the port on the CPU in float64 and float32, the port
with ``device=cuda`` in both precisions and in PyTensor's JAX mode on the
CPU, and the peers of ``bench/peers.py``: NumPy, JAX (a jitted step per
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

This module is the command: its options and its order of work.  What it
runs lives in ``logreg_mnist/bench/`` (see its ``__init__``).
"""
import argparse
import json
import sys
import tempfile

from . import cli
from .defaults import BATCH_SIZE
from .bench.limit import epoch_images, measure_limit, measured
from .bench.measure import (COMPARED, CONFIGS, PORT_CONFIGS, measure,
                            worker, write_arrays)
from .bench.report import add_floors, add_ratios, markdown, print_report
from .bench.system import system_info
from .files.writing import atomic_write, check_target


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
    parser.add_argument('--batch-size', type=cli.positive(int),
                        default=BATCH_SIZE,
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
    # (how start_worker runs the port; peers run bench/peers.py)
    parser.add_argument('--worker', choices=PORT_CONFIGS,
                        help=argparse.SUPPRESS)
    parser.add_argument('--data-folder', help=argparse.SUPPRESS)
    # (how measure_limit measures the machine's limit)
    parser.add_argument('--limit', action='store_true', help=argparse.SUPPRESS)
    return parser


def benchmark(args):
    if args.worker:
        return worker(args.data_folder, args.batch_size, args.engine)
    if args.limit:
        print(json.dumps(measured(args.engine)))
        return None
    configs = args.configs if args.compare else ['port']
    with tempfile.TemporaryDirectory(prefix='logreg-bench-') as folder:
        source, n_train, n_valid = write_arrays(args, folder)
        if args.save_json:   # (before the long part: not over the data)
            check_target(args.save_json, '`save_json`')
        limit = measure_limit(args)   # (alone: before any worker starts)
        rows = measure(configs, folder, args)
    add_ratios(rows)
    epoch = add_floors(rows, limit, *epoch_images(n_train, n_valid,
                                                  args.batch_size))
    result = {'system': system_info(), 'data': source,
              'batch_size': args.batch_size,
              'timed_epochs': args.epochs * args.rounds, 'limit': limit,
              'epoch': epoch, 'runs': rows}
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


def main(argv=None):
    # (the port runs in the workers, which start the engine themselves and
    # report a failure to start as that configuration's error)
    cli.run(build_parser(), benchmark, argv, engine=False)


if __name__ == '__main__':
    main()
