"""The data: reading MNIST from disk (or fetching it) into shared variables.

Two on-disk formats are understood:

* the tutorial's ``mnist.pkl.gz``: a gzip'd pickle of
  ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` with
  50,000 / 10,000 / 10,000 images of 784 float32 pixels;
* a directory holding the four IDX files of Yann LeCun's distribution
  (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
  ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, compressed or
  not), Fashion-MNIST's as well.

An IDX directory is read by the rule ``mnist.pkl.gz`` was made by, so that
on MNIST the arrays are exactly the pickle's: the training file is split in
file order, its last sixth (10,000 of MNIST's 60,000 images) validating and
the rest training, ``t10k`` tests, and each pixel byte becomes the float32
``byte / 256`` (0 to 255/256; dividing by 255 instead changes the
tutorial's result).  Labels become integers.
"""
import math
import mmap
import os

import numpy

from .cli.phases import phase
from .files import cache, download, pickles, reading
from .errors import DataError, cut, os_problem

#: How many classes the labels name: the digits 0 to 9.
N_CLASSES = 10

#: The environment variable that names the data folder.
DATA_VARIABLE = 'LOGREG_MNIST_DATA'


#: The ``data/`` folder of a source checkout, which ships MNIST.
CHECKOUT_DATA = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'data')

#: Where the data folder is, in words (for ``--help``).
DATA_FOLDER_HELP = ('$LOGREG_MNIST_DATA; else, in a source checkout, its '
                    'data/ folder, which holds MNIST; else the per-user '
                    'cache $XDG_CACHE_HOME/logreg-mnist, by default '
                    '~/.cache/logreg-mnist')


def default_data_dir():
    """Where ``mnist.pkl.gz`` (or the IDX files) are looked for and
    downloaded to.

    ``$LOGREG_MNIST_DATA`` if set; else the ``data/`` folder of a source
    checkout (a clone, installed with ``pip install -e .``), which ships
    the four MNIST files; else one folder per user, as other dataset
    fetchers keep it: ``$XDG_CACHE_HOME/logreg-mnist``, or
    ``~/.cache/logreg-mnist`` when that variable is unset or not an
    absolute path.  The folder is created only when a download needs it.
    """
    folder = os.environ.get(DATA_VARIABLE)
    if folder:
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise DataError('%s=%s: not a folder (the data folder, created '
                            'when missing)' % (DATA_VARIABLE, folder))
        return folder
    if os.path.isfile(os.path.join(CHECKOUT_DATA, 'README.md')):
        return CHECKOUT_DATA
    return cache.user_cache()


def resolve_dataset(dataset):
    """Turn the ``--dataset`` argument into an existing path.

    A bare file name that does not exist here is looked for in the data
    folder.  For the tutorial's ``mnist.pkl.gz``, the four IDX files in the
    data folder do as well (they hold the same data), and when neither is
    there MNIST is downloaded into it (see ``download``).
    """
    if not dataset:
        raise DataError("`dataset` '' names no file")
    if os.path.exists(dataset):
        return dataset
    folder, name = os.path.split(dataset)
    if not folder:
        folder = default_data_dir()
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
        if name == download.MNIST_PKL:
            if all(download.find_idx(folder, f.stem)
                   for f in download.IDX_FILES):
                return folder
            return download.fetch_mnist(folder)
    raise DataError('%s: no such file or directory' % dataset)


def read_pickle(path):
    """The three (x, y) pairs stored in a gzip'd pickle like mnist.pkl.gz,
    or kept from an earlier run (see ``files.cache``).

    The pickle is read as data (see ``files.reading``): numpy arrays of real
    numbers in tuples or lists, nothing else.  The tutorial's file was
    written by Python 2, whose byte strings need the latin-1 reading that
    ``pickles.read_pickle`` applies.
    """
    def decode():
        return [a for pair in _unpickled(path) for a in pair]
    arrays = cache.kept('pickle', [path], decode, 6, reading.Budget(path))
    return [tuple(arrays[i:i + 2]) for i in range(0, 6, 2)]


