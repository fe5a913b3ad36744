"""The data: reading MNIST from disk (or fetching it) into shared variables.

Two on-disk formats are understood:

* the tutorial's ``mnist.pkl.gz``: a gzip'd pickle of
  ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` with
  50,000 / 10,000 / 10,000 images of 784 pixels in [0, 1];
* a directory holding the four IDX files of Yann LeCun's distribution
  (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
  ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, compressed or
  not).  It is split like ``mnist.pkl.gz``: the last sixth of the training file
  (10,000 of MNIST's 60,000 images) validates, the rest trains, ``t10k``
  tests, and pixels are scaled to [0, 1].  Fashion-MNIST has the same format.
"""
import gzip
import hashlib
import io
import os
import pickle
import sys
import urllib.request
import zlib

import numpy

from .engine import theano, T
from .errors import DataError
from .safety import atomic_write

#: The tutorial's default dataset, and where it can still be downloaded
#: (deeplearning.net, its original home, is gone).  Every copy is checked
#: against the size and MD5 of the original file before it is kept.
MNIST_PKL = 'mnist.pkl.gz'
MNIST_PKL_SIZE = 16168813
MNIST_PKL_MD5 = 'a02cd19f81d51c426d7ca14024243ce9'
MNIST_PKL_MIRRORS = [
    'https://figshare.com/ndownloader/files/25635053',
    'https://thegreenplace.net/files/mnist.pkl.gz',
    'http://www.iro.umontreal.ca/~lisa/deep/data/mnist/mnist.pkl.gz',
]

IDX_FILES = {
    'train_x': 'train-images-idx3-ubyte',
    'train_y': 'train-labels-idx1-ubyte',
    'test_x': 't10k-images-idx3-ubyte',
    'test_y': 't10k-labels-idx1-ubyte',
}


def default_data_dir():
    """Where ``mnist.pkl.gz`` is looked for and downloaded to.

    ``$LOGREG_MNIST_DATA`` if set; else the ``data/`` folder of a source
    checkout (what ``pip install -e .`` gives); else ``./data``.
    """
    if os.environ.get('LOGREG_MNIST_DATA'):
        return os.environ['LOGREG_MNIST_DATA']
    checkout = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'data')
    if os.path.isfile(os.path.join(checkout, 'README.md')):
        return checkout
    return 'data'


def resolve_dataset(dataset):
    """Turn the ``--dataset`` argument into an existing path.

    A bare file name that does not exist here is looked for in the data
    folder; the tutorial's ``mnist.pkl.gz`` is downloaded there if missing.
    """
    if os.path.exists(dataset):
        return dataset
    data_dir, data_file = os.path.split(dataset)
    path = dataset
    if data_dir == '':
        path = os.path.join(default_data_dir(), data_file)
        if os.path.exists(path):
            return path
    if data_file == MNIST_PKL:
        return download_mnist(path)
    raise DataError('%s: no such file or directory' % dataset)


def download_mnist(dest, mirrors=None, timeout=30):
    """Download ``mnist.pkl.gz`` to ``dest``, trying each mirror in turn.

    The bytes go to a temporary file beside ``dest`` which is renamed into
    place only once its size and MD5 match the original, so an HTML error
    page or a truncated transfer is never kept.
    """
    folder = os.path.dirname(dest) or '.'
    os.makedirs(folder, exist_ok=True)
    problems = []
    for url in mirrors or MNIST_PKL_MIRRORS:
        print('Downloading data from %s' % url, flush=True)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    atomic_write(dest) as out:
                digest = hashlib.md5()
                for chunk in iter(lambda: response.read(1 << 20), b''):
                    out.write(chunk)
                    digest.update(chunk)
                    if out.tell() > MNIST_PKL_SIZE:
                        break
                if out.tell() != MNIST_PKL_SIZE:
                    raise ValueError('got %s bytes, expected %d' % (
                        'more' if out.tell() > MNIST_PKL_SIZE else out.tell(),
                        MNIST_PKL_SIZE))
                if digest.hexdigest() != MNIST_PKL_MD5:
                    raise ValueError('MD5 does not match %s' % MNIST_PKL_MD5)
            return dest
        except (OSError, ValueError) as e:
            problems.append('%s (%s)' % (url, e))
    raise DataError(
        '%s is missing and could not be downloaded (%s). Put the file '
        '(%d bytes, md5 %s) there, or pass --dataset DIR with the four '
        'MNIST IDX files.' % (dest, '; '.join(problems), MNIST_PKL_SIZE,
                              MNIST_PKL_MD5))


