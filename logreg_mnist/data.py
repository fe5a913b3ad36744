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
import os
import pickle
import sys
import urllib.request

import numpy

from .engine import theano, T
from .errors import DataError

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


def _md5(path):
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def download_mnist(dest, mirrors=None, timeout=30):
    """Download ``mnist.pkl.gz`` to ``dest``, trying each mirror in turn.

    The file is written next to ``dest`` under a temporary name and only
    renamed into place once its size and MD5 match the original, so an HTML
    error page or a truncated transfer is never kept.
    """
    folder = os.path.dirname(dest) or '.'
    os.makedirs(folder, exist_ok=True)
    tmp = dest + '.part'
    problems = []
    for url in mirrors or MNIST_PKL_MIRRORS:
        print('Downloading data from %s' % url)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(tmp, 'wb') as out:
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    if out.tell() > MNIST_PKL_SIZE:
                        break
            size = os.path.getsize(tmp)
            if size != MNIST_PKL_SIZE:
                raise ValueError('got %d bytes, expected %d'
                                 % (size, MNIST_PKL_SIZE))
            if _md5(tmp) != MNIST_PKL_MD5:
                raise ValueError('MD5 does not match %s' % MNIST_PKL_MD5)
            os.replace(tmp, dest)
            return dest
        except (OSError, ValueError) as e:
            problems.append('%s (%s)' % (url, e))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataError(
        '%s is missing and could not be downloaded (%s). Put the file '
        '(%d bytes, md5 %s) there, or pass --dataset DIR with the four '
        'MNIST IDX files.' % (dest, '; '.join(problems), MNIST_PKL_SIZE,
                              MNIST_PKL_MD5))


def read_pickle(path):
    """The three (x, y) pairs stored in a gzip'd pickle like mnist.pkl.gz."""
    # The tutorial's file was written by Python 2: its numpy arrays need
    # encoding='latin1' to unpickle under Python 3.
    with gzip.open(path, 'rb') as f:
        sets = pickle.load(f, encoding='latin1')
    return [(numpy.asarray(x), numpy.asarray(y)) for x, y in sets]


def read_idx(path):
    """Read one IDX file (optionally gzip'd) into a numpy array."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError('%s: not an IDX file of unsigned bytes '
                        '(wrong magic number)' % path)
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
                  for i in range(ndim))
    if len(raw) != header + int(numpy.prod(shape)):
        raise DataError('%s: header says %s but the file holds %d bytes of '
                        'data' % (path, shape, len(raw) - header))
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
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError('%s: %s images %s do not match labels %s'
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


def read_dataset(path):
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) as numpy."""
    if os.path.isdir(path):
        return read_idx_dir(path)
    return read_pickle(path)


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
