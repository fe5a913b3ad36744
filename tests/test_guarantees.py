"""The guarantees, tried as an attacker or a careless user would: a file
handed to a command costs memory and time in proportion to its size on
disk, every failure is one line, and no write replaces a file that the
run reads or that the package did not make."""
import gzip
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy
import pytest

from helpers import run_here, run_module, write_idx
from logreg_mnist import data, modelfile, safety
from logreg_mnist.errors import DataError, ModelError, UsageError

#: Peak memory of a command that only reads a file, and what it may grow.
PROBE = """
import sys
from logreg_mnist import cli, data
def peak():
    with open('/proc/self/status') as f:
        line = next(line for line in f if line.startswith('VmHWM:'))
    return int(line.split()[1]) * 1024
before = peak()
try:
    if sys.argv[1].endswith('idx3.gz'):
        data.read_idx(sys.argv[1], 3)
    else:
        data.read_dataset(sys.argv[1])
    print('read', file=sys.stderr)
except Exception as e:
    print('%s: %s' % (type(e).__name__, e), file=sys.stderr)
print(peak() - before)
"""


def probe(path, limit_mb='64', timeout=120):
    """(the one line a read of ``path`` ends in, bytes the process grew)"""
    out = subprocess.run([sys.executable, '-c', PROBE, str(path)],
                         env=dict(os.environ, LOGREG_MNIST_MAX_MB=limit_mb),
                         capture_output=True, text=True, timeout=timeout)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    return lines[0], int(out.stdout)


def binunicode(text):
    raw = text.encode('utf-8')
    return b'X' + struct.pack('<I', len(raw)) + raw


def memo_pickle(body):
    """A protocol-2 pickle: ``_codecs.encode`` in memo 0, a 128 KB string
    in memo 1, then ``body``."""
    return (b'\x80\x02c_codecs\nencode\nq\x000'
            + binunicode('x' * (1 << 17)) + b'q\x010' + body + b'.')


def test_a_string_decoded_again_and_again_is_charged_each_time(tmp_path):
    # 4,000 calls of _codecs.encode on one stored string: 512 MB of bytes
    # from a file of a few hundred bytes
    call = b'h\x00h\x01' + binunicode('latin1') + b'\x86R'
    path = tmp_path / 'strings.pkl.gz'
    path.write_bytes(gzip.compress(memo_pickle(b'(' + call * 4000 + b'l')))
    assert path.stat().st_size < 20000
    line, grown = probe(path)
    assert line.startswith('DataError: %s holds more than' % path), line
    assert grown < 32 << 20


def test_a_huge_value_is_not_quoted_in_full(tmp_path):
    # an array whose dtype is a list of 4,000 references to the string
    state = (b'(K\x01(K\x00tq\x02(' + b'h\x01' * 4000 + b'l\x89'
             + binunicode('') + b'tq\x03')
    array = (b'cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n'
             b'K\x00\x85C\x01b\x87Rq\x04' + state + b'b')
    path = tmp_path / 'dtype.pkl.gz'
    path.write_bytes(gzip.compress(memo_pickle(array)))
    line, grown = probe(path)
    assert line.startswith('DataError: %s is not a readable pickle' % path)
    assert len(line) < 500, len(line)
    assert grown < 32 << 20


def test_a_wide_integer_is_refused_before_any_arithmetic(tmp_path):
    # a shape of 32 integers of 128 KB each: their product alone would
    # take minutes
    wide = b'\x8b' + struct.pack('<i', 1 << 17) + b'\x01' * (1 << 17)
    state = b'(K\x01(' + wide * 32 + b'tcnumpy\ndtype\nU\x02f8\x85R\x89C\x00t'
    array = (b'cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n'
             b'K\x00\x85C\x01b\x87R' + state + b'b')
    path = tmp_path / 'wide.pkl.gz'
    path.write_bytes(gzip.compress(b'\x80\x02' + array + b'.'))
    line, _ = probe(path, timeout=60)
    assert line == ('DataError: %s is not a readable pickle '
                    '(UnpicklingError: an integer of 1048569 bits)' % path)