def _read_bytes(path):
    """The content of ``path``, gunzipped when it is gzip'd, or DataError."""
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:2] == b'\x1f\x8b':
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError('%s: damaged or truncated gzip file (%s)'
                            % (path, e)) from None
    if path.endswith('.gz'):
        looks = raw[:200].lstrip().lower()
        if looks.startswith((b'<!doctype', b'<html', b'<?xml', b'<head')):
            raise DataError('%s is an HTML page, not a gzip file: probably a '
                            'failed download; delete it and fetch the file '
                            'again' % path)
        raise DataError('%s is not a gzip file' % path)
    return raw


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a data file runs no code."""
    allowed = {('numpy.core.multiarray', '_reconstruct'),
               ('numpy.core.multiarray', 'scalar'),
               ('numpy.core.numeric', '_frombuffer'),
               ('numpy', 'ndarray'), ('numpy', 'dtype'),
               ('_codecs', 'encode')}

    def find_class(self, module, name):
        module = module.replace('numpy._core', 'numpy.core')  # numpy 2 files
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError('it refers to %s.%s, which a dataset '
                                     'has no use for' % (module, name))


def read_pickle(path):
    """The three (x, y) pairs stored in a gzip'd pickle like mnist.pkl.gz."""
    raw = _read_bytes(path)
    try:
        # The tutorial's file was written by Python 2: its numpy arrays need
        # encoding='latin1' to unpickle under Python 3.
        sets = _ArrayUnpickler(io.BytesIO(raw), encoding='latin1').load()
    except Exception as e:
        raise DataError('%s is not a readable pickle (%s: %s)'
                        % (path, type(e).__name__, e)) from None
    if (not isinstance(sets, (tuple, list)) or len(sets) != 3 or
            not all(isinstance(s, (tuple, list)) and len(s) == 2
                    for s in sets)):
        raise DataError('%s does not hold ((train_x, train_y), (valid_x, '
                        'valid_y), (test_x, test_y)) like mnist.pkl.gz'
                        % path)
    return [(numpy.asarray(x), numpy.asarray(y)) for x, y in sets]