def _unpickled(path):
    """The pairs of the pickle ``path`` (see ``read_pickle``)."""
    try:
        sets = pickles.read_pickle(path)
        pairs = None
        if isinstance(sets, (tuple, list)) and len(sets) == 3 and all(
                isinstance(s, (tuple, list)) and len(s) == 2 for s in sets):
            pairs = [(pickles.as_array(x), pickles.as_array(y))
                     for x, y in sets]
    except DataError:
        raise
    except Exception as e:
        raise DataError('%s is not a readable pickle (%s: %s)'
                        % (path, type(e).__name__, cut(str(e)))) from None
    if pairs is None or any(a is None for pair in pairs for a in pair):
        raise DataError('%s does not hold ((train_x, train_y), (valid_x, '
                        'valid_y), (test_x, test_y)) of numpy arrays like '
                        'mnist.pkl.gz' % path)
    return pairs


def read_idx(path, ndim, budget=None):
    """Read one IDX file of unsigned bytes with ``ndim`` dimensions
    (optionally gzip'd) into a numpy array, charged to ``budget`` (see
    ``reading.Budget``)."""
    raw = reading.read_bytes(path, budget=budget)
    if len(raw) < 4 or raw[:3] != b'\x00\x00\x08':
        raise DataError('%s: not an IDX file of unsigned bytes '
                        '(wrong magic number)' % path)
    if raw[3] != ndim:
        raise DataError('%s: an IDX file of %d dimension(s), but %s'
                        % (path, raw[3], 'labels must be 1-D' if ndim == 1
                           else 'images must be 3-D (N, rows, cols)'))
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
                  for i in range(ndim))
    if len(raw) < header or len(raw) != header + math.prod(shape):
        raise DataError('%s: header says %s but the file holds %d bytes of '
                        'data' % (path, shape, max(0, len(raw) - header)))
    if shape[0] == 0:
        raise DataError('%s holds no %s' % (path, 'labels' if ndim == 1
                                            else 'images'))
    return numpy.frombuffer(raw, dtype=numpy.uint8, offset=header) \
        .reshape(shape)


def dataset_files(path):
    """The files a dataset path stands for (an IDX folder: its four)."""
    if not os.path.isdir(path):
        return [path]
    return [p for f in download.IDX_FILES
            for p in download.idx_paths(path, f.stem)]


def _idx_path(directory, stem):
    path = download.find_idx(directory, stem)
    if path is None:
        raise DataError('%s: missing %s(.gz)' % (directory, stem))
    return path


#: Arrays at least this large get memory of their own (see ``pixels``).
LARGE = 64 << 20


def pixels(shape, dtype):
    """An empty array for images, which are written once and then only
    read.  A large one gets memory of its own from the system, in small
    pages: numpy asks for huge pages for large arrays, which some systems
    (virtual machines, a fragmented memory) take several times longer to
    hand out -- up to a second for MNIST in float64 -- for no gain in
    reading them (measured)."""
    dtype = numpy.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    if size < LARGE or not hasattr(mmap, 'MAP_ANONYMOUS'):
        return numpy.empty(shape, dtype)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return numpy.frombuffer(memory, dtype).reshape(shape)


def cast_to(x, dtype):
    """``x`` as an array of ``dtype`` (see ``pixels``); a value the cast
    makes infinite is left so, for ``check_splits`` to refuse."""
    out = pixels(x.shape, dtype)
    with numpy.errstate(over='ignore'):
        numpy.copyto(out, x, casting='unsafe')
    return out


def read_idx_dir(directory, budget=None, dtype=numpy.float32):
    """The three (x, y) pairs from a directory of MNIST-format IDX files,
    the files and the arrays made from them charged to one ``budget``; the
    pixels as ``dtype``.  The files' arrays are kept for the next run (see
    ``files.cache``)."""
    budget = budget or reading.Budget(directory)
    paths = [_idx_path(directory, f.stem) for f in download.IDX_FILES]

    def decode():
        return [read_idx(path, 1 if f.array.endswith('_y') else 3, budget)
                for path, f in zip(paths, download.IDX_FILES)]
    arrays = dict(zip([f.array for f in download.IDX_FILES],
                      cache.kept('idx', paths, decode, len(paths), budget)))
    # one row of pixels per image, byte / 256 as in mnist.pkl.gz: exact in
    # float32 and float64 alike, so made in the precision asked for at once
    dtype = numpy.dtype(dtype)
    x = {}
    for s in ('train', 'test'):
        images = arrays.pop(s + '_x')
        images = images.reshape(len(images), math.prod(images.shape[1:]))
        budget.charge(dtype.itemsize * images.size)
        x[s] = numpy.divide(images, dtype.type(256),
                            out=pixels(images.shape, dtype))
    y = {}
    for s in ('train', 'test'):
        budget.charge(8 * arrays[s + '_y'].size)
        y[s] = arrays[s + '_y'].astype(numpy.int64)
    n_valid = len(x['train']) // 6
    n_train = len(x['train']) - n_valid
    return [(x['train'][:n_train], y['train'][:n_train]),
            (x['train'][n_train:], y['train'][n_train:]),
            (x['test'], y['test'])]


