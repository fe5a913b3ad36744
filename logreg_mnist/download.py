"""Fetching MNIST when it is not on disk, and never keeping a bad copy.

The tutorial downloads ``mnist.pkl.gz`` from deeplearning.net, which is
gone.  Asked for the default dataset and finding it nowhere, this package
tries, in order:

1. the mirrors named in ``$LOGREG_MNIST_MIRRORS`` (base URLs separated by
   spaces or commas, each serving files under their own names): first
   ``mnist.pkl.gz``, then the four IDX files;
2. the known copies of ``mnist.pkl.gz``;
3. the known mirrors of the four IDX files (the ones torchvision uses:
   Yann LeCun's own site refuses downloads).

The IDX files make the very same dataset (``data.read_idx_dir``), so either
way the tutorial's numbers come out.  Every download goes to a temporary
file that is renamed into place only once it is complete and checked:
``mnist.pkl.gz`` by size and MD5, an IDX file by the size and MD5 of its
*decompressed* content (mirrors recompress the files, which changes the
``.gz`` but not what is inside).  An HTML error page, a truncated file or a
mirror too slow to finish within ``DEADLINE`` seconds is dropped and the
next mirror tried.  The files are kept in the data folder, so the next run
needs no network.
"""
import collections
import hashlib
import os
import time
import urllib.parse
import urllib.request

from . import untrusted
from .errors import DataError
from .progress import StatusLine
from .safety import atomic_write

MIRRORS_VARIABLE = 'LOGREG_MNIST_MIRRORS'

#: The tutorial's file: its size and MD5, and where copies of it live.
MNIST_PKL = 'mnist.pkl.gz'
MNIST_PKL_SIZE = 16168813
MNIST_PKL_MD5 = 'a02cd19f81d51c426d7ca14024243ce9'
MNIST_PKL_URLS = [
    'https://figshare.com/ndownloader/files/25635053',
    'https://thegreenplace.net/files/mnist.pkl.gz',
    'http://www.iro.umontreal.ca/~lisa/deep/data/mnist/mnist.pkl.gz',
]

#: The four IDX files: the array each holds (``data`` reads them), its
#: name, and its size and MD5 once decompressed.
IdxFile = collections.namedtuple('IdxFile', 'array stem size md5')
IDX_FILES = [
    IdxFile('train_x', 'train-images-idx3-ubyte', 47040016,
            '6bbc9ace898e44ae57da46a324031adb'),
    IdxFile('train_y', 'train-labels-idx1-ubyte', 60008,
            'a25bea736e30d166cdddb491f175f624'),
    IdxFile('test_x', 't10k-images-idx3-ubyte', 7840016,
            '2646ac647ad5339dbf082846283269ea'),
    IdxFile('test_y', 't10k-labels-idx1-ubyte', 10008,
            '27ae3e4e09519cfbb04c329615203637'),
]
IDX_MIRRORS = [
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
]

#: Seconds one mirror may take for one file, and for each network read.
DEADLINE = 600
TIMEOUT = 30


def user_mirrors():
    """The base URLs of ``$LOGREG_MNIST_MIRRORS``, each ending in '/'."""
    text = os.environ.get(MIRRORS_VARIABLE, '')
    return [url if url.endswith('/') else url + '/'
            for url in text.replace(',', ' ').split()]


def matches(name, size, md5, unpack=False):
    """A check for ``fetch``: the file (its decompressed content, with
    ``unpack``) must be ``size`` bytes with this MD5, else ValueError."""
    def check(path):
        if unpack:
            try:
                content = untrusted.read_bytes(path)
            except DataError as e:
                raise ValueError(str(e).replace(path + ': ', '')) from None
        else:
            with open(path, 'rb') as f:
                content = f.read(size + 1)
        if len(content) != size or hashlib.md5(content).hexdigest() != md5:
            raise ValueError('not the original %s (%d bytes, md5 %s%s), got '
                             '%d bytes' % (name, size, md5, ' once '
                                           'decompressed' if unpack else '',
                                           len(content)))
    return check


def fetch(url, dest, check, deadline=DEADLINE):
    """Download ``url`` to ``dest`` if ``check(temporary path)`` passes.

    Raises OSError or ValueError, leaving ``dest`` as it was, when the
    download fails, takes longer than ``deadline`` seconds, or the check
    refuses the file.
    """
    print('Downloading data from %s' % url, flush=True)
    status = StatusLine()
    end = time.monotonic() + deadline
    name = os.path.basename(dest)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, \
                atomic_write(dest, keep=check) as out:
            total = response.length
            while True:
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                if time.monotonic() > end:
                    raise ValueError('not complete after %d s' % deadline)
                if status.due():
                    status.update('%s: %.1f of %s MB' % (
                        name, out.tell() / 1e6,
                        '%.1f' % (total / 1e6) if total else '?'))
    finally:
        status.clear()


def _from_mirrors(dest, urls, check, problems):
    """Try ``urls`` in turn for one file; True once one gave a good copy."""
    for url in urls:
        try:
            fetch(url, dest, check)
            return True
        except (OSError, ValueError) as e:
            problems.append('%s (%s)' % (url, e))
    return False


def fetch_mnist(folder):
    """Fetch MNIST into ``folder``: the path of ``mnist.pkl.gz`` or of the
    folder of IDX files, whichever came first, or one DataError that says
    what to download by hand."""
    os.makedirs(folder, exist_ok=True)
    pkl = os.path.join(folder, MNIST_PKL)
    problems = []
    mine = user_mirrors()
    for pkl_urls, idx_bases in (([m + MNIST_PKL for m in mine], mine),
                                (MNIST_PKL_URLS, IDX_MIRRORS)):
        if _from_mirrors(pkl, pkl_urls, matches(
                MNIST_PKL, MNIST_PKL_SIZE, MNIST_PKL_MD5), problems):
            return pkl
        if all(find_idx(folder, f.stem) or _from_mirrors(
                os.path.join(folder, f.stem + '.gz'),
                [urllib.parse.urljoin(base, f.stem + '.gz')
                 for base in idx_bases],
                matches(f.stem, f.size, f.md5, unpack=True), problems)
               for f in IDX_FILES):
            return folder
    raise DataError(
        'MNIST is not in %s and could not be downloaded (%s). Put either '
        '%s (%d bytes, md5 %s) or the four IDX files %s there (md5 of each '
        'once decompressed: %s), or set %s to a mirror of your own'
        % (folder, '; '.join(problems) or 'no mirror', MNIST_PKL,
           MNIST_PKL_SIZE, MNIST_PKL_MD5,
           ', '.join(f.stem + '.gz' for f in IDX_FILES),
           ', '.join(f.md5 for f in IDX_FILES),
           MIRRORS_VARIABLE))


def idx_paths(folder, stem):
    """Where the IDX file ``stem`` may be in ``folder``: gzip'd, or not."""
    return [os.path.join(folder, stem + ext) for ext in ('.gz', '')]


def find_idx(folder, stem):
    """The path of the IDX file ``stem`` in ``folder``, or None."""
    return next((path for path in idx_paths(folder, stem)
                 if os.path.isfile(path)), None)
