"""Reading MNIST: pickle and IDX formats, the split, shared variables, and
the download that never keeps a bad file."""
import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys

import numpy
import pytest

from helpers import Mirror, write_idx
from logreg_mnist import data
from logreg_mnist.files import download
from logreg_mnist.engine import theano
from logreg_mnist.errors import DataError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Decoded data kept in a cache of the test's own, not the user's."""
    monkeypatch.setenv('LOGREG_MNIST_CACHE', str(tmp_path / 'cache'))


def test_idx_directory_is_split_like_mnist_pkl(small_idx_dir, digits):
    images, labels = digits
    (tx, ty), (vx, vy), (sx, sy) = data.read_dataset(str(small_idx_dir))
    # the last sixth of the 8,000 'train' digits validates, t10k tests
    assert (len(tx), len(vx), len(sx)) == (6667, 1333, 2000)
    assert tx.shape[1] == 784
    def pixels(image):   # float32 byte / 256, as in mnist.pkl.gz
        return image.reshape(-1).astype(numpy.float32) / numpy.float32(256)
    numpy.testing.assert_array_equal(tx[5], pixels(images[5]))
    numpy.testing.assert_array_equal(vx[0], pixels(images[6667]))
    numpy.testing.assert_array_equal(sx[-1], pixels(images[-1]))
    numpy.testing.assert_array_equal(
        numpy.concatenate([ty, vy, sy]), labels)
    assert tx.min() == 0.0 and tx.max() == numpy.float32(255 / 256)


def test_real_mnist_60000_splits_50000_10000(tmp_path):
    images = numpy.zeros((60000, 2, 2), numpy.uint8)
    labels = numpy.arange(60000) % 10
    for stem, array in (('train-images-idx3-ubyte', images),
                        ('train-labels-idx1-ubyte', labels),
                        ('t10k-images-idx3-ubyte', images[:10]),
                        ('t10k-labels-idx1-ubyte', labels[:10])):
        write_idx(tmp_path / stem, array)   # uncompressed names work too
    (tx, ty), (vx, vy), (sx, sy) = data.read_dataset(str(tmp_path))
    assert (len(tx), len(vx), len(sx)) == (50000, 10000, 10)
    assert vy[0] == 50000 % 10


def test_pickle_format(small_pkl, digits):
    (tx, ty), (vx, vy), (sx, sy) = data.read_dataset(str(small_pkl))
    assert (tx.shape, vx.shape, sx.shape) == ((6000, 784), (2000, 784),
                                              (2000, 784))
    numpy.testing.assert_array_equal(sy, digits[1][8000:])


class Py2Pickler(pickle._Pickler):
    """Pickles bytes as Python 2's cPickle pickled ``str``: BINSTRING."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)
    dispatch[bytes] = save_bytes


def test_python2_pickle_loads(tmp_path):
    # mnist.pkl.gz was written by Python 2: its arrays' bytes are py2 str,
    # which Python 3 only unpickles with encoding='latin1'.
    x = numpy.arange(6, dtype=numpy.float32).reshape(2, 3) / 10 + 0.9
    y = numpy.array([3, 7], dtype=numpy.int64)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(((x, y), (x, y), (x, y)))
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(buf.getvalue())          # what a plain load does
    path = tmp_path / 'py2.pkl.gz'
    with gzip.open(path, 'wb') as f:
        f.write(buf.getvalue())
    (tx, ty), _, _ = data.read_dataset(str(path))
    numpy.testing.assert_array_equal(tx, x)
    numpy.testing.assert_array_equal(ty, y)


def test_shared_dataset_is_floatX_with_int32_labels(digits):
    x = numpy.random.rand(4, 3)
    y = numpy.array([0, 9, 3, 1])
    shared_x, shared_y = data.shared_dataset((x, y))
    assert shared_x.dtype == theano.config.floatX
    assert shared_y.dtype == 'int32'
    numpy.testing.assert_array_equal(shared_y.eval(), y)


