"""The CPU kernel: a training step in one pass over the minibatch.

In the graph, a step computes the scores ``x . W`` and then the gradient
``x^T . delta`` as two BLAS products whose other side is only ten columns
wide.  BLAS runs such skinny products far below the processor's speed, and
each of them reads the whole minibatch.  ``kernel.c`` does both for a block
of images at a time while their pixels are still in the cache, with the
partial sums in vector registers as wide as the compiler targets
(``vector.h``), on all cores (OpenMP).  It computes what the graph
computes -- same scores, softmax, cost and gradients; only the order of
the additions differs -- so the loop, the learning rate and every printed
line stay the tutorial's (on the full MNIST, the trace is the graph's line
for line in both precisions).

Used for floatX=float32 and float64 on the CPU with the engine's C backend
(its compiler and cache build the kernel, like any Theano op); anything
that runs through JAX keeps the graph.  Set ``LOGREG_MNIST_KERNEL=graph``
to train through the graph.
"""
import functools
import os
import zlib

from .. import KERNEL_VARIABLE
from ..errors import EngineError
from . import state, theano, T
from .compiler import build_problem
from .ops import c_mode, c_op_bases, op_classes
from .runtime import runs_c_ops



def _text(name):
    with open(os.path.join(os.path.dirname(__file__), name)) as f:
        return f.read()


#: kernel.c, and vector.h (the width of its vectors) that goes before it
SOURCE, VECTOR_H = _text('kernel.c'), _text('vector.h')

#: what kernel.c's LR_ macros stand for, by dtype
_REALS = {'float32': ('float', 4, 'int', 'NPY_FLOAT32'),
          'float64': ('double', 8, 'long long', 'NPY_FLOAT64')}


@functools.lru_cache()
def openmp_flags(cxx):
    """``['-fopenmp']`` when the compiler ``cxx`` builds and links OpenMP
    code, else none: clang without libomp (Debian's clang, macOS's) has
    neither ``omp.h`` nor the library, and the kernel then runs on one
    thread."""
    probe = '#include <omp.h>\nint probe() { return omp_get_max_threads(); }\n'
    return [] if build_problem(cxx, probe, '-fopenmp') else ['-fopenmp']


def prelude(dtype):
    """The C that goes before kernel.c (or other C of the package written
    for vector.h): what its LR_ macros stand for in ``dtype``, and
    vector.h."""
    real, size, index, _ = _REALS[dtype]
    return ('#define LR_REAL %s\n#define LR_REAL_BYTES %d\n'
            '#define LR_INDEX %s\n%s\n' % (real, size, index, VECTOR_H))


def choice():
    """'fused' or 'graph', as ``LOGREG_MNIST_KERNEL`` says (default
    fused)."""
    value = os.environ.get(KERNEL_VARIABLE, 'fused').strip().lower()
    if value not in ('fused', 'graph'):
        raise EngineError('%s=%s: choose fused or graph'
                          % (KERNEL_VARIABLE, value))
    return value


def enabled():
    """Whether training uses the kernel: the one place that decides (see
    the module's text)."""
    return (choice() == 'fused' and theano.config.floatX in _REALS
            and runs_c_ops())


class _KernelOp(object):
    """What both ops share: the C source, OpenMP, the cache key.  The ops
    are made of these methods and the engine's ``COp`` (see ``ops``); an
    op works in one precision, its ``dtype`` (float32 or float64)."""

    def __init__(self, dtype='float32'):
        if dtype not in _REALS:
            raise TypeError('%s: no kernel for %s' % (type(self).__name__,
                                                      dtype))
        self.dtype = dtype

    def make_node(self, x, y, W, b):
        x, y, W, b = (T.as_tensor_variable(v) for v in (x, y, W, b))
        real = self.dtype
        wanted = (('x', x, real, 2), ('y', y, 'int32', 1),
                  ('W', W, real, 2), ('b', b, real, 1))
        for name, var, dtype, ndim in wanted:
            if var.dtype != dtype or var.ndim != ndim:
                raise TypeError('%s: %s needs %s of %d dimensions, got %s'
                                % (type(self).__name__, name, dtype, ndim,
                                   var.type))
        Apply = c_op_bases()[0]
        return Apply(self, [x, y, W, b], self.output_types(W, b))

    def perform(self, node, inputs, outputs):
        # (enabled() chooses the kernel only where the C backend runs it)
        raise NotImplementedError('%s runs only as compiled C code'
                                  % type(self).__name__)

    def c_support_code(self, **kwargs):
        """vector.h and kernel.c, for this op's precision."""
        return prelude(self.dtype) + SOURCE

    def c_compile_args(self, **kwargs):
        return openmp_flags(theano.config.cxx)

    def c_code_cache_version(self):
        """A hash of all the C compiled: vector.h, kernel.c, and the code
        below as it comes out with placeholder names (so that an edit of
        any is compiled anew, not taken from the engine's cache)."""
        generated = self.c_code(None, 'node', ['x', 'y', 'W', 'b'],
                                list(self.OUTPUTS), {'fail': 'fail;'})
        return (3, zlib.crc32((self.c_support_code() + generated).encode()))

    def c_code(self, node, name, inputs, outputs, sub):
        x, y, W, b = inputs
        # contiguous views of the inputs (new references), checked shapes
        head = """
        PyArrayObject *xs = PyArray_GETCONTIGUOUS(%(x)s);
        PyArrayObject *ys = PyArray_GETCONTIGUOUS(%(y)s);
        PyArrayObject *Ws = PyArray_GETCONTIGUOUS(%(W)s);
        PyArrayObject *bs = PyArray_GETCONTIGUOUS(%(b)s);
        int n = (int)PyArray_DIM(xs, 0), d = (int)PyArray_DIM(xs, 1);
        int k = (int)PyArray_DIM(Ws, 1);
        const char *problem = NULL;
        if (PyArray_DIM(ys, 0) != n || PyArray_DIM(Ws, 0) != d ||
            PyArray_DIM(bs, 0) != k)
            problem = "the shapes of x, y, W and b do not fit together";
        else if (n == 0 || k == 0 || k > LR_MAX_CLASSES)
            problem = "no images, or no or too many classes";
        """ % locals()
        tail = """
        Py_DECREF(xs); Py_DECREF(ys); Py_DECREF(Ws); Py_DECREF(bs);
        if (problem) {
            PyErr_SetString(PyExc_ValueError, problem);
            %(fail)s
        }
        """ % sub
        return '{' + head + self.body(outputs) + tail + '}'

    @staticmethod
    def output(var, ndim, dims, typenum):
        """C that makes sure output ``var`` is a C-contiguous array of that
        shape (reusing the one from the last call when it fits)."""
        same = ' && '.join('PyArray_DIM(%s, %d) == %s' % (var, i, dim)
                           for i, dim in enumerate(dims)) or '1'
        return """
        if (!problem && !(%(var)s && PyArray_IS_C_CONTIGUOUS(%(var)s) &&
                          %(same)s)) {
            npy_intp dims[%(size)d] = {%(list)s};
            Py_XDECREF(%(var)s);
            %(var)s = (PyArrayObject *)PyArray_EMPTY(%(ndim)d, dims,
                                                     %(typenum)s, 0);
            if (!%(var)s)
                problem = "out of memory";
        }
        """ % dict(var=var, same=same, ndim=ndim, typenum=typenum,
                   size=max(ndim, 1), list=', '.join(dims) or '0')


