"""Pickles a user is handed, read as data: plain containers, numbers,
strings and numpy arrays of real numbers, and nothing else.

The tutorial's ``mnist.pkl.gz`` is such a pickle.  Python's own unpickler
reads it (in its Python version, so that each step can be checked), with
seven stand-ins for the numpy and ``bytes`` callables a data pickle names,
keys that hash in time proportional to their size, and a budget: a pickle
may build at most twice what it holds (see ``reading``).
"""
import functools
import math
import pickle
import pickletools
import sys

import numpy

from ..errors import cut, quoted
from .reading import (CHUNK, MAX_DIMENSION, REAL_KINDS, Budget,
                      limit_bytes, open_content)


#: Most opcodes (and memo entries) a pickle may have.  The tutorial's
#: dataset has 234; a pickle that repeats references millions of times to
#: make a huge list is refused.
MAX_PICKLE_OPS = 100000


def _check_dtype(dtype):
    if (not isinstance(dtype, numpy.dtype) or dtype.kind not in REAL_KINDS
            or dtype.itemsize > 8 or dtype.fields is not None
            or dtype.shape != ()):
        raise pickle.UnpicklingError('an array of %s, not of real numbers'
                                     % quoted(dtype))
    return dtype


def _array(budget, raw, dtype, shape, fortran=False):
    """An array of ``shape`` from ``raw`` bytes, checked before it is made.
    It uses the memory of ``raw`` (no copy: a file at the size limit is
    in memory once), so it is read-only unless ``raw`` is a bytearray."""
    _check_dtype(dtype)
    if (not isinstance(shape, tuple) or len(shape) > 32 or
            not all(type(n) is int and 0 <= n < MAX_DIMENSION
                    for n in shape)):
        raise pickle.UnpicklingError('an array of shape %s' % quoted(shape))
    if isinstance(raw, str):        # written by Python 2 (latin-1 str)
        budget.charge(len(raw))
        raw = raw.encode('latin1')
    if not isinstance(raw, (bytes, bytearray)) or \
            len(raw) != math.prod(shape) * dtype.itemsize:
        raise pickle.UnpicklingError(
            'an array declared as %s of %s whose data does not fit'
            % (quoted(shape), dtype))
    return numpy.frombuffer(raw, dtype).reshape(
        shape, order='F' if fortran else 'C')


class _NDArray(object):
    """Stands for ``numpy.ndarray`` in a pickle: only ``_reconstruct``
    takes it."""


class _PendingArray(object):
    """What ``numpy.core.multiarray._reconstruct`` returns here: an array
    made only when its state (shape, dtype, bytes) has been checked."""
    array = None

    def __init__(self, budget):
        self.budget = budget

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError('an array with a malformed state')
        shape, dtype, fortran, raw = state[-4:]
        self.array = _array(self.budget, raw, dtype, shape, fortran)


def _reconstruct(budget, cls, shape=(0,), typecode=b'b'):
    if cls is not _NDArray:
        raise pickle.UnpicklingError('an array of another class')
    return _PendingArray(budget)


def _dtype(budget, name, align=False, copy=True):
    if not isinstance(name, str) or len(name) > 8:
        raise pickle.UnpicklingError('a structured or unusual dtype %s'
                                     % quoted(name))
    return numpy.dtype(name)


def _scalar(budget, dtype, raw=b''):
    return _array(budget, raw, dtype, ())[()]


def _frombuffer(budget, raw, dtype, shape, order):
    if not isinstance(shape, (tuple, list)) or len(shape) > 32:
        raise pickle.UnpicklingError('an array of shape %s' % quoted(shape))
    return _array(budget, raw, dtype, tuple(shape), order == 'F')