def test_load_data_returns_three_shared_pairs(small_pkl, capsys):
    sets = data.load_data(str(small_pkl))
    assert capsys.readouterr().out == '... loading data\n'
    assert [s[0].get_value(borrow=True).shape[0] for s in sets] == \
        [6000, 2000, 2000]


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match='no such file'):
        data.load_data(str(tmp_path / 'nope.pkl.gz'))


def test_bare_name_is_found_in_the_data_folder(small_pkl, tmp_path,
                                               monkeypatch):
    folder = tmp_path / 'mydata'
    folder.mkdir()
    (folder / 'mine.pkl.gz').write_bytes(small_pkl.read_bytes())
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(folder))
    monkeypatch.chdir(tmp_path)
    assert data.resolve_dataset('mine.pkl.gz') == str(folder / 'mine.pkl.gz')


#: The MNIST files as their authors published them: bytes and MD5 of each
#: file's decompressed content (the .gz wrapping may differ).
PUBLISHED_MNIST = {
    'train-images-idx3-ubyte': (47040016, '6bbc9ace898e44ae57da46a324031adb'),
    'train-labels-idx1-ubyte': (60008, 'a25bea736e30d166cdddb491f175f624'),
    't10k-images-idx3-ubyte': (7840016, '2646ac647ad5339dbf082846283269ea'),
    't10k-labels-idx1-ubyte': (10008, '27ae3e4e09519cfbb04c329615203637'),
}


def test_the_checkouts_mnist_files_are_the_published_ones():
    from conftest import ROOT
    for stem, (size, md5) in PUBLISHED_MNIST.items():
        with gzip.open(ROOT / 'data' / (stem + '.gz'), 'rb') as f:
            content = f.read()
        assert (len(content), hashlib.md5(content).hexdigest()) == \
            (size, md5), stem
    # and the reader and the downloader share one table of the same figures
    assert {f.stem: (f.size, f.md5) for f in download.IDX_FILES} == \
        PUBLISHED_MNIST


@pytest.fixture
def installed_copy(monkeypatch, tmp_path):
    """The package as a non-editable install sees itself: no checkout's
    data/ folder beside it, and no LOGREG_MNIST_DATA."""
    monkeypatch.setattr(data, 'CHECKOUT_DATA', str(tmp_path / 'site' / 'data'))
    monkeypatch.delenv('LOGREG_MNIST_DATA')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.delenv('XDG_CACHE_HOME', raising=False)
    return tmp_path


def test_the_data_folder_is_the_variable_then_the_checkout(monkeypatch,
                                                           tmp_path):
    from conftest import ROOT
    assert data.default_data_dir() == os.environ['LOGREG_MNIST_DATA']
    monkeypatch.delenv('LOGREG_MNIST_DATA')
    assert os.path.samefile(data.default_data_dir(), ROOT / 'data')
    monkeypatch.setenv('LOGREG_MNIST_DATA', '')   # set but empty: unset
    assert os.path.samefile(data.default_data_dir(), ROOT / 'data')


def test_an_installed_copy_keeps_one_data_folder_per_user(installed_copy,
                                                          monkeypatch):
    home = installed_copy / 'home'
    assert data.default_data_dir() == str(home / '.cache' / 'logreg-mnist')
    monkeypatch.setenv('XDG_CACHE_HOME', str(installed_copy / 'xdg'))
    assert data.default_data_dir() == str(installed_copy / 'xdg' /
                                          'logreg-mnist')
    monkeypatch.setenv('XDG_CACHE_HOME', 'relative/cache')  # ignored (XDG)
    assert data.default_data_dir() == str(home / '.cache' / 'logreg-mnist')
    # whatever the working folder: no ./data appears anywhere
    monkeypatch.chdir(installed_copy)
    assert data.default_data_dir() == str(home / '.cache' / 'logreg-mnist')


def test_an_installed_copy_downloads_into_its_cache_once(
        installed_copy, monkeypatch, no_builtin_mirrors):
    files = real_idx_files()
    mirror = Mirror(files)
    monkeypatch.setenv('LOGREG_MNIST_MIRRORS', mirror.url)
    monkeypatch.chdir(installed_copy)
    cache = installed_copy / 'home' / '.cache' / 'logreg-mnist'
    try:
        assert data.resolve_dataset('mnist.pkl.gz') == str(cache)
    finally:
        mirror.close()
    assert sorted(os.listdir(cache)) == sorted(files)
    assert not os.path.exists(installed_copy / 'data')
    # the next run finds the files there, with no mirror at all
    monkeypatch.delenv('LOGREG_MNIST_MIRRORS')
    assert data.resolve_dataset('mnist.pkl.gz') == str(cache)