class _Step(_KernelOp):
    """``(cost, gW, gb)`` of one SGD step on images ``x``, labels ``y``: the
    mean negative log-likelihood and its gradients for ``W`` and ``b``."""
    OUTPUTS = ('cost', 'gW', 'gb')

    def output_types(self, W, b):
        return [T.scalar(dtype=self.dtype), W.type(), b.type()]

    def body(self, outputs):
        cost, gW, gb = outputs
        typenum = _REALS[self.dtype][3]
        return (self.output(cost, 0, [], typenum) +
                self.output(gW, 2, ['d', 'k'], typenum) +
                self.output(gb, 1, ['k'], typenum) + """
        if (!problem) {
            int status = lr_step(
                (const LR_REAL *)PyArray_DATA(xs),
                (const int *)PyArray_DATA(ys), n, d,
                (const LR_REAL *)PyArray_DATA(Ws),
                (const LR_REAL *)PyArray_DATA(bs), k,
                (LR_REAL *)PyArray_DATA(%(cost)s),
                (LR_REAL *)PyArray_DATA(%(gW)s),
                (LR_REAL *)PyArray_DATA(%(gb)s));
            if (status == 1)
                problem = "out of memory";
            else if (status == 2)
                problem = "a label is not one of the model's classes";
        }
        """ % locals())


class _Mistakes(_KernelOp):
    """The fraction of the images ``x`` whose likeliest class is not their
    label in ``y`` (a float64 scalar, like the graph's ``errors``)."""
    OUTPUTS = ('rate',)

    def output_types(self, W, b):
        return [T.scalar(dtype='float64')]

    def body(self, outputs):
        rate, = outputs
        return self.output(rate, 0, [], 'NPY_FLOAT64') + """
        if (!problem) {
            long wrong = lr_mistakes(
                (const LR_REAL *)PyArray_DATA(xs),
                (const int *)PyArray_DATA(ys), n, d,
                (const LR_REAL *)PyArray_DATA(Ws),
                (const LR_REAL *)PyArray_DATA(bs), k);
            if (wrong < 0)
                problem = "out of memory";
            else
                *(double *)PyArray_DATA(%(rate)s) = (double)wrong / n;
        }
        """ % locals()


@functools.lru_cache()
def ops():
    """The kernel's two ops, ``(Step, Mistakes)``: made when first asked
    for (the engine starts then), see ``ops.op_classes``."""
    return op_classes(__name__, (_Step, _Mistakes))


def __getattr__(name):
    """``Step`` and ``Mistakes`` (see ``ops``); ``CHOICE``, what
    ``LOGREG_MNIST_KERNEL`` asks for; ``MODE``, the mode that compiles
    functions holding the kernel's ops: all found when first asked for."""
    if name in ('Step', 'Mistakes'):
        return dict(zip(('Step', 'Mistakes'), ops()))[name]
    if name == 'CHOICE':
        return choice()
    if name == 'MODE':
        from . import start
        start()
        return c_mode()
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def fused(classifier, y):
    """``(cost, g_W, g_b, errors)`` of ``classifier`` on labels ``y``, as the
    graph computes them, from the kernel's two ops (see ``enabled``)."""
    inputs = (classifier.input, y, classifier.W, classifier.b)
    Step, Mistakes = ops()
    dtype = classifier.W.dtype
    cost, g_W, g_b = Step(dtype)(*inputs)
    return cost, g_W, g_b, Mistakes(dtype)(*inputs)


def announce():
    """Say, when the kernel is used, that training steps run it (and on one
    thread, when the compiler has no OpenMP)."""
    if enabled():
        cxx = theano.config.cxx
        threads = '' if openmp_flags(cxx) else (
            ' on one thread (%s has no OpenMP)' % os.path.basename(cxx))
        print('... training steps run kernel.c%s through %s; %s=graph runs '
              'the graph' % (threads, state.C_ENGINE, KERNEL_VARIABLE),
              flush=True)