def _encode(budget, text, encoding='latin1'):
    """How a protocol-2 pickle of Python 3 spells ``bytes``."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError('an unusual call of _codecs.encode')
    budget.charge(len(text))   # a new copy at every call
    return text.encode('latin1')


def _empty_bytes(budget, *args):
    """How a protocol-2 pickle spells ``b''``: ``bytes()``."""
    if args:
        raise pickle.UnpicklingError('an unusual call of bytes')
    return b''


#: The only functions and classes of numpy and Python a pickle may name,
#: each replaced by a checked stand-in (the functions are given the read's
#: budget first).
_DATA_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): _reconstruct,
    ('numpy', 'ndarray'): _NDArray,
    ('numpy', 'dtype'): _dtype,
    ('numpy.core.multiarray', 'scalar'): _scalar,
    ('numpy.core.numeric', '_frombuffer'): _frombuffer,
    ('_codecs', 'encode'): _encode,
    ('builtins', 'bytes'): _empty_bytes,
}

#: Opcodes a data pickle has no use for.
_REFUSED_OPS = {'PERSID', 'BINPERSID', 'EXT1', 'EXT2', 'EXT4', 'INST', 'OBJ',
                'NEXT_BUFFER', 'READONLY_BUFFER'}


#: What a dictionary key or a set member of a pickle may be: values whose
#: hash takes time in proportion to their size (a tuple of references to a
#: tuple of references ... takes time exponential in its depth).
_PLAIN_KEYS = (str, bytes, int, float, bool, type(None))


def _plain_keys(keys):
    for key in keys:
        if type(key) not in _PLAIN_KEYS:
            raise pickle.UnpicklingError(
                'a dictionary key or set member of type %s'
                % cut(type(key).__name__))


class _DataUnpickler(pickle._Unpickler):
    """Python's own unpickler (its Python version, whose steps can be
    checked), building only what ``find_class`` allows, with plain keys.
    (After MARK its ``stack`` holds just the items since the mark.)"""
    dispatch = dict(pickle._Unpickler.dispatch)

    def load_setitem(self):
        _plain_keys([self.stack[-2]])
        super().load_setitem()

    def load_setitems(self):   # also DICT: key, value, key, value ...
        _plain_keys(self.stack[0::2])
        super().load_setitems()

    def load_dict(self):
        _plain_keys(self.stack[0::2])
        super().load_dict()

    def load_additems(self):   # also FROZENSET: members
        _plain_keys(self.stack)
        super().load_additems()

    def load_frozenset(self):
        _plain_keys(self.stack)
        super().load_frozenset()

    for _code, _load in ((pickle.SETITEM, load_setitem),
                         (pickle.SETITEMS, load_setitems),
                         (pickle.DICT, load_dict),
                         (pickle.ADDITEMS, load_additems),
                         (pickle.FROZENSET, load_frozenset)):
        dispatch[_code[0]] = _load
    del _code, _load

    def __init__(self, file, what, budget):
        super().__init__(file, encoding='latin1')  # Python 2's str: bytes
        self.budget = budget
        self.what = what

    def find_class(self, module, name):
        # numpy 2 writes numpy._core, Python 2 (and protocol 2) __builtin__
        key = (module.replace('numpy._core', 'numpy.core').replace(
            '__builtin__', 'builtins'), name)
        if key in _DATA_GLOBALS:
            found = _DATA_GLOBALS[key]
            return found if found is _NDArray else \
                functools.partial(found, self.budget)
        raise pickle.UnpicklingError('it refers to %s.%s, which %s has no '
                                     'use for' % (cut(module), cut(name),
                                                  self.what))


#: The widest integer a data pickle needs (array sizes, counts).
MAX_INT_BITS = 64


class _Sized(object):
    """A binary stream whose reads of more than ``budget`` allows fail
    before anything is allocated for them (a pickle can declare a string
    of any length)."""

    def __init__(self, stream, budget):
        self.stream, self.budget = stream, budget

    def _claim(self, size):
        if size > 0 and self.stream.tell() + size > self.budget.limit:
            self.budget.refuse()

    def read(self, size=-1):
        if size is not None:
            self._claim(size)
        return self.stream.read(size)

    def readline(self, size=-1):
        return self.stream.readline(CHUNK if size < 0 else size)

    def readinto(self, buffer):
        self._claim(len(buffer))
        return self.stream.readinto(buffer)


def _scan(stream, budget):
    """Check a pickle's opcodes, without running any, and return the
    bytes of the strings it holds (what unpickling it will build from
    them).  Refused: more than MAX_PICKLE_OPS opcodes or memo entries,
    opcodes that data does not need, integers wider than MAX_INT_BITS."""
    count = strings = 0
    for opcode, arg, _ in pickletools.genops(_Sized(stream, budget)):
        count += 1
        if count > MAX_PICKLE_OPS:
            raise pickle.UnpicklingError('more than %d opcodes'
                                         % MAX_PICKLE_OPS)
        if opcode.name in _REFUSED_OPS:
            raise pickle.UnpicklingError('opcode %s' % opcode.name)
        if isinstance(arg, str):   # (as held: 1, 2 or 4 bytes a character)
            strings += sys.getsizeof(arg)
        elif isinstance(arg, (bytes, bytearray)):
            strings += len(arg)
        elif isinstance(arg, int) and arg.bit_length() > MAX_INT_BITS:
            raise pickle.UnpicklingError('an integer of %d bits'
                                         % arg.bit_length())
        if opcode.name.endswith(('PUT', 'GET')) and \
                opcode.name != 'MEMOIZE' and int(arg) > MAX_PICKLE_OPS:
            raise pickle.UnpicklingError('a memo index of %s' % arg)
    return strings


def read_pickle(path, what='a dataset'):
    """The pickle in the file ``path`` (see ``open_content``), read as
    data: containers, numbers, strings and real-number arrays.  Arrays may
    come back pending: pass them through ``as_array``.

    The file is read as a stream twice.  The first pass checks its opcodes
    (``_scan``) and measures it; the second unpickles it with a budget of
    twice what it holds, charged for its strings and each copy made of
    them.  The content is never held in memory beside the arrays made from
    it.  Problems with the file itself raise ``DataError``;
    ``pickle.UnpicklingError`` (or another exception of the unpickler)
    means the pickle is not data: no code of the file's choosing runs.
    """
    with open_content(path) as stream:
        try:
            strings = _scan(stream, stream.raw.budget)
        finally:   # to the end: a file too big or damaged says so first
            while stream.read(CHUNK):
                pass
        size = stream.raw.size
    budget = Budget(path, min(limit_bytes(), 2 * size + CHUNK),
                    why='a pickle that builds more than twice what it holds')
    content = Budget(path, size,
                     why='the pickle asks for more bytes than the file holds')
    with open_content(path, budget=content) as stream:
        budget.charge(strings)
        return _DataUnpickler(_Sized(stream, content), what, budget).load()


def as_array(obj):
    """The numpy array ``obj`` stands for, or None if it is not one."""
    if isinstance(obj, _PendingArray):
        if obj.array is None:
            raise pickle.UnpicklingError('an array without its data')
        return obj.array
    return obj if isinstance(obj, numpy.ndarray) else None