def test_a_key_that_takes_forever_to_hash_is_refused(tmp_path):
    # a tuple of two references to a tuple of two references ..., 64
    # levels: hashing it as a dictionary key takes 2**64 steps
    body = binunicode('a') + b'q\x020' + b'h\x02h\x02\x86q\x020' * 64
    path = tmp_path / 'key.pkl.gz'
    path.write_bytes(gzip.compress(b'\x80\x02}' + body + b'h\x02K\x01s.'))
    line, _ = probe(path, timeout=60)
    assert line == ('DataError: %s is not a readable pickle (UnpicklingError:'
                    ' a dictionary key or set member of type tuple)' % path)


@pytest.mark.parametrize('kind', ['pkl', 'idx'])
def test_padding_after_the_data_is_not_read_forever(tmp_path, kind):
    """A gzip file followed by a long run of zeros (here a sparse file of
    1 TB): refused from its size at once, and with a smaller run, read no
    further than the limit."""
    if kind == 'pkl':
        content = pickle.dumps(((numpy.zeros((1, 4)), numpy.zeros(1)),) * 3)
        name = 'padded.pkl.gz'
    else:
        content = struct.pack('>BBBBIII', 0, 0, 8, 3, 1, 2, 2) + bytes(4)
        name = 'padded-idx3.gz'
    path = tmp_path / name
    for size, limit in ((1 << 40, '1024'), (96 << 20, '64')):
        path.write_bytes(gzip.compress(content))
        with open(path, 'r+b') as f:
            f.truncate(size)
        line, _ = probe(path, limit, timeout=60)
        assert line.startswith('DataError: %s holds more than %s MB'
                               % (path, limit)), line


def npz(path, **arrays):
    buffer = io.BytesIO()
    numpy.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def test_a_model_with_many_members_is_refused_from_its_end_record(tmp_path):
    path = tmp_path / 'many.npz'
    npz(path, W=numpy.zeros((4, 10)), b=numpy.zeros(10), n_in=4, n_out=10)
    with zipfile.ZipFile(path, 'a') as archive:
        for i in range(3000):
            archive.writestr('extra%d.npy' % i, b'')
    with pytest.raises(ModelError) as error:
        modelfile.read_model(str(path))
    assert str(error.value) == ('%s holds 3004 arrays; a model has at most '
                                '64' % path)


def test_a_model_of_more_classes_than_can_be_shown_is_refused(tmp_path):
    path = tmp_path / 'wide.npz'
    npz(path, W=numpy.zeros((1, 300000), numpy.float32),
        b=numpy.zeros(300000, numpy.float32), n_in=1, n_out=300000)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(ModelError) as error:
        modelfile.read_model(str(path))
    assert str(error.value) == ('%s: a model of 300000 classes; at most '
                                '1000 can be shown and predicted' % path)


def test_pixels_are_checked_after_the_cast_to_floatx(tmp_path):
    x = numpy.zeros((5, 4))
    x[2, 1] = 1e39   # finite in float64, infinite in float32
    y = numpy.arange(5) % 10
    path = tmp_path / 'big-pixel.pkl.gz'
    path.write_bytes(gzip.compress(pickle.dumps(((x, y),) * 3)))
    assert data.read_dataset(str(path))[0][0][2, 1] == 1e39
    with pytest.raises(DataError) as error:
        data.read_dataset(str(path), dtype='float32')
    assert str(error.value) == ('%s (train split): images contain NaN or '
                                'infinite values' % path)


def test_a_run_in_float32_refuses_a_pixel_the_cast_makes_infinite(tmp_path):
    x = numpy.full((40, 4), 0.5)
    x[7, 3] = -1e39
    path = tmp_path / 'big-pixel.pkl.gz'
    path.write_bytes(gzip.compress(pickle.dumps(((x, numpy.arange(40) % 10),)
                                                * 3)))
    out = run_module('train', '--dataset', path, '--batch-size', 10,
                     cwd=tmp_path, env={'THEANO_FLAGS': 'floatX=float32'})
    assert error_line(out, 1) == (
        'python -m logreg_mnist.train: error: %s (train split): images '
        'contain NaN or infinite values' % path)
    assert sorted(os.listdir(tmp_path)) == ['big-pixel.pkl.gz']


def test_an_empty_dataset_name_is_refused(tmp_path):
    with pytest.raises(DataError, match="`dataset` '' names no file"):
        data.resolve_dataset('')


##########
# Writes #
##########

