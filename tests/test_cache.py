"""The cache: decoded datasets kept for the next run, and what the
compiler answered; each entry used only when it is verifiably the one
asked for, and anything damaged ignored and replaced."""
import os
import shutil
import subprocess

import numpy
import pytest

from helpers import write_idx
from logreg_mnist import data
from logreg_mnist.engine import compiler
from logreg_mnist.errors import DataError
from logreg_mnist.files import cache, pickles


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache of the test's own, never the user's."""
    folder = tmp_path / 'cache'
    monkeypatch.setenv('LOGREG_MNIST_CACHE', str(folder))
    return folder


@pytest.fixture
def idx_dir(small_idx_dir, tmp_path):
    """A copy of the small IDX folder that a test may change."""
    return shutil.copytree(small_idx_dir, tmp_path / 'idx')


class Decodes(object):
    """Counts the calls of a decoder (``data.read_idx`` or
    ``pickles.read_pickle``), which a read from the cache never makes."""

    def __init__(self, monkeypatch, module, name):
        self.calls = 0
        real = getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)


def entries(own_cache):
    folder = own_cache / 'decoded'
    return sorted(folder.iterdir()) if folder.is_dir() else []


def assert_same(sets, expected):
    """Bit for bit: the same dtypes, shapes and bytes."""
    for (x, y), (ex, ey) in zip(sets, expected):
        for a, e in ((x, ex), (y, ey)):
            assert a.dtype == e.dtype and a.shape == e.shape
            assert a.tobytes() == e.tobytes()


@pytest.mark.parametrize('dtype', [None, 'float64'])
def test_a_second_read_of_an_idx_folder_decodes_nothing(
        idx_dir, own_cache, monkeypatch, dtype):
    decodes = Decodes(monkeypatch, data, 'read_idx')
    first = data.read_dataset(str(idx_dir), dtype=dtype)
    assert decodes.calls == 4 and len(entries(own_cache)) == 1
    again = data.read_dataset(str(idx_dir), dtype=dtype)
    assert decodes.calls == 4
    assert_same(again, first)
    monkeypatch.setenv('LOGREG_MNIST_CACHE', 'off')
    assert_same(data.read_dataset(str(idx_dir), dtype=dtype), first)
    assert decodes.calls == 8


def test_a_second_read_of_a_pickle_unpickles_nothing(small_pkl, own_cache,
                                                     monkeypatch):
    decodes = Decodes(monkeypatch, pickles, 'read_pickle')
    first = data.read_dataset(str(small_pkl))
    again = data.read_dataset(str(small_pkl))
    assert decodes.calls == 1
    assert_same(again, first)


def test_float64_pixels_are_the_float32_ones_exactly(idx_dir):
    narrow = data.read_dataset(str(idx_dir))
    wide = data.read_dataset(str(idx_dir), dtype='float64')
    for (x, _), (x64, _) in zip(narrow, wide):
        assert x64.dtype == numpy.float64
        assert (x64 == x.astype(numpy.float64)).all()


def test_a_changed_file_is_decoded_again(idx_dir, own_cache, monkeypatch):
    labels = idx_dir / 't10k-labels-idx1-ubyte.gz'
    first = data.read_dataset(str(idx_dir))
    stat = labels.stat()
    changed = (first[2][1] + 1) % 10   # same size, other labels
    write_idx(labels, changed)
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    decodes = Decodes(monkeypatch, data, 'read_idx')
    again = data.read_dataset(str(idx_dir))
    assert decodes.calls == 4
    assert (again[2][1] == changed).all()
    assert_same(again[:2], first[:2])
    assert len(entries(own_cache)) == 2   # one for each content


def test_an_equal_copy_elsewhere_is_the_same_data(idx_dir, tmp_path,
                                                  monkeypatch):
    first = data.read_dataset(str(idx_dir))
    copy = shutil.copytree(idx_dir, tmp_path / 'copy')
    decodes = Decodes(monkeypatch, data, 'read_idx')
    assert_same(data.read_dataset(str(copy)), first)
    assert decodes.calls == 0


def damage(path, how):
    raw = bytearray(path.read_bytes())
    if how == 'truncated':
        raw = raw[:len(raw) // 2]
    elif how == 'a bit flipped in an array':
        raw[-1000] ^= 1
    elif how == 'a bit flipped in a header':
        raw[70] ^= 1
    elif how == 'empty':
        raw = b''
    elif how == 'garbage':
        raw = os.urandom(len(raw))
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize('how', ['truncated', 'a bit flipped in an array',
                                 'a bit flipped in a header', 'empty',
                                 'garbage'])
def test_a_damaged_entry_is_ignored_and_replaced(idx_dir, own_cache,
                                                 monkeypatch, how):
    first = data.read_dataset(str(idx_dir))
    entry, = entries(own_cache)
    damage(entry, how)
    decodes = Decodes(monkeypatch, data, 'read_idx')
    assert_same(data.read_dataset(str(idx_dir)), first)
    assert decodes.calls == 4
    assert_same(data.read_dataset(str(idx_dir)), first)   # replaced:
    assert decodes.calls == 4                              # used again
    assert entries(own_cache) == [entry]


def test_an_entry_made_for_other_files_is_not_used(idx_dir, small_pkl,
                                                   own_cache, monkeypatch):
    first = data.read_dataset(str(idx_dir))
    entry, = entries(own_cache)
    data.read_dataset(str(small_pkl))
    other, = set(entries(own_cache)) - {entry}
    shutil.copyfile(other, entry)   # a valid entry, under the wrong key
    decodes = Decodes(monkeypatch, data, 'read_idx')
    assert_same(data.read_dataset(str(idx_dir)), first)
    assert decodes.calls == 4


def entry_of(key, arrays, header=None):
    """An entry as ``cache.kept`` writes one, its CRC right, made of
    ``arrays`` (the first one's .npy header replaced by ``header``)."""
    import zlib
    body = list(cache._records(arrays))
    if header is not None:
        import io
        head = io.BytesIO()
        numpy.lib.format.write_array_header_1_0(head, header)
        body[0] = head.getvalue()
    crc = 0
    for chunk in body:
        crc = zlib.crc32(chunk, crc)
    return b''.join([cache._HEADER.pack(cache._MAGIC, key, len(arrays), crc)]
                    + [bytes(chunk) for chunk in body])


@pytest.mark.parametrize('arrays, header', [
    ([numpy.zeros(3, complex)] * 4, None),           # not real numbers
    ([numpy.zeros(3)] * 4, {'descr': '|O', 'fortran_order': False,
                            'shape': (3,)}),         # (or pickles)
    ([numpy.zeros(3)] * 4, {'descr': '<f8', 'fortran_order': False,
                            'shape': (10 ** 6,)}),   # more than it holds
    ([numpy.zeros(3)] * 4, {'descr': '<f8', 'fortran_order': False,
                            'shape': (-1,)}),
    ([numpy.zeros(3)] * 3, None),                    # one array short
])
def test_a_well_made_entry_of_the_wrong_arrays_is_not_used(
        idx_dir, own_cache, monkeypatch, arrays, header):
    first = data.read_dataset(str(idx_dir))
    entry, = entries(own_cache)
    key = bytes.fromhex(entry.name.split('.')[0])
    entry.write_bytes(entry_of(key, arrays, header))
    decodes = Decodes(monkeypatch, data, 'read_idx')
    assert_same(data.read_dataset(str(idx_dir)), first)
    assert decodes.calls == 4


def test_an_entry_that_is_not_a_file_is_left_alone(idx_dir, own_cache,
                                                   monkeypatch):
    first = data.read_dataset(str(idx_dir))
    entry, = entries(own_cache)
    entry.unlink()
    os.mkfifo(entry)   # reading it would wait for ever
    decodes = Decodes(monkeypatch, data, 'read_idx')
    assert_same(data.read_dataset(str(idx_dir)), first)
    assert decodes.calls == 4


def test_a_cache_that_cannot_be_written_costs_only_time(idx_dir, tmp_path,
                                                        monkeypatch):
    blocker = tmp_path / 'a-file'
    blocker.write_bytes(b'')
    monkeypatch.setenv('LOGREG_MNIST_CACHE', str(blocker))
    first = data.read_dataset(str(idx_dir))
    assert_same(data.read_dataset(str(idx_dir)), first)
    assert blocker.read_bytes() == b''


def test_off_keeps_nothing_and_a_relative_folder_is_refused(
        idx_dir, own_cache, monkeypatch):
    monkeypatch.setenv('LOGREG_MNIST_CACHE', 'off')
    data.read_dataset(str(idx_dir))
    assert not own_cache.exists()
    monkeypatch.setenv('LOGREG_MNIST_CACHE', 'cache')
    with pytest.raises(DataError, match='LOGREG_MNIST_CACHE=cache: give an '
                                        'absolute folder, or off'):
        data.read_dataset(str(idx_dir))


def test_the_default_cache_is_the_users(monkeypatch, tmp_path):
    monkeypatch.delenv('LOGREG_MNIST_CACHE')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache.folder('decoded') == str(tmp_path / 'xdg' / 'logreg-mnist'
                                          / 'decoded')


def test_the_limit_still_holds_for_kept_data(idx_dir, own_cache,
                                            monkeypatch):
    data.read_dataset(str(idx_dir))
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '1')
    with pytest.raises(DataError, match='more than 1 MB'):
        data.read_dataset(str(idx_dir))
    assert len(entries(own_cache)) == 1   # (kept for a higher limit)


