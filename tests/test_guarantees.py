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
from logreg_mnist import data
from logreg_mnist.files import modelfile, writing
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
    assert line == ('DataError: %s: a pickle that builds more than twice '
                    'what it holds' % path), line
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


def small_model(path):
    """A good model of 4 pixels and 10 classes, to be damaged."""
    npz(path, W=numpy.zeros((4, 10)), b=numpy.zeros(10), n_in=4, n_out=10)


def model_refusal(path):
    """The ModelError that reading the model ``path`` ends in, as text."""
    with pytest.raises(ModelError) as error:
        modelfile.read_model(str(path))
    return str(error.value)


def test_a_model_with_many_members_is_refused_from_its_end_record(tmp_path):
    path = tmp_path / 'many.npz'
    small_model(path)
    with zipfile.ZipFile(path, 'a') as archive:
        for i in range(3000):
            archive.writestr('extra%d.npy' % i, b'')
    assert model_refusal(path) == ('%s holds 3004 arrays; a model has at '
                                   'most 64' % path)


def test_a_model_of_more_classes_than_can_be_shown_is_refused(tmp_path):
    path = tmp_path / 'wide.npz'
    npz(path, W=numpy.zeros((1, 300000), numpy.float32),
        b=numpy.zeros(300000, numpy.float32), n_in=1, n_out=300000)
    assert path.stat().st_size < 2 << 20
    assert model_refusal(path) == ('%s: a model of 300000 classes; at most '
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
    with writing.exclusive(str(tmp_path / 'm.pkl')):
        for spelling in ('m', 'm.npz', 'm.pkl', 'here/m.tar'):
            with pytest.raises(UsageError, match='is being written by '
                               'another run .process %d, holding %s/.m.lock'
                               % (os.getpid(), tmp_path)):
                with writing.exclusive(str(tmp_path / spelling)):
                    pass
        with writing.exclusive(str(tmp_path / 'n.pkl')):   # another set
            pass
    assert sorted(os.listdir(tmp_path)) == ['here']
    # a lock left by a run that was killed is taken over, then removed
    (tmp_path / '.m.lock').write_text('12345\n')
    with writing.exclusive(str(tmp_path / 'm')):
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


########################################
# More of the same classes, found later
########################################

def test_cg_chooses_its_engine_after_parsing(tmp_path):
    out = run_module('cg', '--help', env={'LOGREG_MNIST_ENGINE': 'foo',
                                          'THEANO_FLAGS': 'floatX="x'})
    assert out.returncode == 0 and out.stderr == '', out.stderr
    assert out.stdout.startswith('usage: python -m logreg_mnist.cg')
    out = run_module('cg', '--dataset', tmp_path / 'missing.pkl.gz',
                     env={'THEANO_FLAGS': 'floatX="x'})
    assert 'error: THEANO_FLAGS=floatX="x: the value of floatX opens a ' \
        'quote' in error_line(out, 1)


def test_a_model_member_compressed_otherwise_than_numpy_does(tmp_path):
    path = tmp_path / 'bz.npz'
    small_model(path)
    with zipfile.ZipFile(path, 'a', zipfile.ZIP_BZIP2) as archive:
        archive.writestr('extra.npy', b'\0' * (1 << 20))
    assert model_refusal(path) == ("%s: 'extra.npy' is compressed by method "
                                   "12; a model is stored or deflated" % path)


def test_a_zip_directory_larger_than_a_model_needs(tmp_path):
    path = tmp_path / 'directory.npz'
    small_model(path)
    raw = bytearray(path.read_bytes())
    end = raw.rfind(b'PK\x05\x06')
    raw[end + 12:end + 16] = (1 << 30).to_bytes(4, 'little')   # a lie
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=r'has a directory of 1073741824 '
                       r"bytes; a model's takes at most 65536"):
        modelfile.read_model(str(path))


def test_arrays_wider_than_float64_are_refused(tmp_path):
    wide = numpy.zeros((2, 4), numpy.longdouble)
    if wide.dtype.itemsize <= 8:
        pytest.skip('long double is float64 here')
    path = tmp_path / 'wide.pkl.gz'
    path.write_bytes(gzip.compress(pickle.dumps(((wide, numpy.zeros(2)),)
                                                * 3, protocol=2)))
    with pytest.raises(DataError, match='not of real numbers'):
        data.read_dataset(str(path))
    model = tmp_path / 'wide.npz'
    npz(model, W=numpy.zeros((4, 10), numpy.longdouble), b=numpy.zeros(10),
        n_in=4, n_out=10)
    with pytest.raises(ModelError, match='not what a model holds'):
        modelfile.read_model(str(model))