def error_line(out, status=2):
    assert out.returncode == status, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in out.stderr, out.stderr
    return lines[0]


def test_a_lock_never_touches_a_file_it_did_not_make(tmp_path):
    precious = tmp_path / 'precious.txt'
    precious.write_text('keep me')
    (tmp_path / 'uv.lock').write_text('# a project lock file\n')
    (tmp_path / 'best_model.pkl.lock').symlink_to(precious)
    (tmp_path / '.linked.lock').symlink_to(precious)
    (tmp_path / '.theirs.lock').write_text('not a process id\n')
    os.mkfifo(tmp_path / '.fifo.lock')
    before = {p.name: (p.is_symlink(), p.read_text() if not p.is_fifo()
                       else None) for p in tmp_path.iterdir()}
    # runs that stop on a missing dataset, and runs refused by the lock
    for model_out, refused in (('uv', None), ('best_model.pkl', None),
                               ('linked.pkl', '.linked.lock'),
                               ('theirs', '.theirs.lock'),
                               ('fifo', '.fifo.lock')):
        out = run_here('train', '--dataset', tmp_path / 'missing.pkl.gz',
                       '--model-out', model_out, cwd=tmp_path)
        line = error_line(out, 2 if refused else 1)
        if refused:
            assert line == (
                'python -m logreg_mnist.train: error: %s/%s is in the way: '
                'it is not a lock file this package made (one holds a '
                'process id); move it or choose another output file'
                % (tmp_path, refused))
        else:
            assert line.endswith('missing.pkl.gz: no such file or directory')
    after = {p.name: (p.is_symlink(), p.read_text() if not p.is_fifo()
                      else None) for p in tmp_path.iterdir()}
    assert after == before


def test_one_model_set_has_one_lock_however_it_is_spelled(tmp_path):
    (tmp_path / 'here').symlink_to(tmp_path)
    with safety.exclusive(str(tmp_path / 'm.pkl')):
        for spelling in ('m', 'm.npz', 'm.pkl', 'here/m.tar'):
            with pytest.raises(UsageError, match='is being written by '
                               'another run .process %d, holding %s/.m.lock'
                               % (os.getpid(), tmp_path)):
                with safety.exclusive(str(tmp_path / spelling)):
                    pass
        with safety.exclusive(str(tmp_path / 'n.pkl')):   # another set
            pass
    assert sorted(os.listdir(tmp_path)) == ['here']
    # a lock left by a run that was killed is taken over, then removed
    (tmp_path / '.m.lock').write_text('12345\n')
    with safety.exclusive(str(tmp_path / 'm')):
        assert (tmp_path / '.m.lock').read_text() == '%d\n' % os.getpid()
    assert sorted(os.listdir(tmp_path)) == ['here']


@pytest.fixture
def idx_folder(tmp_path):
    folder = tmp_path / 'mnist'
    folder.mkdir()
    rng = numpy.random.RandomState(0)
    for stem, n in (('train', 60), ('t10k', 12)):
        write_idx(folder / ('%s-images-idx3-ubyte.gz' % stem),
                  rng.randint(0, 256, (n, 28, 28)))
        write_idx(folder / ('%s-labels-idx1-ubyte.gz' % stem),
                  rng.randint(0, 10, n))
    return folder


def files(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob('*'))
            if p.is_file()}


def test_no_output_replaces_a_file_the_run_reads(tmp_path, idx_folder,
                                                 monkeypatch):
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(idx_folder))
    before = files(idx_folder)
    images = idx_folder / 't10k-images-idx3-ubyte.gz'
    (tmp_path / 'link.png').symlink_to(images)
    for out in (images, tmp_path / 'link.png'):
        line = error_line(run_here('plot', 'samples', '--out', out,
                                   cwd=tmp_path))
        assert line == ('python -m logreg_mnist.plot: error: %s would '
                        'overwrite %s, which this run reads; choose another '
                        'file' % (out, images))
    out = run_here('benchmark', '--dataset', 'mnist.pkl.gz', '--save-json',
                   images, cwd=tmp_path)
    assert error_line(out) == (
        'python -m logreg_mnist.benchmark: error: --save-json %s would '
        'overwrite %s, which this run reads; choose another file'
        % (images, images))
    assert files(idx_folder) == before
    assert (tmp_path / 'link.png').is_symlink()
