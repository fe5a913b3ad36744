"""The machine's limit: the shortest time in which this machine could run
one epoch, whatever the code.

An epoch scores every training image and adds its share of the gradient
(two products of ``d x k`` multiply-adds per image, ``x . W`` and ``x^T .
delta``), then scores every validation image (one product), with ``d =
784`` pixels and ``k = 10`` classes; a multiply-add is two floating-point
operations.  The images are read at least once.  So an epoch cannot take
less than its *floor*, the longer of

* its operations at the machine's peak multiply-add rate for its floatX,
* its bytes at the rate at which the machine reads memory;

and ``floor / epoch time`` is the share of the limit that a run reaches
(100 % would be an epoch at the floor).

The two rates are measured by ``limit.c``, compiled by the engine exactly
as the kernel (``kernel.c``) is: with its compiler, its flags and OpenMP, and
with ``engine/vector.h`` deciding the width of the vectors, so that the
peak is the one the kernel's instructions can reach.  The benchmark
measures them once, before its workers start, in a process of its own
(``python -m logreg_mnist.benchmark --limit``, see ``measure_limit``).
"""
import functools
import json
import os
import subprocess
import sys
import time
import zlib

#: the pixels of an image and the classes of the benchmark's model
PIXELS, CLASSES = 784, 10
#: the precisions measured, and the bytes of a number in each
ITEMSIZE = {'float32': 4, 'float64': 8}
#: the shortest a timed run of the peak may be: long enough that starting
#: the threads and reading the clock are lost in it
RUN_SECONDS = 0.03
#: timed runs of each measurement; the fastest counts (the others met
#: other work on the machine)
RUNS = 5
#: the smallest buffer read, in bytes (see ``read_size``)
MIN_READ = 256 << 20

with open(os.path.join(os.path.dirname(__file__), 'limit.c')) as _f:
    SOURCE = _f.read()


##################
# THE ARITHMETIC #
##################

