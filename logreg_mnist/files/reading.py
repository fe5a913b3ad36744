"""Reading files a user is handed: as data only, and within limits.

A dataset or a model can come from anywhere: a course folder, a mirror, a
colleague.  Every reader in this package opens its files here, which

* refuses what is not a regular file (``/dev/zero`` would never end), and
  notes what it reads as an input of the run (see ``writing``);
* charges everything a read makes to a ``Budget``: the bytes read from
  disk, the bytes decompressed, each string and array made from them and
  each copy.  The budget is the input limit -- 1024 MB unless
  ``$LOGREG_MNIST_MAX_MB`` says otherwise; MNIST takes about 220 MB once
  decompressed.  So a gzip bomb or a sparse file of padding fails in one
  line, in time proportional to the file's size, instead of filling the
  memory.  Pickles are read on top of this by ``pickles``.
"""
import io
import os
import stat
import sys
import zlib

from ..errors import DataError, os_problem
from .writing import note_input

LIMIT_VARIABLE = 'LOGREG_MNIST_MAX_MB'
DEFAULT_LIMIT_MB = 1024

#: Kinds of numpy arrays a file may hold: booleans, integers, floats (of
#: at most 8 bytes: float128 is refused, it is no engine's floatX).
REAL_KINDS = 'biuf'


def limit_bytes():
    """The most bytes one input file may hold once decompressed."""
    text = os.environ.get(LIMIT_VARIABLE, '').strip()
    if not text:
        return DEFAULT_LIMIT_MB << 20
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1
    if not 0 < megabytes <= MAX_LIMIT_MB:
        raise DataError('%s=%s: expected a positive number of megabytes, at '
                        'most %d' % (LIMIT_VARIABLE, text, MAX_LIMIT_MB))
    return int(megabytes * (1 << 20))


#: The largest limit that can be asked for (what a read can ask for).
MAX_LIMIT_MB = (sys.maxsize >> 20) - 1

#: How much of a file is read at a time.
CHUNK = 1 << 20


def too_big(path, limit, error=DataError):
    return error('%s holds more than %d MB (the limit for an input file; '
                     'set %s to raise it)' % (path, limit >> 20,
                                              LIMIT_VARIABLE))


class Budget(object):
    """What a read may still make, in bytes: every byte read or
    decompressed, every string, array and copy made from them is
    ``charge``d, and the one that passes ``limit`` raises ``error`` naming
    ``path``.  One budget can span several files (the four of an IDX
    folder)."""

    def __init__(self, path, limit=None, error=DataError, why=None):
        self.path, self.error = path, error
        self.limit = limit_bytes() if limit is None else limit
        self.why = why   # what passing the limit means, if not its size
        self.spent = 0

    def charge(self, size):
        self.spent += size
        self.check(0)

    def check(self, size):
        """Raise now if ``size`` more bytes would pass the limit."""
        if self.spent + size > self.limit:
            self.refuse()

    def refuse(self):
        if self.why:
            raise self.error('%s: %s' % (self.path, self.why))
        raise too_big(self.path, self.limit, self.error)


def check_regular(path, error=DataError):
    """Raise ``error`` unless ``path`` is an existing regular file; note
    it as an input of the running command (see ``writing.check_target``)."""
    try:
        status = os.stat(path)
    except OSError as e:
        raise error(os_problem(path, e)) from None
    if not stat.S_ISREG(status.st_mode):
        raise error('%s is not a regular file' % path)
    note_input(path, status)
    return status


def head(path, size, error=DataError):
    """The first ``size`` bytes of the regular file ``path`` (a named pipe
    would block the reader), or ``error``."""
    check_regular(path, error)
    try:
        with open(path, 'rb') as f:
            return f.read(size)
    except OSError as e:
        raise error(os_problem(path, e)) from None