def test_the_least_recently_used_entries_go_first(idx_dir, small_pkl,
                                                  own_cache, monkeypatch):
    data.read_dataset(str(idx_dir))
    idx_entry, = entries(own_cache)
    monkeypatch.setattr(cache, 'KEEP_BYTES', idx_entry.stat().st_size)
    data.read_dataset(str(small_pkl))   # over the size kept: the older goes
    assert len(entries(own_cache)) == 1 and not idx_entry.exists()


def test_a_damaged_dataset_is_still_refused_as_before(idx_dir):
    data.read_dataset(str(idx_dir))
    images = idx_dir / 'train-images-idx3-ubyte.gz'
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError, match='damaged or truncated gzip'):
        data.read_dataset(str(idx_dir))


######################
# What the compiler said
######################

def test_an_answer_is_kept_for_its_question_only(own_cache):
    assert cache.remembered('q') is None
    cache.remember('q', 'a\nb')
    assert cache.remembered('q') == 'a\nb'
    assert cache.remembered('q2') is None
    answer, = (own_cache / 'compiler').iterdir()
    answer.write_bytes(b'another question\nc')
    assert cache.remembered('q') is None


@pytest.fixture
def compilers(monkeypatch):
    """Counts the compilers started."""
    started = []
    real = subprocess.run

    def counted(command, *args, **kwargs):
        started.append(command)
        return real(command, *args, **kwargs)
    monkeypatch.setattr(subprocess, 'run', counted)
    return started


