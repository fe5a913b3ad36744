"""The CPU kernel (kernel.c), in float32 and float64, against the
independent NumPy computation of reference.py, and where training uses
it."""
import os
import shutil
import subprocess
import sys

import numpy
import pytest

import reference
from helpers import run_module, run_ok, synthetic_pkl, trace_lines
from logreg_mnist import engine
from logreg_mnist.engine import kernel
from logreg_mnist.engine import C_ENGINE, C_MODE, theano, T


PRECISIONS = ['float32', 'float64']


def compiled(op, dtype):
    """``op`` over images and weights of ``dtype``, int32 labels,
    compiled."""
    x, W = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
    y, b = T.ivector(), T.vector(dtype=dtype)
    return theano.function([x, y, W, b], op(dtype)(x, y, W, b),
                           mode=C_MODE)


@pytest.fixture(scope='module', params=PRECISIONS)
def ops(request):
    """(dtype, step, mistakes): both ops compiled for that precision."""
    dtype = request.param
    return dtype, compiled(kernel.Step, dtype), compiled(kernel.Mistakes,
                                                         dtype)


def problem(digits, rows, n_in, n_out=10, seed=0, dtype='float32'):
    """Real digits (cropped or widened to ``n_in`` pixels), their labels
    folded into ``n_out`` classes, and random weights: ``dtype`` / int32."""
    rng = numpy.random.RandomState(seed)
    images, labels = digits
    pixels = images[:rows].reshape(rows, -1) / 256.
    x = numpy.resize(pixels, (rows, n_in)) if n_in > 784 else \
        pixels[:, :n_in]
    W = rng.normal(0, 0.05, (n_in, n_out))
    b = rng.normal(0, 0.5, n_out)
    return (x.astype(dtype), (labels[:rows] % n_out).astype('int32'),
            W.astype(dtype), b.astype(dtype))


# 600 is the tutorial's minibatch; the others leave part blocks of images,
# fewer images than threads, and pixels past the last full vector (20, 789)
@pytest.mark.parametrize('rows,n_in,n_out', [
    (600, 784, 10), (601, 784, 10), (7, 784, 10), (1, 784, 10),
    (333, 20, 10), (64, 789, 10), (50, 784, 3), (50, 784, 64)])
def test_step_is_the_gradient_numpy_computes(digits, ops, rows, n_in, n_out):
    dtype, step, _ = ops
    x, y, W, b = problem(digits, rows, n_in, n_out, dtype=dtype)
    cost, gW, gb = step(x, y, W, b)
    assert (cost.dtype, gW.dtype, gb.dtype) == (dtype,) * 3
    assert gW.shape == W.shape and gb.shape == b.shape
    wide = [a.astype(float) for a in (W, b, x)]
    want_gW, want_gb = reference.gradients(*wide, y)
    # float32 keeps about 7 digits, float64 about 16
    close = 1e-6 if dtype == 'float32' else 1e-14
    assert cost == pytest.approx(reference.nll(*wide, y), rel=close)
    numpy.testing.assert_allclose(gW, want_gW, rtol=0,
                                  atol=2 * close * abs(want_gW).max())
    numpy.testing.assert_allclose(gb, want_gb, rtol=0, atol=close / 10)


@pytest.mark.parametrize('rows', [600, 10000, 5, 1])
def test_mistakes_count_as_argmax_does(digits, ops, rows):
    dtype, _, mistakes = ops
    x, y, W, b = problem(digits, rows, 784, seed=rows, dtype=dtype)
    rate = mistakes(x, y, W, b)
    assert rate.dtype == 'float64'
    assert 0 < rate < 1 or rows < 10
    assert rate == reference.error_rate(W.astype(float), b.astype(float),
                                        x.astype(float), y)


def test_divergence_shows_in_the_cost(digits, ops):
    dtype, step, _ = ops
    x, y, W, b = problem(digits, 600, 784, dtype=dtype)
    W[3, 2] = numpy.inf
    assert numpy.isnan(step(x, y, W, b)[0])


def test_bad_labels_and_shapes_are_errors(digits, ops):
    dtype, step, mistakes = ops
    x, y, W, b = problem(digits, 60, 784, dtype=dtype)
    y[7] = 10
    with pytest.raises(ValueError, match="a label is not one of the "
                                         "model's classes"):
        step(x, y, W, b)
    with pytest.raises(ValueError, match='shapes of x, y, W and b do not '
                                         'fit'):
        mistakes(x, y[:-1], W, b)
    with pytest.raises(TypeError, match='y needs int32'):
        kernel.Step(dtype)(T.matrix(dtype=dtype), T.lvector(),
                           T.matrix(dtype=dtype), T.vector(dtype=dtype))
    other = 'float64' if dtype == 'float32' else 'float32'
    with pytest.raises(TypeError, match='W needs %s' % dtype):
        kernel.Step(dtype)(T.matrix(dtype=dtype), T.ivector(),
                           T.matrix(dtype=other), T.vector(dtype=dtype))
    with pytest.raises(TypeError, match='Step: no kernel for int32'):
        kernel.Step('int32')


