"""What one run works out and the next can reuse: the cache.

Two things are kept, each in a folder of its own under the cache folder
(``folder``):

* ``decoded/``: the arrays decoded from a dataset (gunzipped and parsed
  IDX files, an unpickled ``mnist.pkl.gz``), which take seconds to make
  and a fraction of one to read back (``kept``);
* ``compiler/``: what the C compiler answered to the engine's questions
  (``remembered``), which it takes a subprocess to ask each time.

An entry is found by a key made from everything it depends on: for
decoded data, the SHA-256 of the content of every file it was decoded
from, so an edited, replaced or touched-but-equal file is never confused
with another.  An entry is written atomically (``writing.atomic_write``)
and checked when read -- its header, the key it was made for, a CRC-32 of
its arrays, each array's header, read without pickle and within the input
limit (``reading``) -- and one that is damaged, cut short or not ours is
ignored and replaced.  Nothing in it is ever run.  Whatever goes wrong
with the cache itself (a folder that cannot be written, a full disk) only
means the work is done again.

The cache folder is ``$LOGREG_MNIST_CACHE``, else the per-user cache
``$XDG_CACHE_HOME/logreg-mnist`` (by default ``~/.cache/logreg-mnist``,
where an installed copy downloads MNIST too); ``LOGREG_MNIST_CACHE=off``
keeps nothing.
"""
import contextlib
import hashlib
import io
import math
import os
import re
import struct
import zlib

import numpy

from ..errors import DataError, LogregError
from . import reading
from .writing import atomic_write, forget_input

CACHE_VARIABLE = 'LOGREG_MNIST_CACHE'

#: What the decoded data of all datasets may take together; the least
#: recently used go first (the one just written always stays).
KEEP_BYTES = 1 << 30


def user_cache():
    """The per-user cache folder, as other tools keep theirs:
    ``$XDG_CACHE_HOME/logreg-mnist``, or ``~/.cache/logreg-mnist`` when
    that variable is unset or not an absolute path."""
    cache = os.environ.get('XDG_CACHE_HOME', '')
    if not os.path.isabs(cache):
        cache = os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'logreg-mnist')


def folder(kind):
    """The folder of the cache where ``kind`` ('decoded', 'compiler') is
    kept, or None when ``$LOGREG_MNIST_CACHE`` is off."""
    value = os.environ.get(CACHE_VARIABLE, '').strip()
    if value.lower() == 'off':
        return None
    if value and not os.path.isabs(value):
        raise DataError('%s=%s: give an absolute folder, or off to keep '
                        'nothing' % (CACHE_VARIABLE, value))
    return os.path.join(value or user_cache(), kind)