def test_a_build_that_works_is_not_tried_again(compilers):
    source = 'int probe() { return 0; }\n'
    assert compiler.build_problem('g++', source) is None
    assert compiler.build_problem('g++', source) is None
    assert len(compilers) == 1
    assert compiler.build_problem('g++', source, '-O1') is None  # other flags
    assert len(compilers) == 2


def test_a_build_that_fails_is_tried_every_time(compilers):
    source = 'this is not C++\n'
    assert compiler.build_problem('g++', source)
    assert compiler.build_problem('g++', source)
    assert len(compilers) == 2


def test_another_compiler_at_the_same_name_is_asked_again(tmp_path,
                                                          compilers):
    fake = tmp_path / 'cxx'
    fake.write_text('#!/bin/sh\nexec g++ "$@"\n')
    fake.chmod(0o755)
    source = 'int probe() { return 0; }\n'
    assert compiler.build_problem(str(fake), source) is None
    fake.write_text('#!/bin/sh\necho "error: not today" >&2; exit 1\n')
    assert compiler.build_problem(str(fake), source) == 'error: not today'
    assert len(compilers) == 2


def test_whether_a_compiler_is_clang_is_asked_once(compilers):
    assert compiler.is_clang('g++') is compiler.is_clang('g++')
    assert len(compilers) == 1


def test_the_march_flags_are_worked_out_once(own_cache):
    class Compiler(object):   # as the engines' GCC_compiler
        march_flags = None
        worked_out = 0

        @staticmethod
        def compile_args(march_flags=True):
            if Compiler.march_flags is None:
                Compiler.worked_out += 1
                Compiler.march_flags = ['-march=x', '-mtune=y']
            return ['-O3'] + Compiler.march_flags

    class Config(object):
        cxx = shutil.which('g++')
        gcc__cxxflags = ''

    if not compiler._processor():
        pytest.skip('no /proc/cpuinfo here: the flags are never kept')
    compiler.remember_march_flags(Compiler, 'engine 1', Config)
    assert Compiler.compile_args() == ['-O3', '-march=x', '-mtune=y']
    Compiler.march_flags = None   # the next process
    compiler.remember_march_flags(Compiler, 'engine 1', Config)
    assert Compiler.compile_args() == ['-O3', '-march=x', '-mtune=y']
    assert Compiler.worked_out == 1
    Compiler.march_flags = None   # another engine
    compiler.remember_march_flags(Compiler, 'engine 2', Config)
    Compiler.compile_args()
    assert Compiler.worked_out == 2