def PKL_CHECK():
    return download.Expected(download.MNIST_PKL, download.MNIST_PKL_SIZE,
                             download.MNIST_PKL_MD5)


@pytest.fixture
def no_builtin_mirrors(monkeypatch):
    """Nothing but loopback mirrors: the built-in ones point at a closed
    port of this machine."""
    monkeypatch.setattr(download, 'MNIST_PKL_URLS',
                        ['http://127.0.0.1:9/mnist.pkl.gz'])
    monkeypatch.setattr(download, 'IDX_MIRRORS', ['http://127.0.0.1:9/'])
    monkeypatch.delenv('LOGREG_MNIST_MIRRORS', raising=False)


def test_download_rejects_an_html_page_and_keeps_nothing(tmp_path, capsys):
    server = Mirror({'mnist.pkl.gz': b'<html><body>Moved</body></html>'})
    try:
        with pytest.raises(ValueError, match='got 31 bytes'):
            download.fetch(server.url + 'mnist.pkl.gz',
                           str(tmp_path / 'mnist.pkl.gz'), PKL_CHECK())
    finally:
        server.close()
    assert os.listdir(tmp_path) == []


def test_user_mirrors_come_first_and_a_verified_pickle_is_kept(
        tmp_path, monkeypatch, no_builtin_mirrors):
    body = os.urandom(5000)
    monkeypatch.setattr(download, 'MNIST_PKL_SIZE', len(body))
    monkeypatch.setattr(download, 'MNIST_PKL_MD5',
                        hashlib.md5(body).hexdigest())
    bad = Mirror({'mnist.pkl.gz': body[:-1] + b'x'})  # right size, wrong md5
    good = Mirror({'mnist.pkl.gz': body})
    monkeypatch.setenv('LOGREG_MNIST_MIRRORS', '%s, %s' % (bad.url, good.url))
    try:
        path = download.fetch_mnist(str(tmp_path))
    finally:
        bad.close()
        good.close()
    assert path == str(tmp_path / 'mnist.pkl.gz')
    assert (tmp_path / 'mnist.pkl.gz').read_bytes() == body
    assert os.listdir(tmp_path) == ['mnist.pkl.gz']