def _write(path, chunks):
    """Write ``chunks`` (bytes-like) as the file ``path``, atomically but
    not durably (an entry is checked when read); False when the cache
    cannot be written, which only costs the next run the work again."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        forget_input(path)   # (a damaged entry read by this run)
        with atomic_write(path, durable=False) as f:
            for chunk in chunks:
                f.write(chunk)
        return True
    except (OSError, LogregError):
        return False


######################
# What the compiler said
######################

def _answer_path(question):
    where = folder('compiler')
    return where and os.path.join(where, hashlib.sha256(
        _text(question)).hexdigest())


def _text(text):
    return text.encode('utf-8', 'surrogateescape')


def remembered(question):
    """The answer (a string) that ``remember`` kept for ``question``, a
    string of all that the answer depends on; None if there is none."""
    path = _answer_path(question)
    if path is None:
        return None
    asked = _text(question + '\n')
    try:
        text = bytes(reading.head(path, len(asked) + (1 << 16), error=OSError))
    except (OSError, LogregError):
        return None
    if not text.startswith(asked):
        return None
    return text[len(asked):].decode('utf-8', 'surrogateescape')


def remember(question, answer):
    """Keep ``answer`` to ``question`` for the next runs (see
    ``remembered``)."""
    path = _answer_path(question)
    if path is not None:
        _write(path, [_text('%s\n%s' % (question, answer))])


################
# Decoded data
################

#: The header of an entry: what it is, the key it was made for (raw
#: SHA-256), how many arrays follow and the CRC-32 of all that follows.
_HEADER = struct.Struct('<24s32sII')
_MAGIC = b'logreg-mnist decoded v1\n'
#: Each array is a .npy (version 1.0) padded to a multiple of this.
_ALIGN = 64
#: The most bytes an array's header may take (numpy writes about 128).
_MOST_HEADER = 4096
#: An entry's file name: its key in hex.
_ENTRY = re.compile(r'[0-9a-f]{64}\.arrays')


def _key(paths, kind):
    """The key of the data decoded by ``kind`` from ``paths`` (SHA-256 of
    the decoder's name and version and of each file's content), or None
    when a file cannot be read: the decoder then says why."""
    from .. import __version__
    key = hashlib.sha256(('%s %s %s' % (_MAGIC.decode().strip(), kind,
                                        __version__)).encode())
    limit = reading.limit_bytes()
    try:
        for path in paths:
            size = reading.check_regular(path).st_size
            if size > limit + reading.CHUNK:
                return None
            content = hashlib.sha256()
            with open(path, 'rb') as f:
                for chunk in iter(lambda: f.read(reading.CHUNK), b''):
                    content.update(chunk)
            key.update(b'%d %s\n' % (size, content.hexdigest().encode()))
    except (OSError, LogregError):
        return None
    return key.digest()


def _records(arrays):
    """The bytes of ``arrays`` as an entry stores them, in pieces."""
    for array in arrays:
        array = numpy.ascontiguousarray(array)
        head = io.BytesIO()
        numpy.lib.format.write_array_header_1_0(
            head, numpy.lib.format.header_data_from_array_1_0(array))
        yield head.getvalue()
        yield array.reshape(-1).view(numpy.uint8)
        yield bytes(-array.nbytes % _ALIGN)


def _unpacked(raw, key):
    """The arrays of the entry ``raw`` (a bytearray), made for ``key``, as
    views of it; None if it is anything else."""
    if len(raw) < _HEADER.size:
        return None
    magic, made_for, count, crc = _HEADER.unpack_from(raw)
    body = memoryview(raw)[_HEADER.size:]
    if magic != _MAGIC or made_for != key or zlib.crc32(body) != crc:
        return None
    arrays, at = [], _HEADER.size
    for _ in range(count):
        head = io.BytesIO(raw[at:at + _MOST_HEADER])
        try:
            if numpy.lib.format.read_magic(head) != (1, 0):
                return None
            shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(
                head)
        except (ValueError, TypeError, SyntaxError):
            return None
        at += head.tell()
        if (fortran or dtype.kind not in reading.REAL_KINDS
                or dtype.itemsize > 8 or dtype.fields is not None
                or not all(0 <= n < reading.MAX_DIMENSION for n in shape)
                or at + math.prod(shape) * dtype.itemsize > len(raw)):
            return None
        size = math.prod(shape) * dtype.itemsize
        arrays.append(numpy.frombuffer(raw, dtype, math.prod(shape),
                                       at).reshape(shape))
        at += size + (-size % _ALIGN)
    return arrays if at == len(raw) else None


def _read(path, key):
    """The arrays of the entry at ``path`` when it is one for ``key``,
    else None (and an entry that is not, damaged, is removed)."""
    try:
        raw = reading.read_bytes(path, error=OSError)
    except (OSError, LogregError):   # missing, most likely
        return None
    arrays = _unpacked(raw, key)
    with contextlib.suppress(OSError):
        if arrays is None:
            os.unlink(path)
        else:
            os.utime(path)   # used now: the last to go (see ``_evict``)
    return arrays


def _evict(where, keep):
    """Remove the least recently used entries of ``where`` beyond
    ``KEEP_BYTES`` together, but never ``keep``."""
    try:
        entries = [os.path.join(where, name) for name in os.listdir(where)
                   if _ENTRY.fullmatch(name)]
        entries = sorted(((os.stat(p), p) for p in entries),
                         key=lambda e: e[0].st_mtime_ns, reverse=True)
    except OSError:
        return
    total = 0
    for status, path in entries:
        total += status.st_size
        if total > KEEP_BYTES and path != keep:
            with contextlib.suppress(OSError):
                os.unlink(path)


def kept(kind, paths, decode, count, budget):
    """``decode()``, the ``count`` numpy arrays the decoder ``kind`` makes
    from the files ``paths``, or the same arrays as an earlier run kept
    them for files of the same content (whose size is charged to
    ``budget``)."""
    where = folder('decoded')
    key = _key(paths, kind) if where else None
    if key is None:
        return decode()
    path = os.path.join(where, key.hex() + '.arrays')
    arrays = _read(path, key)
    if arrays is not None and len(arrays) == count:
        budget.charge(sum(a.nbytes for a in arrays))
        return arrays
    arrays = decode()
    body = list(_records(arrays))
    crc = 0
    for chunk in body:
        crc = zlib.crc32(chunk, crc)
    if _write(path, [_HEADER.pack(_MAGIC, key, len(arrays), crc)] + body):
        _evict(where, path)
    return arrays