def epoch_images(n_train, n_valid, batch_size):
    """``(training, validation)`` images an epoch runs through: whole
    minibatches only, as the tutorial's loop (and every peer) does."""
    return (n_train // batch_size * batch_size,
            n_valid // batch_size * batch_size)


def epoch_flops(n_train, n_valid):
    """Floating-point operations of an epoch: two products per training
    image (scores, gradient), one per validation image, each of ``PIXELS x
    CLASSES`` multiply-adds of two operations."""
    return 2 * PIXELS * CLASSES * (2 * n_train + n_valid)


def epoch_bytes(n_train, n_valid, floatx):
    """Bytes of an epoch's images in ``floatx``, read once."""
    return (n_train + n_valid) * PIXELS * ITEMSIZE[floatx]


def epoch_floor(limit, n_train, n_valid, floatx):
    """The seconds an epoch takes at least at the rates of ``limit`` (see
    ``measured``): its operations at the peak of ``floatx``, or its bytes
    at the read rate, whichever takes longer."""
    computing = epoch_flops(n_train, n_valid) / (limit['gflops'][floatx]
                                                 * 1e9)
    reading = epoch_bytes(n_train, n_valid, floatx) / (limit['read_gbs']
                                                       * 1e9)
    return max(computing, reading)


def percent_of_limit(floor, epochs_per_sec):
    """The epoch's floor as a percentage of the time an epoch took."""
    return 100 * floor * epochs_per_sec


###########
# THE OPS #
###########

class _LimitOp(object):
    """What both ops share: a precision, the C source after vector.h,
    OpenMP, the cache key.  The ops are made of these methods and the
    engine's ``COp`` (see ``ops``)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, value):
        from ..engine import T
        from ..engine.ops import c_op_bases
        value, wanted = T.as_tensor_variable(value), self.input()
        if value.dtype != wanted.dtype or value.ndim != wanted.ndim:
            raise TypeError('%s needs %s, got %s'
                            % (type(self).__name__, wanted.type, value.type))
        ndim, _, _ = self.OUTPUT
        Apply = c_op_bases()[0]
        return Apply(self, [value], [(T.scalar, T.vector)[ndim](
            dtype='float64')])

    def perform(self, node, inputs, outputs):
        raise NotImplementedError('%s runs only as compiled C code'
                                  % type(self).__name__)

    def c_support_code(self, **kwargs):
        """vector.h, as the kernel has it, and limit.c, for this op's
        precision."""
        from ..engine.kernel import prelude
        return prelude(self.dtype) + SOURCE

    def c_compile_args(self, **kwargs):
        from ..engine import theano
        from ..engine.kernel import openmp_flags
        return openmp_flags(theano.config.cxx)

    def c_code_cache_version(self):
        """A hash of all the C compiled (see the kernel's)."""
        generated = self.c_code(None, 'node', ['value'], ['out'],
                                {'fail': 'fail;'})
        return (1, zlib.crc32((self.c_support_code() + generated).encode()))

    def c_code(self, node, name, inputs, outputs, sub):
        from ..engine.kernel import _KernelOp
        (value,), (out,) = inputs, outputs
        return """
        {
            const char *problem = NULL;
            %(output)s
            if (!problem) {
                %(call)s
            }
            if (problem) {
                PyErr_SetString(PyExc_MemoryError, problem);
                %(fail)s
            }
        }
        """ % dict(output=_KernelOp.output(out, *self.OUTPUT),
                   call=self.call(value, out), fail=sub['fail'])


class _Peak(_LimitOp):
    """``iterations`` rounds of multiply-adds of the op's precision on every
    thread: a float64 vector of the sum of the threads' rates (operations
    a second of their own processor time), the threads, the bits of a
    vector, the shortest processor time of a thread, and the sum of the
    results."""
    OUTPUT = (1, ['5'], 'NPY_FLOAT64')   # (see _KernelOp.output)

    @staticmethod
    def input():
        from ..engine import T
        return T.scalar('iterations', dtype='int64')

    @staticmethod
    def call(iterations, out):
        return ('lr_peak((long)*(npy_int64 *)PyArray_DATA(%s), '
                '(double *)PyArray_DATA(%s));' % (iterations, out))


class _Reads(_LimitOp):
    """The sum of a vector of the op's precision, read on every thread (a
    float64 scalar)."""
    OUTPUT = (0, [], 'NPY_FLOAT64')

    def input(self):
        from ..engine import T
        return T.vector('x', dtype=self.dtype)

    @staticmethod
    def call(x, out):
        return """
                PyArrayObject *xs = PyArray_GETCONTIGUOUS(%(x)s);
                if (!xs)
                    problem = "out of memory";
                else {
                    *(double *)PyArray_DATA(%(out)s) = lr_reads(
                        (const LR_REAL *)PyArray_DATA(xs),
                        (long)PyArray_SIZE(xs));
                    Py_DECREF(xs);
                }""" % locals()


@functools.lru_cache()
def ops():
    """``(Peak, Reads)``: made when first asked for (the engine starts
    then), see ``engine.ops.op_classes``."""
    from ..engine.ops import op_classes
    return op_classes(__name__, (_Peak, _Reads))


def __getattr__(name):
    """``Peak`` and ``Reads`` (see ``ops``)."""
    if name in ('Peak', 'Reads'):
        return dict(zip(('Peak', 'Reads'), ops()))[name]
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


#################
# THE TWO RATES #
#################

def compiled(op):
    """The engine's function of the input of ``op`` that returns ``op`` of
    it, as the engine's C backend runs it."""
    from ..engine import theano
    from ..engine.ops import c_mode
    value = op.input()
    return theano.function([value], op(value), mode=c_mode())


def peak(dtype):
    """``(GFLOP/s, threads, vector bits)`` of multiply-adds in ``dtype`` on
    every thread: as many rounds as take each thread ``RUN_SECONDS`` of
    its processor's time, the fastest of ``RUNS`` runs.  Where there are
    more threads than processors (``OMP_NUM_THREADS`` says so), they took
    turns: each processor counts once."""
    run = compiled(ops()[0](dtype))
    iterations = 1024
    while run(iterations)[3] < RUN_SECONDS:
        iterations *= 2
    rate, threads, bits = max(tuple(run(iterations)[:3])
                              for _ in range(RUNS))
    return (rate * min(threads, processors()) / threads / 1e9, int(threads),
            int(bits))


def processors():
    """How many processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # (not on macOS)
        return os.cpu_count() or 1


def cache_sizes():
    """The sizes in bytes of the CPU's caches, as Linux reports them (none
    elsewhere)."""
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    folder = '/sys/devices/system/cpu/cpu0/cache'
    sizes = []
    try:
        indexes = [i for i in os.listdir(folder) if i.startswith('index')]
        for index in indexes:
            with open(os.path.join(folder, index, 'size')) as f:
                text = f.read().strip()
            sizes.append(int(text.rstrip('KMG')) * units.get(text[-1:], 1))
    except (OSError, ValueError):
        pass
    return sizes


def read_size():
    """Bytes of the buffer that the read rate is measured on: twice the
    largest cache, so that none of it can be served from a cache, and at
    least ``MIN_READ`` (where the caches are not known)."""
    return max([MIN_READ] + [2 * size for size in cache_sizes()])


def read_rate():
    """``(GB/s, bytes)``: the fastest of ``RUNS`` reads of a buffer larger
    than the caches, on every thread, by the clock on the wall (two
    threads that read by turns would each find memory less busy).  The
    buffer is written by this one thread, as the benchmark's data are, so
    it lies in memory where theirs does."""
    import numpy
    run = compiled(ops()[1]('float64'))
    buffer = numpy.ones(read_size() // 8)
    seconds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run(buffer)
        seconds.append(time.perf_counter() - start)
    return buffer.nbytes / min(seconds) / 1e9, buffer.nbytes


def measured(engine=None):
    """The machine's limit, measured here with the ``engine`` named (see
    ``engine.start``): ``gflops`` ({floatX: GFLOP/s}), ``read_gbs``,
    ``read_mib`` (the buffer), ``threads``, ``vector_bits``, ``openmp``
    (False: one thread, the compiler has none), ``compiler`` and ``load``
    (the load average when measured, or None); or ``error``, why it could
    not be measured."""
    from ..engine import failure, start
    from ..errors import EngineError
    try:
        start(engine)
        from ..engine import theano
        from ..engine.kernel import openmp_flags
        cxx = theano.config.cxx
        if not cxx:
            raise EngineError('the engine has no C compiler (cxx is empty)')
        rates = {floatx: peak(floatx) for floatx in ITEMSIZE}
        gbs, size = read_rate()
    except Exception as e:
        text = str(failure(e) or e).strip()
        return {'error': text.splitlines()[0] if text else type(e).__name__}
    _, threads, bits = rates['float32']
    return {'gflops': {floatx: rate for floatx, (rate, _, _) in rates.items()},
            'read_gbs': gbs, 'read_mib': size / (1 << 20),
            'threads': threads, 'vector_bits': bits,
            'openmp': bool(openmp_flags(cxx)),
            'compiler': os.path.basename(cxx), 'load': load_average()}


def load_average():
    """The load average of the last minute, or None where it is not
    known."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def measure_limit(args):
    """The machine's limit (see ``measured``), in a process of its own
    started with the port's flags and engine, so that the benchmark's
    process starts no engine and the workers find no thread of it."""
    from .measure import port_command, port_environment
    env = port_environment(args.flags, 'device=cpu')
    start = time.perf_counter()
    out = subprocess.run(port_command(['--limit'], args.engine), env=env,
                         capture_output=True, text=True)
    try:
        limit = json.loads(out.stdout.splitlines()[-1])
    except (IndexError, ValueError):
        said = out.stderr.strip().splitlines()
        limit = {'error': said[-1] if said else
                 'exit status %d' % out.returncode}
    print("... the machine's limit: %s" % (
        'not measured' if 'error' in limit else
        'measured in %.1fs' % (time.perf_counter() - start)),
        file=sys.stderr, flush=True)
    return limit