ENABLED = ('from logreg_mnist.engine import kernel; '
           'print(kernel.enabled(), kernel.CHOICE)')


@pytest.mark.parametrize('flags,variable,expected', [
    ('floatX=float32', None, 'True fused'),
    ('floatX=float32', 'graph', 'False graph'),
    ('floatX=float32', ' Fused ', 'True fused'),
    ('floatX=float64', None, 'True fused'),
    ('floatX=float64', 'graph', 'False graph'),
    ('floatX=float32,mode=FAST_COMPILE', None, 'False fused'),
])
def test_which_steps_use_the_kernel(flags, variable, expected):
    env = dict(os.environ, THEANO_FLAGS=flags)
    env.pop('LOGREG_MNIST_KERNEL', None)
    if variable is not None:
        env['LOGREG_MNIST_KERNEL'] = variable
    out = subprocess.run([sys.executable, '-c', ENABLED], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == expected


def test_a_bad_kernel_choice_is_one_line(small_idx_dir, tmp_path):
    out = run_module('train', '--dataset', small_idx_dir, cwd=tmp_path,
                     env={'THEANO_FLAGS': 'floatX=float32',
                          'LOGREG_MNIST_KERNEL': 'blas'})
    assert out.returncode == 1
    assert out.stderr == ('python -m logreg_mnist.train: error: '
                          'LOGREG_MNIST_KERNEL=blas: choose fused or graph\n')
    assert out.stdout == ''
    assert not list(tmp_path.iterdir())


@pytest.mark.slow   # (the same on every Python: see conftest.py)
@pytest.mark.parametrize('floatX', PRECISIONS)
def test_training_prints_the_graphs_trace(small_idx_dir, tmp_path, floatX):
    """The kernel changes only the order of additions: on real digits the
    early-stopping trace is the graph's, line for line."""
    runs = {}
    for choice in ('fused', 'graph'):
        folder = tmp_path / choice
        folder.mkdir()
        runs[choice] = run_ok('train', '--dataset', small_idx_dir,
                              '--n-epochs', 60, cwd=folder,
                              env={'THEANO_FLAGS': 'floatX=' + floatX,
                                   'LOGREG_MNIST_KERNEL': choice})
    assert ('\n... training steps run kernel.c through %s; '
            'LOGREG_MNIST_KERNEL=graph runs the graph\n'
            % C_ENGINE) in runs['fused'].stdout
    assert 'kernel.c' not in runs['graph'].stdout
    assert len(trace_lines(runs['fused'].stdout)) > 60
    assert trace_lines(runs['fused'].stdout) == \
        trace_lines(runs['graph'].stdout)


#: a subprocess's check of both precisions' ops against reference.py,
#: printing the vector width they were compiled with
WIDTH_CHECK = """
import sys, numpy
sys.path.insert(0, 'tests')
import reference
from logreg_mnist.engine import kernel, theano, T, C_MODE
rng = numpy.random.RandomState(5)
for dtype, close in (('float32', 1e-6), ('float64', 1e-14)):
    x, W = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
    y, b = T.ivector(), T.vector(dtype=dtype)
    step, mistakes = (theano.function([x, y, W, b], op(dtype)(x, y, W, b),
                                      mode=C_MODE)
                      for op in (kernel.Step, kernel.Mistakes))
    X = (rng.randint(0, 256, (601, 789)) / 256.).astype(dtype)
    Y = rng.randint(0, 10, 601).astype('int32')
    V = rng.normal(0, 0.05, (789, 10)).astype(dtype)
    c = rng.normal(0, 0.5, 10).astype(dtype)
    cost, gW, gb = step(X, Y, V, c)
    wide = [a.astype(float) for a in (V, c, X)]
    want_gW, want_gb = reference.gradients(*wide, Y)
    assert abs(cost - reference.nll(*wide, Y)) < close * 3
    assert abs(gW - want_gW).max() < 2 * close * abs(want_gW).max()
    assert abs(gb - want_gb).max() < close
    assert mistakes(X, Y, V, c) == reference.error_rate(*wide, Y)
print('ok')
"""


#: a subprocess's steps on a few minibatches, printed as a hash of the
#: exact numbers
THREADS_CHECK = """
import hashlib, numpy
from logreg_mnist.engine import kernel, theano, T, C_MODE
rng = numpy.random.RandomState(7)
digest = hashlib.sha256()
for dtype in ('float32', 'float64'):
    x, W = T.matrix(dtype=dtype), T.matrix(dtype=dtype)
    y, b = T.ivector(), T.vector(dtype=dtype)
    step = theano.function([x, y, W, b], kernel.Step(dtype)(x, y, W, b),
                           mode=C_MODE)
    for rows in (600, 601, 37, 5):
        X = (rng.randint(0, 256, (rows, 784)) / 256.).astype(dtype)
        Y = rng.randint(0, 10, rows).astype('int32')
        V = rng.normal(0, 0.05, (784, 10)).astype(dtype)
        c = rng.normal(0, 0.5, 10).astype(dtype)
        for out in step(X, Y, V, c):
            digest.update(numpy.ascontiguousarray(out).tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_the_numbers_do_not_depend_on_the_threads():
    """A minibatch is cut into the same parts on any number of threads
    (up to eight), and the parts' sums are added in the same order: one,
    two or three threads give the same numbers to the last bit."""
    digests = set()
    for threads in ('1', '2', '3'):
        out = subprocess.run([sys.executable, '-c', THREADS_CHECK],
                             env=dict(os.environ, OMP_NUM_THREADS=threads),
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.split()[-1])
    assert len(digests) == 1


def cpu_has(*features):
    """Whether /proc/cpuinfo lists all ``features`` (False off Linux)."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = next(l for l in f if l.startswith('flags')).split()
    except (OSError, StopIteration):
        return False
    return all(feature in flags for feature in features)


@pytest.mark.slow   # (the same on every Python: see conftest.py)
@pytest.mark.parametrize('march', ['haswell', 'x86-64'])
def test_narrower_vectors_compute_the_same(march):
    """vector.h takes the width the compiler targets: for a Haswell (AVX2)
    the kernel is built with 256-bit vectors, for a plain x86-64 with
    128-bit ones (SSE2), both with 16 registers, and computes the graph's
    numbers.  (An -march of the user's replaces the engine's own.)"""
    if os.uname().machine != 'x86_64':
        pytest.skip('x86-64 targets')
    if march == 'haswell' and not cpu_has('avx2', 'fma'):
        pytest.skip('this CPU cannot run code built for a Haswell')
    out = subprocess.run([sys.executable, '-c', WIDTH_CHECK], env=dict(
        os.environ, THEANO_FLAGS='gcc.cxxflags=-march=%s' % march),
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == 'ok'


def test_the_cache_version_covers_all_the_c(monkeypatch):
    """An edit of kernel.c or of the C that kernel.py writes gives a new
    version, so the engine compiles the op anew instead of reusing a
    binary of its cache."""
    ops = (kernel.Step(), kernel.Mistakes(), kernel.Step('float64'))
    before = [op.c_code_cache_version() for op in ops]
    assert len(set(before)) == 3
    for name in ('SOURCE', 'VECTOR_H'):
        monkeypatch.setattr(kernel, name, getattr(kernel, name) + '\n/* */')
        for op, version in zip(ops, before):
            assert op.c_code_cache_version() != version
        monkeypatch.undo()
    output = kernel.Step.output
    monkeypatch.setattr(kernel.Step, 'output', staticmethod(
        lambda *args: output(*args).replace('out of memory', 'no memory')))
    assert ops[0].c_code_cache_version() != before[0]
    assert ops[1].c_code_cache_version() == before[1]


###########################################
# clang: no OpenMP, and Theano's narrowing
###########################################

@pytest.fixture(scope='module')
def clang():
    if shutil.which('clang++') is None:   # .ci/run installs it
        pytest.skip('clang++ is not installed')
    return 'clang++'


@pytest.mark.slow   # (the same on every Python: see conftest.py)
@pytest.mark.parametrize('floatX', PRECISIONS)
def test_training_with_clang_gives_the_gcc_trace(clang, tmp_path_factory,
                                                 floatX):
    """Debian's clang has no OpenMP (the kernel is built without it) and,
    under Theano, refuses the narrowing in Theano's generated C++ (the
    engine turns that error off)."""
    # clang's modules in a cache of their own, g++'s where the others are
    cache = tmp_path_factory.getbasetemp() / 'clang-compiledir'
    folder = tmp_path_factory.mktemp('clang')
    data = synthetic_pkl(folder / 'clusters.pkl.gz')
    runs = {}
    for cxx in ('', clang):
        flags = 'floatX=%s' % floatX
        if cxx:
            flags += ',base_compiledir=%s,cxx=%s' % (cache, cxx)
        runs[cxx] = run_ok('train', '--dataset', data, '--batch-size', 20,
                           '--n-epochs', 5, '--model-out', folder / 'm.pkl',
                           env={'THEANO_FLAGS': flags})
        assert runs[cxx].stderr.startswith('The code for file sgd.py ran ')
        assert len(runs[cxx].stderr.splitlines()) == 1, runs[cxx].stderr
    assert ('\n... training steps run kernel.c on one thread (clang++ has '
            'no OpenMP) through ') in runs[clang].stdout
    assert len(trace_lines(runs[clang].stdout)) > 5
    assert trace_lines(runs[clang].stdout) == trace_lines(runs[''].stdout)


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_clang_gets_no_openmp_and_theano_no_narrowing_errors(clang):
    code = ('import logreg_mnist.engine as e; '
            'import logreg_mnist.engine.kernel as k; '
            'c = e.theano.config; print(k.openmp_flags(c.cxx)); '
            'print(c.gcc.cxxflags if e.NAME == "theano" else '
            'c.gcc__cxxflags)')
    out = subprocess.run([sys.executable, '-c', code], env=dict(
        os.environ, THEANO_FLAGS='cxx=%s,gcc.cxxflags=-O1' % clang),
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    theano = engine.NAME == 'theano'
    # the user's flags come last: they win over the engine's
    assert out.stdout.splitlines() == [
        '[]', '-Wno-c++11-narrowing -O1' if theano else '-O1']