SPLITS = ('train', 'valid', 'test')


def all_finite(x):
    """True when no value of ``x`` is NaN or infinite; looked at a few
    thousand rows at a time, in the processor's cache (the whole array of
    booleans would be one more array as large as the images' pixels)."""
    rows = max(1, (1 << 20) // max(1, x[0].size if len(x) else 1))
    return all(numpy.isfinite(x[i:i + rows]).all()
               for i in range(0, len(x), rows))


def check_splits(sets, path, n_out=N_CLASSES):
    """Refuse data the model cannot learn from, naming the file and fault."""
    n_in = None
    for name, (x, y) in zip(SPLITS, sets):
        where = '%s (%s split)' % (path, name)
        if x.ndim != 2 or not numpy.issubdtype(x.dtype, numpy.number):
            raise DataError('%s: images must be a numeric N x pixels array, '
                            'got %s of %s' % (where, x.shape, x.dtype))
        if x.shape[1] == 0:
            raise DataError('%s: images of no pixels' % where)
        if n_in is not None and x.shape[1] != n_in:
            raise DataError('%s: %d pixels per image, but the train split '
                            'has %d' % (where, x.shape[1], n_in))
        n_in = x.shape[1]
        if y.ndim != 1 or len(y) != len(x):
            raise DataError('%s: %d images but labels of shape %s'
                            % (where, len(x), y.shape))
        if not all_finite(x):
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


def read_dataset(path, n_out=N_CLASSES, dtype=None):
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) as numpy,
    checked to be images with labels in 0..n_out-1.  With ``dtype`` the
    images are cast to it first (the engine's floatX), so that a pixel the
    cast makes infinite (1e39 in float32) is refused too."""
    budget = reading.Budget(path)
    try:
        if os.path.isdir(path):
            sets = read_idx_dir(path, budget, dtype or numpy.float32)
        else:
            sets = read_pickle(path)
    except OSError as e:
        raise DataError(os_problem(path, e)) from None
    if dtype is not None:
        cast = []
        for x, y in sets:
            if x.dtype != dtype and x.dtype.kind in reading.REAL_KINDS:
                budget.charge(x.size * numpy.dtype(dtype).itemsize)
                x = cast_to(x, dtype)
            cast.append((x, y))
        sets = cast
    return check_splits(sets, path, n_out)


def shared_dataset(data_xy, borrow=True):
    """One split as shared variables: its images, and its labels as int32.

    A shared variable lives where the engine computes -- in the GPU's
    memory under ``device=cuda`` -- so the compiled functions take each
    minibatch straight from it instead of receiving a copy per call.  Both
    are stored as floatX (what a GPU keeps); the labels are cast back to
    int32 in the graph, since they index the probability matrix.
    """
    from .engine import theano, T   # here: reading files needs no engine

    def stored(values):
        return theano.shared(numpy.asarray(values,
                                           dtype=theano.config.floatX),
                             borrow=borrow)
    images, labels = data_xy
    return stored(images), T.cast(stored(labels), 'int32')


def read_data(dataset, dtype=None):
    """The (train, valid, test) splits of ``dataset`` as pairs of numpy
    arrays (images cast to ``dtype``, see ``read_dataset``), announced
    with the tutorial's line.

    ``dataset`` is ``mnist.pkl.gz`` (found in the data folder or fetched
    into it), another pickle of the same structure, or a directory of IDX
    files.
    """
    path = resolve_dataset(dataset)
    print('... loading data', flush=True)
    return read_dataset(path, dtype=dtype)


def load_data(dataset):
    """The splits of ``read_data`` as pairs of shared variables (see
    ``shared_dataset``), the images checked in the engine's floatX."""
    from .engine import theano
    with phase('load'):
        return [shared_dataset(split)
                for split in read_data(dataset, theano.config.floatX)]
