"""The tutorial's own numbers, from the real MNIST files.

The IDX files committed in ``data/`` are read here independently of
the package (byte / 256, the first 50,000 training images to train, the
last 10,000 to validate, t10k to test), and the tutorial's algorithm is
run on them by ``reference.py``.  The package must print the same lines,
which end as the tutorial's published run does: 74 epochs, 7.500000 % /
7.489583 %.
"""
import numpy
import pytest

import reference
from conftest import MNIST_DIR
from helpers import Mirror, read_idx_independently, run_module, trace_lines
from logreg_mnist import data
from logreg_mnist.files.history import read_history
from logreg_mnist.plot import patience_ran_out

#: the same on every Python: run once per engine (see conftest.py)
pytestmark = pytest.mark.slow

TUTORIAL = ('Optimization complete with best validation score of 7.500000 %,'
            ' with test performance 7.489583 %')


@pytest.fixture(scope='module')
def mnist():
    """The three splits, made from the IDX files without the package."""
    def read(stem):
        return read_idx_independently(MNIST_DIR / (stem + '-ubyte.gz'))
    x = {k: read(k + '-images-idx3').reshape(-1, 784).astype(numpy.float32)
         / numpy.float32(256) for k in ('train', 't10k')}
    y = {k: read(k + '-labels-idx1').astype(numpy.int64)
         for k in ('train', 't10k')}
    return [(x['train'][:50000], y['train'][:50000]),
            (x['train'][50000:], y['train'][50000:]), (x['t10k'], y['t10k'])]


@pytest.fixture(scope='module')
def reference_run(mnist):
    """The trace lines, and (mean cost, patience) of each validation."""
    seen = []
    lines, _, epochs = reference.sgd_trace(mnist, seen=seen)
    assert lines[-1] == TUTORIAL and epochs == 74   # the reference agrees
    return lines, seen


@pytest.fixture(scope='module')
def expected(reference_run):
    return reference_run[0]


def test_idx_folder_gives_the_arrays_of_mnist_pkl(mnist):
    for (x, y), (ex, ey) in zip(data.read_dataset(str(MNIST_DIR)), mnist):
        assert x.dtype == numpy.float32 and x.shape == ex.shape
        numpy.testing.assert_array_equal(x, ex)
        numpy.testing.assert_array_equal(y, ey)
    assert x.max() == numpy.float32(255 / 256)


def test_the_readme_command_prints_the_tutorials_run_offline(reference_run,
                                                             tmp_path):
    """`python -m logreg_mnist.train` as a clone's user runs it: no data
    folder named, MNIST read from the checkout's data/, and no mirror that
    answers (a download would fail)."""
    from conftest import ROOT
    expected, seen = reference_run
    before = sorted(p.name for p in (ROOT / 'data').iterdir())
    out = run_module('train', cwd=tmp_path, env={
        'LOGREG_MNIST_DATA': '', 'LOGREG_MNIST_MIRRORS': 'http://127.0.0.1:9/'})
    assert out.returncode == 0, out.stderr
    assert trace_lines(out.stdout) == expected
    assert 'The code run for 74 epochs, with ' in out.stdout
    assert 'Downloading' not in out.stdout
    assert sorted(p.name for p in (ROOT / 'data').iterdir()) == before
    # the history has each epoch's mean cost and patience; new bests pushed
    # patience out, and it ran out during epoch 74
    rows = read_history(str(tmp_path / 'best_model.history.csv'))
    numpy.testing.assert_allclose([r['training_cost'] for r in rows],
                                  [cost for cost, _ in seen], rtol=1e-9)
    assert [r['patience'] for r in rows] == [p for _, p in seen]
    assert rows[0]['patience'] == 5000 < rows[-1]['patience']
    stop = patience_ran_out(rows)
    assert 73 * 83 < stop <= 74 * 83


def test_default_command_fetches_idx_files_and_reproduces_it(expected,
                                                              tmp_path):
    """What it downloads is the checkout's MNIST byte for byte, whose whole
    run the test above checks; two epochs show that training reads it."""
    files = {p.name: p.read_bytes() for p in MNIST_DIR.glob('*.gz')}
    mirror = Mirror(files)   # the IDX files only, no mnist.pkl.gz
    try:
        out = run_module('train', '--n-epochs', 2, cwd=tmp_path, env={
            'LOGREG_MNIST_DATA': str(tmp_path / 'data'),
            'LOGREG_MNIST_MIRRORS': mirror.url})
    finally:
        mirror.close()
    assert out.returncode == 0, out.stderr
    first_two = [line for line in expected
                 if line.lstrip().startswith(('epoch 1,', 'epoch 2,'))]
    assert len(first_two) == 4   # (each epoch a new best, tested)
    assert trace_lines(out.stdout)[:-1] == first_two
    assert {p.name: p.read_bytes() for p in (tmp_path / 'data').iterdir()} \
        == files
