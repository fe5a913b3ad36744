"""Shared fixtures: the real MNIST test digits, small datasets made from
them, and a way to run the command lines in a subprocess.

The digits come from the MNIST files committed in the checkout's ``data/``
(or the folder ``$LOGREG_MNIST_TEST_DATA`` names).  Nothing here touches
the network.

Tests marked ``slow`` give the same result on every Python version (full
traces on real digits, clang, the notebook, the stand-in GPU, the benchmark
against its peers): CI runs them on one Python per engine, 3.11 and 3.12,
and everything else on every Python.  ``python -m pytest`` runs both tiers,
``-m "not slow"`` the fast one (docs/development.md).
"""
import atexit
import gzip
import os
import pickle
import shutil
import tempfile
from pathlib import Path

# The test processes share the cores: one BLAS thread and one OpenMP thread
# (kernel.c's) each -- OpenBLAS and OpenMP would otherwise start one per
# core in every process, and wait on each other at every step; the commands
# the tests start inherit it.  (test_kernel.py runs the kernel on several
# threads on purpose.)
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')
# Decoded datasets are kept in a folder of the test run's own, never in the
# user's ~/.cache (the tests of the cache itself choose theirs).
if 'LOGREG_MNIST_CACHE' not in os.environ:
    os.environ['LOGREG_MNIST_CACHE'] = tempfile.mkdtemp(
        prefix='logreg-test-cache-')
    atexit.register(shutil.rmtree, os.environ['LOGREG_MNIST_CACHE'], True)

import numpy  # noqa: E402  (after the line above, which it reads)
import pytest

from helpers import read_idx_independently, split_6_2_2, write_idx

# Every test runs in float64 so that it can be compared with NumPy exactly,
# and never downloads into the checkout's data folder.
os.environ['THEANO_FLAGS'] = ','.join(
    f for f in (os.environ.get('THEANO_FLAGS', ''), 'floatX=float64') if f)

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get('LOGREG_MNIST_TEST_DATA') or ROOT / 'data')


@pytest.fixture(autouse=True)
def _no_download_into_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(tmp_path / 'data'))


@pytest.fixture
def problem():
    """Random images of 13 pixels in 5 classes, and weights: float64."""
    rng = numpy.random.RandomState(1234)
    x = rng.rand(37, 13)
    y = rng.randint(0, 5, size=37).astype('int32')
    W = rng.randn(13, 5)
    b = rng.randn(5)
    return x, y, W, b


@pytest.fixture(scope='session')
def digits():
    """The 10,000 real MNIST test digits: uint8 images (N, 28, 28), labels."""
    if not (MNIST_DIR / 't10k-images-idx3-ubyte.gz').is_file():
        pytest.fail('the real MNIST test digits are expected in %s'
                    % MNIST_DIR)
    return (read_idx_independently(MNIST_DIR / 't10k-images-idx3-ubyte.gz'),
            read_idx_independently(MNIST_DIR / 't10k-labels-idx1-ubyte.gz'))


@pytest.fixture(scope='session')
def small_pkl(digits, tmp_path_factory):
    """A mnist.pkl.gz-format file of 6,000 / 2,000 / 2,000 real digits."""
    path = tmp_path_factory.mktemp('pkl') / 'small.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump(tuple(split_6_2_2(digits)), f, protocol=2)
    return path


@pytest.fixture(scope='session')
def small_idx_dir(digits, tmp_path_factory):
    """An IDX directory: 'train' = first 8,000 digits, 't10k' = last 2,000."""
    images, labels = digits
    folder = tmp_path_factory.mktemp('idx')
    write_idx(folder / 'train-images-idx3-ubyte.gz', images[:8000])
    write_idx(folder / 'train-labels-idx1-ubyte.gz', labels[:8000])
    write_idx(folder / 't10k-images-idx3-ubyte.gz', images[8000:])
    write_idx(folder / 't10k-labels-idx1-ubyte.gz', labels[8000:])
    return folder
