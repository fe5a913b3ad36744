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

A mirror is a URL of a folder: ``https://``, ``http://``, ``ftp://``, or
``file://`` for a folder on this machine or a mounted share
(``file:///srv/mnist/``).

The IDX files make the very same dataset (``data.read_idx_dir``), so either
way the tutorial's numbers come out.  Every download goes to a temporary
file that is renamed into place only once it is complete and checked:
``mnist.pkl.gz`` by size and MD5, an IDX file by the size and MD5 of its
*decompressed* content (mirrors recompress the files, which changes the
``.gz`` but not what is inside).  A download stops as soon as it is larger
than the file it should be.  An HTML error page, a truncated or oversized
file, or a mirror too slow to finish within ``DEADLINE`` seconds is dropped and the
next mirror tried; so is one that fails in any other way (a server that
does not speak HTTP, a broken body, a ``file:`` URL of a FIFO or a device):
when all fail, one DataError lists what each did.  The files are kept in the
data folder, so the next run needs no network.

A mirror's URL may hold a user name and password (``https://user:pw@host/``,
sent to a server that asks for them); no message shows them, nor anything
else before the URL's last '@'.  A '/', '?' or '#' in them must be written
%2F, %3F or %23 (unencoded, it would end the host part, and the password
would be sent as a host, a path or nothing): such a URL is refused.  Spaces
and commas in them need no escaping.
"""
import collections
import hashlib
import os
import re
import stat
import time
import urllib.parse

from . import reading
from ..defaults import DATASET
from ..errors import DataError, cut, quoted
from ..cli.progress import StatusLine
from .writing import atomic_write

MIRRORS_VARIABLE = 'LOGREG_MNIST_MIRRORS'

#: The tutorial's file: its size and MD5, and where copies of it live.
MNIST_PKL = DATASET
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


#: The kinds of URL a mirror may be.
SCHEMES = ('http', 'https', 'ftp', 'file')


#: The scheme of a URL, with its '//'.
_SCHEME = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://')


def _userinfo(url):
    """Where the user name and password of ``url`` are, as (start, end)
    with ``url[end]`` its last '@' (None when there is none): all from the
    '://' on -- from the start, in text that has none -- up to that '@',
    whatever it holds.  A password may hold a '/', a '?' or a '#' that
    urllib takes for the end of the host part; an '@' in the path is
    hidden with them.  A ``file:///`` URL has no host part, so no
    password either."""
    found = _SCHEME.match(url)
    start = found.end() if found else 0
    if found and url.lower().startswith('file:') and \
            url.startswith('/', start):
        return None
    end = url.rfind('@', start)
    return None if end < 0 else (start, end)


def shown(url):
    """``url`` as messages show it: all before its last '@' after the
    '://' (a user name and password) hidden."""
    where = _userinfo(url)
    return url if where is None else url[:where[0]] + '***' + url[where[1]:]


def _hidden(url, text):
    """``text`` (an error's, which a server or urllib chose) without the
    user name and password of ``url`` or the parts urllib cuts them into
    (a host 'alice' of port '123' for 'alice:123/x'), percent-decoded or
    not, where it repeats them."""
    where = _userinfo(url)
    if where is None:
        return text
    userinfo = url[where[0]:where[1]]
    secrets = {userinfo, userinfo.partition(':')[2]}
    secrets |= {re.split(r'[/?#]', s)[0] for s in secrets}
    secrets |= {re.split(r'[/?#]', s)[-1] for s in secrets}
    secrets |= {urllib.parse.unquote(s) for s in secrets}
    for secret in sorted(secrets - {''}, key=len, reverse=True):
        text = text.replace(secret, '***')
    return text


def _entries(text):
    """The URLs in ``text``, split at spaces and commas -- but for those
    in a user name or password: a word with no scheme that holds an '@'
    belongs, with the words between, to the URL before it."""
    words = re.split(r'([\s,]+)', text.strip())   # words, and what is between
    spans = []   # [first word, last word] of each URL
    for at in range(0, len(words), 2):
        if not words[at]:
            continue
        if '@' in words[at] and not _SCHEME.match(words[at]):
            back = len(spans)
            while back and not _SCHEME.match(words[spans[back - 1][0]]):
                back -= 1
            if back:
                del spans[back:]
                spans[-1][1] = at
                continue
        spans.append([at, at])
    return [''.join(words[first:last + 1]) for first, last in spans]


def _quoted_url(url):
    """``url`` quoted when it holds spaces or commas (the ones of a user
    name or password) or is long."""
    return quoted(url) if re.search(r'[\s,]', url) else cut(url)


def user_mirrors():
    """The base URLs of ``$LOGREG_MNIST_MIRRORS``, each ending in '/';
    DataError for one that is not a URL of a kind ``SCHEMES`` lists, or
    whose user name or password holds a '/', a '?' or a '#' (urllib would
    send them as a host name, a path or not at all)."""
    text = os.environ.get(MIRRORS_VARIABLE, '')
    urls = []
    for url in _entries(text):
        where = _userinfo(url)
        try:
            parts = urllib.parse.urlsplit(url)
            problem = None if parts.scheme in SCHEMES else 'not a URL'
            if problem is None and where and re.search(
                    '[/?#]', url[where[0]:where[1]]):
                problem = ("not a valid URL (a '/', '?' or '#' before its "
                           "last '@': write them as %2F, %3F and %23 in a "
                           "user name or password, and an '@' in a path as "
                           "%40)")
            if problem is None:
                parts.port   # a port that is not a number raises here
        except ValueError as e:
            # (urllib's complaint may repeat the host part, password and all)
            problem = 'not a valid URL (%s)' % cut(_hidden(url, str(e)))
        if problem:
            raise DataError('%s: %s is %s; give the URL of a folder, such '
                            'as https://host/mnist/ or file:///srv/mnist/'
                            % (MIRRORS_VARIABLE, _quoted_url(shown(url)),
                               problem))
        urls.append(url if url.endswith('/') else url + '/')
    return urls


def _problem(url, error):
    """One line on why ``url`` failed: the URL as ``shown``, and the
    error's text quoted and cut (a server chooses it), without the URL's
    user name and password even where the text repeats them."""
    text, kind = str(error), type(error).__name__
    if not isinstance(error, (OSError, ValueError)) and kind not in text:
        text = '%s: %s' % (kind, text)    # BadStatusLine: SSH-2.0-...
    return '%s (%s)' % (shown(url), quoted(_hidden(url, text)))


def _open(url):
    """``urlopen``, logging in to an HTTP server with the user name and
    password in ``url`` when it asks (urllib does so itself for FTP)."""
    import urllib.request   # (here: a run with its data never needs it)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ('http', 'https') or parts.username is None:
        return urllib.request.urlopen(url, timeout=TIMEOUT)
    host = parts.netloc.rpartition('@')[2]
    logins = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    logins.add_password(None, '%s://%s/' % (parts.scheme, host),
                        urllib.parse.unquote(parts.username),
                        urllib.parse.unquote(parts.password or ''))
    opener = urllib.request.build_opener(
        urllib.request.HTTPBasicAuthHandler(logins))
    return opener.open(parts._replace(netloc=host).geturl(), timeout=TIMEOUT)


def _only_a_file(url):
    """ValueError when ``url`` is a ``file:`` URL of anything but a
    regular file: opening a FIFO waits for a writer, maybe forever, and a
    device or a folder is no copy of MNIST."""
    import urllib.request
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == 'file' and not stat.S_ISREG(os.stat(
            urllib.request.url2pathname(parts.path)).st_mode):
        raise ValueError('not a regular file')


class Expected(object):
    """A check for ``fetch``: the file (its decompressed content, with
    ``unpack``) must be ``size`` bytes with this MD5, else ValueError.
    ``most`` is the largest download that can pass (a compressed file can
    be a little larger than its content)."""

    def __init__(self, name, size, md5, unpack=False):
        self.name, self.size, self.md5, self.unpack = name, size, md5, unpack
        self.most = size + (size // 100 + 4096 if unpack else 0)

    def __call__(self, path):
        if self.unpack:
            try:
                content = reading.read_bytes(path)
            except DataError as e:
                raise ValueError(str(e).replace(path + ': ', '')) from None
        else:
            with open(path, 'rb') as f:
                content = f.read(self.size + 1)
        if len(content) != self.size or \
                hashlib.md5(content).hexdigest() != self.md5:
            raise ValueError('not the original %s (%d bytes, md5 %s%s), got '
                             '%d bytes' % (self.name, self.size, self.md5,
                                           ' once decompressed'
                                           if self.unpack else '',
                                           len(content)))


def fetch(url, dest, check, deadline=DEADLINE):
    """Download ``url`` to ``dest`` if ``check(temporary path)`` passes.

    Raises OSError or ValueError, leaving ``dest`` as it was, when the
    download fails, takes longer than ``deadline`` seconds, grows past
    ``check.most`` bytes, or the check refuses the file.
    """
    print('Downloading data from %s' % shown(url), flush=True)
    status = StatusLine()
    end = time.monotonic() + deadline
    name = os.path.basename(dest)
    try:
        with _open(url) as response, \
                atomic_write(dest, keep=check) as out:
            # (a file: URL's response has no length)
            total = getattr(response, 'length', None)
            while True:
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > check.most:
                    raise ValueError('more than the %d bytes expected'
                                     % check.most)
                if time.monotonic() > end:
                    raise ValueError('not complete after %d s' % deadline)
                if status.due():
                    status.update('%s: %.1f of %s MB' % (
                        name, out.tell() / 1e6,
                        '%.1f' % (total / 1e6) if total else '?'))
    finally:
        status.clear()


def _from_mirrors(dest, urls, check, problems):
    """Try ``urls`` in turn for one file; True once one gave a good copy.
    Whatever goes wrong with one URL is noted in ``problems``, and the next
    tried; only running out of memory (this machine's trouble, not the
    mirror's) and requests to stop go through."""
    for url in urls:
        try:
            _only_a_file(url)
            fetch(url, dest, check)
            return True
        except MemoryError:
            raise
        except Exception as e:
            problems.append(_problem(url, e))
    return False


def fetch_mnist(folder):
    """Fetch MNIST into ``folder``: the path of ``mnist.pkl.gz`` or of the
    folder of IDX files, whichever came first, or one DataError that says
    what to download by hand."""
    mine = user_mirrors()
    os.makedirs(folder, exist_ok=True)
    pkl = os.path.join(folder, MNIST_PKL)
    problems = []
    for pkl_urls, idx_bases in (([m + MNIST_PKL for m in mine], mine),
                                (MNIST_PKL_URLS, IDX_MIRRORS)):
        if _from_mirrors(pkl, pkl_urls, Expected(
                MNIST_PKL, MNIST_PKL_SIZE, MNIST_PKL_MD5), problems):
            return pkl
        if all(find_idx(folder, f.stem) or _from_mirrors(
                os.path.join(folder, f.stem + '.gz'),
                # (each base ends in '/'; urljoin would drop all after a
                # '#' in it, and show what it kept of a password)
                [base + f.stem + '.gz' for base in idx_bases],
                Expected(f.stem, f.size, f.md5, unpack=True), problems)
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