def test_images_of_no_pixels_are_refused(tmp_path):
    path = tmp_path / 'empty-images.pkl.gz'
    path.write_bytes(gzip.compress(pickle.dumps(
        ((numpy.zeros((5, 0)), numpy.zeros(5, int)),) * 3)))
    with pytest.raises(DataError) as error:
        data.read_dataset(str(path))
    assert str(error.value) == '%s (train split): images of no pixels' % path


def test_many_empty_gzip_members_before_the_data_are_read(tmp_path):
    sets = ((numpy.ones((2, 3)), numpy.array([1, 2])),) * 3
    path = tmp_path / 'members.pkl.gz'
    path.write_bytes(gzip.compress(b'') * 20000 +
                     gzip.compress(pickle.dumps(sets)))
    numpy.testing.assert_array_equal(data.read_dataset(str(path))[2][1],
                                     [1, 2])


def test_a_frame_longer_than_its_file(tmp_path):
    frame = b'\x80\x04\x95' + (1 << 40).to_bytes(8, 'little') + b'N.'
    path = tmp_path / 'frame.pkl.gz'
    path.write_bytes(gzip.compress(frame))
    line, grown = probe(path)
    assert line == ('DataError: %s: the pickle asks for more bytes than the '
                    'file holds' % path), line
    assert grown < 32 << 20


def test_a_model_cast_to_floatx_is_charged(tmp_path, monkeypatch):
    path = tmp_path / 'bytes.npz'
    npz(path, W=numpy.ones((150000, 10), numpy.uint8), b=numpy.zeros(10),
        n_in=150000, n_out=10)
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '2')
    assert modelfile.read_model(str(path))['W'].nbytes == 1500000
    with pytest.raises(ModelError, match='holds more than 2 MB'):
        modelfile.load_model(str(path))


def test_predict_checks_the_test_images(tmp_path):
    model = tmp_path / 'm.npz'
    small_model(model)
    x = numpy.full((3, 4), 0.5)
    x[1, 2] = 1e300
    y = numpy.arange(3)
    for name, sets in (('inf.pkl.gz', ((x, y),) * 3),
                       ('none.pkl.gz', ((x, y), (x, y), (x[:0], y[:0])))):
        (tmp_path / name).write_bytes(gzip.compress(pickle.dumps(sets)))
    out = run_module('predict', '--model', model, '--dataset', 'inf.pkl.gz',
                     cwd=tmp_path, env={'THEANO_FLAGS': 'floatX=float32'})
    assert error_line(out, 1).endswith('inf.pkl.gz (train split): images '
                                       'contain NaN or infinite values')
    out = run_here('predict', '--model', model, '--dataset', 'none.pkl.gz',
                   cwd=tmp_path)
    assert error_line(out, 1) == ('python -m logreg_mnist.predict: error: '
                                  'none.pkl.gz: the test split holds no '
                                  'images')


def test_a_lock_is_never_a_link_or_an_empty_file(tmp_path):
    mine = tmp_path / 'pkg-init.py'
    mine.write_text('')
    os.link(mine, tmp_path / '.m.lock')
    (tmp_path / '.n.lock').write_text('')
    for stem in ('m', 'n'):
        with pytest.raises(UsageError, match='is in the way'):
            with writing.exclusive(str(tmp_path / stem)):
                pass
    assert mine.read_text() == '' and (tmp_path / '.n.lock').exists()
    with open(tmp_path / '.m.lock', 'w') as f:   # (still the same file)
        f.write('12\n')
    with pytest.raises(UsageError, match='is in the way'):   # two names
        with writing.exclusive(str(tmp_path / 'm')):
            pass
    assert mine.read_text() == '12\n'


def test_a_model_out_that_names_a_history_is_refused(tmp_path):
    out = run_here('train', '--dataset', tmp_path / 'missing.pkl.gz',
                   '--model-out', 'm.history.csv', cwd=tmp_path)
    assert error_line(out) == (
        'python -m logreg_mnist.train: error: --model-out m.history.csv names '
        'a training history; choose a model file name, such as '
        'best_model.pkl')
    assert os.listdir(tmp_path) == []