class _Content(io.RawIOBase):
    """The content of a regular file as a stream, gunzipped on the fly if
    the file is gzip'd, that raises ``budget.error`` (naming the file) once
    the content passes the budget, once more bytes are read from disk than
    the limit (zero padding after a gzip member, a sparse file), or when
    the gzip data is damaged."""

    def __init__(self, path, budget):
        self.path, self.budget, self.error = path, budget, budget.error
        self.size = 0        # bytes of content given out so far
        self.read_in = 0     # bytes read from the file so far
        self.disk_limit = limit_bytes()   # however small the budget
        self.file = open(path, 'rb')
        head = self._read_file()
        self.gzipped = head[:2] == b'\x1f\x8b'
        self.input = head    # the chunk read from the file last
        self.at = 0          # how much of it is used
        self.stream = None   # the gzip member being decompressed
        if not self.gzipped and path.endswith('.gz'):
            self.file.close()
            looks = head[:200].lstrip().lower()
            if looks.startswith((b'<!doctype', b'<html', b'<?xml', b'<head')):
                raise self.error('%s is an HTML page, not a gzip file: '
                                 'probably a failed download; delete it and '
                                 'fetch the file again' % path)
            raise self.error('%s is not a gzip file' % path)

    def _read_file(self):
        data = self.file.read(CHUNK)
        self.read_in += len(data)
        if self.read_in > self.disk_limit + CHUNK:
            raise too_big(self.path, self.disk_limit, self.error)
        return data

    def readable(self):
        return True

    def tell(self):
        return self.size

    def close(self):
        self.file.close()
        super().close()

    def _more_input(self):
        """True while input is left: the rest of the chunk read last, from
        ``self.at``, or a new chunk."""
        if self.at >= len(self.input):
            self.input, self.at = self._read_file(), 0
        return self.at < len(self.input)

    def readinto(self, buffer):
        want = min(len(buffer), CHUNK)   # (zeros can unpack 1000-fold)
        if not want:
            return 0
        data = self._gunzip(want) if self.gzipped else self._plain(want)
        buffer[:len(data)] = data
        self.size += len(data)
        self.budget.charge(len(data))
        return len(data)

    def _plain(self, want):
        if not self._more_input():
            return b''
        data = self.input[self.at:self.at + want]
        self.at += len(data)
        return data

    #: The most compressed bytes given to zlib at once: what it copies of
    #: them (at a member's end, or when the output is full) stays small,
    #: however many members a chunk holds.
    FEED = 1 << 14

    def _gunzip(self, want):
        """Up to ``want`` bytes more of the decompressed members."""
        while True:
            if self.stream is None:   # between members: another, or the end
                if not self._more_input():
                    return b''
                if self.input[self.at] == 0 and \
                        not self.input[self.at:].strip(b'\0'):   # padding
                    self.at = len(self.input)
                    continue
                self.stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if not self._more_input():
                raise self.error('%s: damaged or truncated gzip file (it ends '
                                 'in the middle of the compressed data)'
                                 % self.path)
            fed = memoryview(self.input)[self.at:self.at + self.FEED]
            try:
                data = self.stream.decompress(fed, want)
            except zlib.error as e:
                raise self.error('%s: damaged or truncated gzip file (%s)'
                                 % (self.path, e)) from None
            if self.stream.eof:
                self.at += len(fed) - len(self.stream.unused_data)
                self.stream = None
            else:
                self.at += len(fed) - len(self.stream.unconsumed_tail)
            if data:
                return data


def open_content(path, error=DataError, budget=None):
    """The content of the regular file ``path`` as a binary stream:
    decompressed if gzip'd, its bytes charged to ``budget`` (by default a
    new one at the input limit).  Raises ``error`` (one line, naming the
    file) for a missing or special file, a damaged gzip stream, a ``.gz``
    that is not gzip'd (an HTML page saved by a failed download, say), or
    content above the budget, when it is opened or as it is read; a file
    larger on disk than the limit is refused before it is read."""
    budget = budget or Budget(path, error=error)
    size = check_regular(path, budget.error).st_size
    if size > limit_bytes() + CHUNK:   # (a gzip'd file: a little more)
        raise too_big(path, limit_bytes(), budget.error)
    try:
        return io.BufferedReader(_Content(path, budget), CHUNK)
    except OSError as e:
        raise budget.error(os_problem(path, e)) from None


def read_bytes(path, error=DataError, budget=None):
    """The whole content of ``path`` (see ``open_content``), as a
    bytearray: read once, into one buffer that grows in place."""
    with open_content(path, error, budget) as stream:
        raw = stream.raw
        try:
            size = os.fstat(raw.file.fileno()).st_size
            raw.budget.check(0 if raw.gzipped else size)
            out = bytearray(0 if raw.gzipped else size)
            done = stream.readinto(out) if out else 0
            del out[done:]
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return out
                out += chunk
        except OSError as e:
            raise raw.error(os_problem(path, e)) from None


#: The largest dimension an array may declare (far above any file that
#: fits the limit; a bigger one only makes the arithmetic slow).
MAX_DIMENSION = 1 << 48