def test_offline_says_what_to_put_where(tmp_path, monkeypatch,
                                        no_builtin_mirrors):
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(tmp_path / 'd'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        data.load_data('mnist.pkl.gz')
    message = str(e.value)
    assert '\n' not in message
    assert 'MNIST is not in %s' % (tmp_path / 'd') in message
    for f in download.IDX_FILES:
        assert f.stem + '.gz' in message and f.md5 in message
    assert download.MNIST_PKL_MD5 in message
    assert os.listdir(tmp_path / 'd') == []


def real_idx_files():
    from conftest import MNIST_DIR
    return {f.stem + '.gz': (MNIST_DIR / (f.stem + '.gz')).read_bytes()
            for f in download.IDX_FILES}


def test_idx_mirrors_truncated_then_html_then_good(tmp_path, monkeypatch,
                                                   no_builtin_mirrors):
    files = real_idx_files()
    mirrors = [Mirror({k: v[:len(v) // 2] for k, v in files.items()}),
               Mirror({k: b'<!DOCTYPE html><p>Not here</p>' for k in files}),
               Mirror(files)]
    monkeypatch.setenv('LOGREG_MNIST_MIRRORS',
                       ' '.join(m.url for m in mirrors))
    folder = tmp_path / 'data'
    try:
        assert download.fetch_mnist(str(folder)) == str(folder)
    finally:
        for m in mirrors:
            m.close()
    assert sorted(os.listdir(folder)) == sorted(files)   # nothing broken
    for name, body in files.items():
        assert (folder / name).read_bytes() == body
    # the next run finds them: no network needed
    monkeypatch.delenv('LOGREG_MNIST_MIRRORS')
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(folder))
    monkeypatch.chdir(tmp_path)
    assert data.resolve_dataset('mnist.pkl.gz') == str(folder)


def test_a_trickling_mirror_is_dropped_at_its_deadline(tmp_path):
    server = Mirror({'mnist.pkl.gz': b'x' * 100}, trickle=0.05)
    try:
        with pytest.raises(ValueError, match='not complete after 0 s'):
            download.fetch(server.url + 'mnist.pkl.gz',
                           str(tmp_path / 'mnist.pkl.gz'),
                           PKL_CHECK(), deadline=0.5)
    finally:
        server.close()
    assert os.listdir(tmp_path) == []


def test_a_folder_is_a_mirror_through_a_file_url(tmp_path, monkeypatch,
                                                 no_builtin_mirrors):
    mirror = tmp_path / 'share'
    mirror.mkdir()
    files = real_idx_files()
    for name, body in files.items():
        (mirror / name).write_bytes(body)
    monkeypatch.setenv('LOGREG_MNIST_MIRRORS', mirror.as_uri())  # no '/'
    folder = tmp_path / 'data'
    assert download.fetch_mnist(str(folder)) == str(folder)
    assert sorted(os.listdir(folder)) == sorted(files)
    for name, body in files.items():
        assert (folder / name).read_bytes() == body
    sets = data.read_dataset(str(folder))
    assert [len(x) for x, _ in sets] == [50000, 10000, 10000]


def test_a_download_stops_once_it_passes_the_expected_size(tmp_path):
    endless = tmp_path / 'mirror'
    endless.mkdir()
    (endless / 'mnist.pkl.gz').symlink_to('/dev/zero')   # never ends
    dest = tmp_path / 'data' / 'mnist.pkl.gz'
    dest.parent.mkdir()
    with pytest.raises(ValueError) as e:
        download.fetch((endless / 'mnist.pkl.gz').as_uri(), str(dest),
                       PKL_CHECK(), deadline=300)
    assert str(e.value) == 'more than the %d bytes expected' % (
        download.MNIST_PKL_SIZE)
    assert os.listdir(dest.parent) == []


@pytest.mark.parametrize('mirror, says', [
    ('http://[::1', 'http://[::1 is not a valid URL (Invalid IPv6 URL)'),
    ('http://host:port/', 'http://host:port/ is not a valid URL (Port '),
    ('/srv/mnist', '/srv/mnist is not a URL'),
    ('gopher://host/', 'gopher://host/ is not a URL'),
])
def test_a_malformed_mirror_is_one_line(tmp_path, monkeypatch, mirror, says):
    monkeypatch.setenv('LOGREG_MNIST_MIRRORS', 'https://fine/ ' + mirror)
    with pytest.raises(DataError) as e:
        download.fetch_mnist(str(tmp_path / 'data'))
    assert str(e.value).startswith('LOGREG_MNIST_MIRRORS: ' + says)
    assert str(e.value).endswith('such as https://host/mnist/ or '
                                 'file:///srv/mnist/')
    assert not (tmp_path / 'data').exists()


############################################################
# Bad data: one DataError that names the file and the fault
############################################################

def _gz(payload):
    return gzip.compress(payload)


def _pkl_gz(obj):
    return _gz(pickle.dumps(obj, protocol=2))


def _idx_bytes(array, magic=b'\x00\x00\x08'):
    array = numpy.ascontiguousarray(array, dtype=numpy.uint8)
    return (magic + bytes([array.ndim]) +
            b''.join(struct.pack('>I', n) for n in array.shape) +
            array.tobytes())


def _pairs(x, y, n=3):
    return tuple((x, y) for _ in range(n))


def _huge_array_pickle():
    """A small pickle that declares a 400,000 x 784 float array."""
    small = pickle.dumps(_pairs(numpy.zeros((1, 784)), numpy.zeros(1, int)),
                         protocol=2)
    shape = b'(K\x01K\x01M\x10\x03'   # (version 1, (1, 784)
    assert shape in small
    return _gz(small.replace(shape, b'(K\x01J' + struct.pack('<i', 400000) +
                             b'M\x10\x03', 1))


def _memo_bomb():
    """A list holding one string a million times (by memo reference)."""
    return (b'\x80\x02]q\x00(X\x01\x00\x00\x00aq\x01' +
            b'h\x01' * 1000000 + b'e.')


def bad_pickles(valid):
    """(name, bytes, what the message must say) for broken pickle files."""
    rng = numpy.random.RandomState(7)
    x = rng.rand(50, 784)
    y = rng.randint(0, 10, 50)
    cases = [('random%d' % i, rng.bytes(n), 'not a gzip file')
             for i, n in enumerate((1, 10, 1000, 100000))]
    cases += [('trunc%d' % n, valid[:n], 'damaged or truncated gzip')
              for n in (2, 10, 100, 1000, len(valid) // 2, len(valid) - 1)]
    raw = gzip.decompress(valid)
    cases += [('pickle_trunc%d' % n, _gz(raw[:n]), 'not a readable pickle')
              for n in (0, 1, 50, len(raw) // 3)]
    cases += [
        ('html', b'<!DOCTYPE html>\n<html><body>Not Found</body></html>',
         'HTML page'),
        ('empty', b'', 'not a gzip file'),
        ('gz_text', _gz(b'hello world'), 'not a readable pickle'),
        ('list', _pkl_gz([1, 2, 3]), 'does not hold'),
        ('two_sets', _pkl_gz(_pairs(x, y, 2)), 'does not hold'),
        ('images_3d', _pkl_gz(_pairs(x.reshape(50, 28, 28), y)),
         'N x pixels'),
        ('widths_differ', _pkl_gz(((x, y), (x[:, :700], y), (x, y))),
         'pixels per image'),
        ('labels_2d', _pkl_gz(_pairs(x, y.reshape(25, 2))), 'labels'),
        ('labels_short', _pkl_gz(_pairs(x, y[:40])), 'labels of shape'),
        ('labels_10', _pkl_gz(_pairs(x, y + 10)), 'labels must lie in 0..9'),
        ('labels_negative', _pkl_gz(_pairs(x, y - 5)), 'must lie in 0..9'),
        ('labels_float', _pkl_gz(_pairs(x, y + 0.5)), 'must be integers'),
        ('labels_text', _pkl_gz(_pairs(x, numpy.array(['a'] * 50))),
         'not of real numbers'),
        ('pixels_complex', _pkl_gz(_pairs(x * 1j, y)), 'not of real numbers'),
        ('huge_array', _huge_array_pickle(), 'whose data does not fit'),
        ('memo_bomb', _gz(_memo_bomb()), 'more than 100000 opcodes'),
        ('pixels_nan', _pkl_gz(_pairs(numpy.full((50, 784), numpy.nan), y)),
         'NaN'),
        ('code', _pkl_gz(os.system), 'not a readable pickle'),
    ]
    return cases


def test_every_bad_pickle_is_one_clear_data_error(small_pkl, tmp_path):
    cases = bad_pickles(small_pkl.read_bytes())
    assert len(cases) > 25
    for name, content, says in cases:
        path = tmp_path / (name + '.pkl.gz')
        path.write_bytes(content)
        with pytest.raises(DataError) as e:
            data.read_dataset(str(path))
        message = str(e.value)
        assert str(path) in message and says in message, (name, message)
        assert '\n' not in message


def bad_idx_dirs(images, labels):
    """(name, {file: bytes}, what the message must say) for IDX folders."""
    good = {'train-images-idx3-ubyte.gz': _gz(_idx_bytes(images[:700])),
            'train-labels-idx1-ubyte.gz': _gz(_idx_bytes(labels[:700])),
            't10k-images-idx3-ubyte.gz': _gz(_idx_bytes(images[700:])),
            't10k-labels-idx1-ubyte.gz': _gz(_idx_bytes(labels[700:]))}
    images_file = 'train-images-idx3-ubyte.gz'
    raw = _idx_bytes(images[:700])
    cases = [
        ('magic', {images_file: _gz(b'\x08\x08\x08' + raw[3:])},
         'wrong magic number'),
        ('float_magic', {images_file: _gz(b'\x00\x00\x0d' + raw[3:])},
         'wrong magic number'),
        ('short_header', {images_file: _gz(raw[:6])}, 'header says'),
        ('images_2d', {images_file: _gz(_idx_bytes(images[:700].reshape(
            700, 784)))}, 'must be 3-D'),
        ('labels_2d', {'train-labels-idx1-ubyte.gz': _gz(_idx_bytes(
            labels[:700].reshape(350, 2)))}, 'labels must be 1-D'),
        ('count_mismatch', {'train-labels-idx1-ubyte.gz': _gz(_idx_bytes(
            labels[:600]))}, 'labels of shape'),
        ('label_11', {'t10k-labels-idx1-ubyte.gz': _gz(_idx_bytes(
            numpy.full(300, 11)))}, 'must lie in 0..9'),
        ('test_size', {'t10k-images-idx3-ubyte.gz': _gz(_idx_bytes(
            images[700:, :20, :20]))}, 'pixels per image'),
        ('missing', {'t10k-labels-idx1-ubyte.gz': None}, 'missing t10k-labels'),
        ('html', {images_file: b'<html><body>503</body></html>'},
         'HTML page'),
    ]
    cases += [('trunc_gz%d' % n, {images_file: _gz(raw)[:n]},
               'damaged or truncated gzip') for n in (2, 50, 5000)]
    cases += [('trunc_data%d' % n, {images_file: _gz(raw[:n])},
               'header says') for n in (16, 1000, len(raw) - 1)]
    return [(name, dict(good, **change), says)
            for name, change, says in cases]


def test_every_bad_idx_folder_is_one_clear_data_error(digits, tmp_path):
    images, labels = digits[0][:1000], digits[1][:1000]
    for name, files, says in bad_idx_dirs(images, labels):
        folder = tmp_path / name
        folder.mkdir()
        for filename, content in files.items():
            if content is not None:
                (folder / filename).write_bytes(content)
        with pytest.raises(DataError) as e:
            data.read_dataset(str(folder))
        message = str(e.value)
        assert str(folder) in message and says in message, (name, message)


def test_bad_file_kinds_and_sizes_are_refused(tmp_path, monkeypatch):
    cases = [('/dev/zero', 'is not a regular file'),
             (str(tmp_path), 'missing train-images-idx3-ubyte')]
    bomb = tmp_path / 'bomb.pkl.gz'
    bomb.write_bytes(gzip.compress(b'\0' * (3 << 20)))
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '2')
    cases.append((str(bomb), 'holds more than 2 MB (the limit for an input '
                             'file; set LOGREG_MNIST_MAX_MB to raise it)'))
    for path, says in cases:
        with pytest.raises(DataError) as e:
            data.read_dataset(path)
        assert path in str(e.value) and says in str(e.value)
    for value in ('lots', '0', '-1', 'nan', 'inf', '1e99'):
        monkeypatch.setenv('LOGREG_MNIST_MAX_MB', value)
        with pytest.raises(DataError) as e:
            data.read_dataset(str(bomb))
        assert str(e.value) == (
            'LOGREG_MNIST_MAX_MB=%s: expected a positive number of '
            'megabytes, at most %d' % (value, (sys.maxsize >> 20) - 1))
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', str((sys.maxsize >> 20) - 1))
    with pytest.raises(DataError, match='bomb.pkl.gz is not a readable '
                                        'pickle'):   # read whole, then
        data.read_dataset(str(bomb))


MEMORY_PROBE = """
import sys
from logreg_mnist import data
def peak():   # this process's high-water mark (ru_maxrss counts its parent)
    with open('/proc/self/status') as f:
        line = next(line for line in f if line.startswith('VmHWM:'))
    return int(line.split()[1]) * 1024
before = peak()
if sys.argv[1].endswith('.pkl.gz'):
    shape = data.read_pickle(sys.argv[1])[0][0].shape
else:
    shape = data.read_idx(sys.argv[1], 3).shape
print(shape, peak() - before)
"""


@pytest.mark.parametrize('kind', ['pkl', 'idx'])
def test_a_file_at_the_size_limit_is_in_memory_once(tmp_path, kind):
    limit = 64 << 20
    if kind == 'pkl':   # a dataset pickle of zeros, just within the limit
        rows = (limit - 4096) // (784 * 4 + 1)
        x = numpy.zeros((rows, 784), numpy.float32)
        raw = pickle.dumps(_pairs(x, numpy.zeros(rows, numpy.uint8)),
                           protocol=4)
        shape = x.shape
        del x
    else:               # an IDX file of images as large as the limit
        shape = ((limit - 16) // 784, 28, 28)
        raw = struct.pack('>BBBBIII', 0, 0, 8, 3, *shape)
        raw += bytes(784 * shape[0])
    assert limit - 10000 < len(raw) <= limit, len(raw)
    path = tmp_path / ('big.pkl.gz' if kind == 'pkl' else 'big-idx3.gz')
    path.write_bytes(gzip.compress(raw, 1))
    del raw
    out = subprocess.run([sys.executable, '-c', MEMORY_PROBE, str(path)],
                         env=dict(os.environ, LOGREG_MNIST_MAX_MB='64'),
                         capture_output=True, text=True, check=True)
    printed_shape, grown = out.stdout.rsplit(' ', 1)
    assert printed_shape == str(shape)
    # held once (not twice), give or take the reading buffers
    assert limit < int(grown) < limit * 1.3


def test_a_protocol_2_pickle_with_empty_splits_loads(tmp_path):
    empty = (numpy.zeros((0, 784), numpy.float32), numpy.zeros(0, int))
    full = (numpy.ones((3, 784), numpy.float32), numpy.array([1, 2, 3]))
    path = tmp_path / 'empty.pkl.gz'
    path.write_bytes(_pkl_gz((full, empty, empty)))
    (tx, ty), (vx, vy), _ = data.read_dataset(str(path))
    assert vx.shape == (0, 784) and vy.shape == (0,)
    numpy.testing.assert_array_equal(tx, full[0])


def test_pickles_are_read_without_running_code(tmp_path):
    marker = tmp_path / 'ran'

    class Gadget:
        def __reduce__(self):
            return (os.system, ('touch %s' % marker,))
    for payload in ((Gadget(),), _pairs(numpy.zeros((2, 2)), Gadget())):
        path = tmp_path / 'gadget.pkl.gz'
        path.write_bytes(_pkl_gz(payload))
        with pytest.raises(DataError, match='refers to posix.system'):
            data.read_dataset(str(path))
    assert not marker.exists()


@pytest.mark.parametrize('header, says', [
    (b'\x00\x00\x08\xff' + b'\xff' * 64, 'an IDX file of 255 dimension'),
    (b'\x00\x00\x08\x03' + b'\xff\xff\xff\xff' * 3, 'header says '
                                                   '(4294967295, 4294967295'),
    (b'\x00\x00\x08\x03' + struct.pack('>III', 0, 28, 28), 'holds no images'),
])
def test_idx_headers_that_lie_are_refused(tmp_path, digits, header, says):
    files = bad_idx_dirs(digits[0][:1000], digits[1][:1000])[0][1]
    files['train-images-idx3-ubyte.gz'] = _gz(header)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as e:
        data.read_dataset(str(tmp_path))
    assert says in str(e.value)



@pytest.mark.parametrize('source', ['idx', 'pkl'])
def test_large_pixel_arrays_in_memory_of_their_own_are_the_same(
        small_idx_dir, small_pkl, monkeypatch, source):
    path = str(small_idx_dir if source == 'idx' else small_pkl)
    heap = data.read_dataset(path, dtype='float64')
    monkeypatch.setattr(data, 'LARGE', 0)   # every array gets its own
    own = data.read_dataset(path, dtype='float64')
    for (x, y), (hx, hy) in zip(own, heap):
        assert x.dtype == hx.dtype and x.tobytes() == hx.tobytes()
        assert x.flags.writeable and x.flags.aligned
        assert (y == hy).all()