def read_idx(path):
    """Read one IDX file (optionally gzip'd) into a numpy array."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:3] != b'\x00\x00\x08':
        raise DataError('%s: not an IDX file of unsigned bytes '
                        '(wrong magic number)' % path)
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
                  for i in range(ndim))
    if len(raw) < header or len(raw) != header + int(numpy.prod(shape)):
        raise DataError('%s: header says %s but the file holds %d bytes of '
                        'data' % (path, shape, max(0, len(raw) - header)))
    return numpy.frombuffer(raw, dtype=numpy.uint8, offset=header) \
        .reshape(shape)


def _idx_path(directory, stem):
    for name in (stem + '.gz', stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise DataError('%s: missing %s(.gz)' % (directory, stem))


def read_idx_dir(directory):
    """The three (x, y) pairs from a directory of MNIST-format IDX files."""
    arrays = {key: read_idx(_idx_path(directory, stem))
              for key, stem in IDX_FILES.items()}
    for split in ('train', 'test'):
        x, y = arrays[split + '_x'], arrays[split + '_y']
        if x.ndim != 3 or y.ndim != 1:
            raise DataError('%s: %s images must be 3-D (N, rows, cols) and '
                            'labels 1-D, got %s and %s'
                            % (directory, split, x.shape, y.shape))
    # pixels as float32 in [0, 1], one row per image; labels as int64
    x = {s: (arrays[s + '_x'].reshape(len(arrays[s + '_x']), -1)
             .astype(numpy.float32) / numpy.float32(255))
         for s in ('train', 'test')}
    y = {s: arrays[s + '_y'].astype(numpy.int64) for s in ('train', 'test')}
    n_valid = len(x['train']) // 6
    n_train = len(x['train']) - n_valid
    return [(x['train'][:n_train], y['train'][:n_train]),
            (x['train'][n_train:], y['train'][n_train:]),
            (x['test'], y['test'])]


SPLITS = ('train', 'valid', 'test')


def check_splits(sets, path, n_out=10):
    """Refuse data the model cannot learn from, naming the file and fault."""
    n_in = None
    for name, (x, y) in zip(SPLITS, sets):
        where = '%s (%s split)' % (path, name)
        if x.ndim != 2 or not numpy.issubdtype(x.dtype, numpy.number):
            raise DataError('%s: images must be a numeric N x pixels array, '
                            'got %s of %s' % (where, x.shape, x.dtype))
        if n_in is not None and x.shape[1] != n_in:
            raise DataError('%s: %d pixels per image, but the train split '
                            'has %d' % (where, x.shape[1], n_in))
        n_in = x.shape[1]
        if y.ndim != 1 or len(y) != len(x):
            raise DataError('%s: %d images but labels of shape %s'
                            % (where, len(x), y.shape))
        if not numpy.isfinite(x).all():
            raise DataError('%s: images contain NaN or infinite values'
                            % where)
        if (not numpy.issubdtype(y.dtype, numpy.number) or
                (len(y) and not (numpy.isfinite(y).all() and
                                 (y == numpy.round(y)).all()))):
            raise DataError('%s: labels must be integers 0..%d'
                            % (where, n_out - 1))
        if len(y) and (y.min() < 0 or y.max() >= n_out):
            raise DataError('%s: labels must lie in 0..%d, found %s..%s'
                            % (where, n_out - 1, y.min(), y.max()))
    return sets


def read_dataset(path, n_out=10):
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) as numpy,
    checked to be images with labels in 0..n_out-1."""
    try:
        if os.path.isdir(path):
            sets = read_idx_dir(path)
        else:
            sets = read_pickle(path)
    except OSError as e:
        raise DataError('%s: %s' % (path, e.strerror or e)) from None
    return check_splits(sets, path, n_out)


def shared_dataset(data_xy, borrow=True):
    """Function that loads the dataset into shared variables

    The reason we store our dataset in shared variables is to allow
    Theano to copy it into the GPU memory (when code is run on GPU).
    Since copying data into the GPU is slow, copying a minibatch everytime
    is needed (the default behaviour if the data is not in a shared
    variable) would lead to a large decrease in performance.
    """
    data_x, data_y = data_xy
    shared_x = theano.shared(numpy.asarray(data_x,
                                           dtype=theano.config.floatX),
                             borrow=borrow)
    shared_y = theano.shared(numpy.asarray(data_y,
                                           dtype=theano.config.floatX),
                             borrow=borrow)
    # When storing data on the GPU it has to be stored as floats
    # therefore we will store the labels as ``floatX`` as well
    # (``shared_y`` does exactly that). But during our computations
    # we need them as ints (we use labels as index, and if they are
    # floats it doesn't make sense) therefore instead of returning
    # ``shared_y`` we will have to cast it to int. This little hack
    # lets us get around this issue
    return shared_x, T.cast(shared_y, 'int32')


def load_data(dataset):
    """Loads the dataset

    :type dataset: string
    :param dataset: the path to the dataset: ``mnist.pkl.gz`` (downloaded
                    into the data folder when missing), another pickle of the
                    same structure, or a directory of MNIST IDX files
    """
    path = resolve_dataset(dataset)
    print('... loading data')
    sys.stdout.flush()
    train_set, valid_set, test_set = read_dataset(path)

    test_set_x, test_set_y = shared_dataset(test_set)
    valid_set_x, valid_set_y = shared_dataset(valid_set)
    train_set_x, train_set_y = shared_dataset(train_set)

    rval = [(train_set_x, train_set_y), (valid_set_x, valid_set_y),
            (test_set_x, test_set_y)]
    return rval
