"""Nothing lost: atomic writes, SIGKILL at any moment, Ctrl-C and SIGTERM."""
import os
import pickle
import queue
import re
import signal
import stat
import subprocess
import sys
import threading
import time

import numpy
import pytest

from helpers import run_module, run_ok, trace_lines
from logreg_mnist.files.writing import atomic_write
from logreg_mnist.files.history import read_history
from logreg_mnist.model import LogisticRegression
from logreg_mnist.files.modelfile import load_model


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'old')
    with atomic_write(str(path)) as f:
        f.write(b'new content')
        assert path.read_bytes() == b'old'   # not visible until complete
    assert path.read_bytes() == b'new content'
    assert os.listdir(tmp_path) == ['f.bin']
    mode = stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_atomic_write_failure_leaves_the_old_file(tmp_path):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path)) as f:
            f.write(b'half')
            raise RuntimeError('disk full, say')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['f.bin']


def start_training(dataset, model, cwd, *extra):
    """Train on real digits in small steps: a new best (and a save) comes
    every few dozen milliseconds for a long while."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen(
        [sys.executable, *extra, '-m', 'logreg_mnist.train', '--dataset',
         str(dataset), '--batch-size', '20', '--learning-rate', '0.01',
         '--model-out', str(model)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def wait_for_line(proc, prefix, timeout=120):
    """Read stdout until a line starts with prefix; return the lines read.
    Gives up after ``timeout`` seconds even if the process prints nothing."""
    lines = queue.Queue()

    def reader():
        for line in proc.stdout:
            lines.put(line)
            if line.startswith(prefix):
                break
        lines.put(None)
    threading.Thread(target=reader, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError('no line starting with %r in %r'
                                 % (prefix, seen))
        seen.append(line)
        if line.startswith(prefix):
            return seen


#: Run training with os.fsync / os.replace wrapped so that the process
#: SIGKILLs itself at the chosen call: a kill at a known point of saving.
KILLER = """
import os, signal, sys
where, at = sys.argv[1], int(sys.argv[2])
calls = {'fsync': 0, 'replace': 0}
def wrap(name, real, before):
    def call(*args):
        calls[name] += 1
        if calls[name] == at and before:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args)
        if calls[name] == at and not before:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return call
kind = where.split('-')[0]
setattr(os, kind, wrap(kind, getattr(os, kind), where.endswith('before')))
from logreg_mnist.train import main
main(sys.argv[3:])
"""


@pytest.mark.parametrize('where, at', [
    ('fsync-before', 1), ('fsync-before', 3), ('fsync-before', 4),
    ('replace-before', 1),
    ('replace-after', 1), ('replace-before', 2), ('replace-after', 2),
    ('replace-after', 3), ('replace-before', 5), ('replace-after', 5)])
def test_sigkill_while_saving_leaves_whole_files(tmp_path, small_pkl,
                                                 where, at):
    """Saving a best model renames three finished files into place: the
    .pkl, the .npz, the history.  Killed anywhere in that, each file is
    either absent (or the previous one) or complete, and never renamed
    before all three are."""
    model = tmp_path / 'best_model.pkl'
    proc = subprocess.run(
        [sys.executable, '-c', KILLER, where, str(at), '--dataset',
         str(small_pkl), '--batch-size', '600', '--model-out', str(model)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    outputs = [model, tmp_path / 'best_model.npz',
               tmp_path / 'best_model.history.csv']
    # the .pkl, .npz and history: fsync all three, rename all three, fsync
    # the folder
    renamed = {'fsync-before': 3 * (at > 3), 'replace-before': at - 1,
               'replace-after': at}[where]
    expected = {p for i, p in enumerate(outputs * 2) if i < renamed}
    assert {p for p in outputs if p.exists()} == expected
    for path in expected:
        if path.suffix == '.csv':
            rows = read_history(str(path))
            assert rows[-1]['test_error'] is not None
        else:
            if path.suffix == '.pkl':   # (our own file: a plain load)
                with open(path, 'rb') as f:
                    classifier = pickle.load(f)
            else:
                classifier = load_model(str(path))
            assert isinstance(classifier, LogisticRegression)
            assert numpy.isfinite(classifier.W.get_value()).all()


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_interrupt_prints_the_summary_and_keeps_the_best_model(
        tmp_path, small_idx_dir, sig):
    model = tmp_path / 'best_model.pkl'
    proc = start_training(small_idx_dir, model, tmp_path)
    seen = wait_for_line(proc, '     epoch 3,')
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    out = ''.join(seen) + out
    assert proc.returncode == 130
    lines = trace_lines(out)
    assert lines[-1].startswith(
        'Optimization complete with best validation score of ')
    assert 'The code run for ' in out
    assert err.strip().splitlines()[-1].startswith(
        'python -m logreg_mnist.train: error: training interrupted at epoch ')
    assert err.strip().endswith('the best model so far is in %s' % model)
    assert 'Traceback' not in err
    # the saved model is the one of the best validation error printed
    best = min(float(l.split()[-2]) for l in lines if 'validation error' in l)
    info = numpy.load(tmp_path / 'best_model.npz')
    assert float(info['validation_error']) * 100 == pytest.approx(best,
                                                                 abs=1e-6)
    assert isinstance(load_model(str(model)), LogisticRegression)


#########################################
# Outputs never clobber inputs or a twin
#########################################

def one_error_line(out, status=2):
    assert out.returncode == status, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in out.stderr, out.stderr
    return lines[0]


def test_a_second_run_on_the_same_output_is_refused_at_once(tmp_path,
                                                            small_idx_dir):
    model = tmp_path / 'best_model.pkl'
    first = start_training(small_idx_dir, model, tmp_path)
    try:
        wait_for_line(first, '... training the model')
        second = run_module('train', '--dataset', small_idx_dir,
                            '--model-out', model, cwd=tmp_path)
        line = one_error_line(second)
        assert line == (
            'python -m logreg_mnist.train: error: %s is being written by '
            'another run (process %d, holding %s/.best_model.lock); wait '
            'for it to end or choose another output file'
            % (model, first.pid, tmp_path))
        assert second.stdout == ''
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 130
    assert not (tmp_path / '.best_model.lock').exists()


def test_outputs_that_would_overwrite_an_input_are_refused(tmp_path,
                                                           small_pkl):
    for name, model_out in (('data.pkl.gz', 'data.pkl.gz'),
                            ('data.npz', 'data.pkl')):   # its .npz
        data = tmp_path / name
        data.write_bytes(small_pkl.read_bytes())
        line = one_error_line(run_module(
            'train', '--dataset', data, '--model-out', tmp_path / model_out,
            cwd=tmp_path))
        assert line.endswith('would overwrite %s, which this run reads; '
                             'choose another file' % data), line
        assert data.read_bytes() == small_pkl.read_bytes()
    data = tmp_path / 'data.pkl.gz'
    trained = run_module('train', '--dataset', data, '--n-epochs', 1,
                         cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    model = (tmp_path / 'best_model.npz').read_bytes()
    for out in ('best_model.npz', 'best_model.history.csv'):
        line = one_error_line(run_module('plot', 'weights', '--out', out,
                                         cwd=tmp_path))
        assert 'error: --out %s would overwrite' % out in line
    assert (tmp_path / 'best_model.npz').read_bytes() == model


def test_history_is_written_whole_and_never_through_a_symlink(tmp_path,
                                                              small_pkl):
    target = tmp_path / 'precious.txt'
    target.write_text('keep me')
    (tmp_path / 'best_model.history.csv').symlink_to(target)
    out = run_module('train', '--dataset', small_pkl, '--n-epochs', 3,
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert target.read_text() == 'keep me'
    history = tmp_path / 'best_model.history.csv'
    assert not history.is_symlink()
    assert len(read_history(str(history))) == 3

    # a run that saves nothing (it stops at once) keeps that history
    saved = history.read_bytes()
    out = run_module('train', '--dataset', small_pkl, '--batch-size', 20,
                     '--learning-rate', '1e308', cwd=tmp_path)
    assert out.returncode == 1
    assert history.read_bytes() == saved


def test_outputs_are_checked_before_the_data_is_read(tmp_path, small_pkl):
    (tmp_path / 'best_model.npz').mkdir()
    line = one_error_line(run_module('train', '--dataset', small_pkl,
                                     cwd=tmp_path))
    assert line.endswith('error: best_model.npz is a folder; it cannot be '
                         'written as a file')
    assert not (tmp_path / 'best_model.pkl').exists()
    # /proc exists, but nobody, root included, can create a file there
    out = run_module('train', '--dataset', small_pkl, '--model-out',
                     '/proc/best_model.pkl', cwd=tmp_path)
    line = one_error_line(out)
    assert 'error: cannot write in /proc' in line
    assert out.stdout == ''   # before '... loading data'


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_compiling_ends_the_run_at_once(tmp_path,
                                                       small_idx_dir, sig):
    """On a cold compile cache, a signal right after '... building the
    model' interrupts the compile (which takes many seconds): exit 130,
    no training, nothing written."""
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED='1', THEANO_FLAGS=','.join(
        [os.environ.get('THEANO_FLAGS', ''),
         'base_compiledir=%s' % (tmp_path / 'cold-cache')]))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'logreg_mnist.train', '--dataset',
         str(small_idx_dir)], cwd=run_dir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = wait_for_line(proc, '... building the model')
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err == 'python -m logreg_mnist.train: interrupted\n'
    assert '... training the model' not in ''.join(seen) + out
    assert os.listdir(run_dir) == []


class _SignalsInItsFinalizer(object):
    """An object whose finalizer receives SIGTERM: the KeyboardInterrupt
    raised there is dropped by Python ("Exception ignored"), as happens
    when a signal lands in one of the finalizers or C callbacks of
    Numba's compiler."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10000):   # the handler runs here, inside __del__
            pass


@pytest.mark.parametrize('then', ['keep compiling', 'start training'])
def test_an_interrupt_that_python_dropped_still_stops_the_run(capfd, then):
    from logreg_mnist.cli.signals import stop_requests
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with stop_requests() as stop:
            _SignalsInItsFinalizer()   # collected at once: the signal is lost
            assert stop.signal == signal.SIGTERM and not stop.deferred
            if then == 'start training':
                stop.defer()   # nothing to keep yet: it stops here
            for _ in range(12000):   # a long compile: the signal comes again
                time.sleep(0.01)
            pytest.fail('the signal was not sent again in two minutes')
    assert 'Exception ignored' not in capfd.readouterr().err
    # after the block, SIGTERM is the caller's again and nothing is resent
    assert signal.getsignal(signal.SIGTERM) == before
    assert not [t for t in threading.enumerate()
                if isinstance(t, threading.Timer) and t.is_alive()]


##############################################################
# Outputs that cannot be files, and a disk that fills up
##############################################################

LONG = 'm' * 246 + '.pkl'   # 250 bytes: its temporary file would pass 255


@pytest.mark.parametrize('model_out, says', [
    ('/dev/null', '/dev/null is not a regular file (a device, FIFO or '
                  'socket); choose a file'),
    ('fifo', 'fifo is not a regular file (a device, FIFO or socket); '
             'choose a file'),
    # as /dev/stdout is: stdout goes to a file, but saving would replace
    # the link itself
    ('stdout-link', 'stdout-link is a link to /proc/self/fd/1, a stream of '
                    'the process, not a file; choose a file'),
    ('', "'' names no file"),
    ('new/', "'new/' names no file"),
    (LONG, '%s: the name is too long: the temporary file saved beside it '
           'first takes 14 bytes more, and names in {dir} may have at most '
           '255' % LONG),
    # the model's name fits, the history's beside it does not
    ('h' * 236 + '.pkl', 'h' * 236 + '.history.csv: the name is too long'),
])
def test_outputs_that_cannot_be_files_are_refused_before_reading(
        tmp_path, small_pkl, model_out, says):
    os.mkfifo(tmp_path / 'fifo')
    os.symlink('/proc/self/fd/1', tmp_path / 'stdout-link')
    with open(tmp_path / 'stdout', 'w') as stdout:
        out = subprocess.run(
            [sys.executable, '-m', 'logreg_mnist.train', '--dataset',
             str(small_pkl), '--model-out', model_out], cwd=tmp_path,
            stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=600)
    line = one_error_line(out)
    assert says.format(dir=tmp_path) in line
    assert (tmp_path / 'stdout').read_text() == ''   # nothing read or run
    assert sorted(os.listdir(tmp_path)) == ['fifo', 'stdout', 'stdout-link']
    assert os.readlink(tmp_path / 'stdout-link') == '/proc/self/fd/1'
    assert stat.S_ISCHR(os.stat('/dev/null').st_mode)


def full_disk_for(monkeypatch, target):
    """Make every write to ``target`` through ``writing.atomic_writes``
    fail with ENOSPC, as on a full disk."""
    import errno
    import io
    from logreg_mnist.files import writing

    class FullDisk(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def opened(self, fd, path):
        io.BufferedWriter.__init__(
            self, (FullDisk if path == target else io.FileIO)(fd, 'wb'))
        self.target = path
    monkeypatch.setattr(writing._Output, '__init__', opened)


def test_a_failed_write_leaves_every_previous_file(tmp_path, monkeypatch):
    """A write that fails (here: ENOSPC raised at the write, as on a full
    disk) changes none of the files written together."""
    import errno
    from logreg_mnist.files import writing
    a, b = str(tmp_path / 'a.pkl'), str(tmp_path / 'a.npz')
    for path in (a, b):
        with open(path, 'wb') as f:
            f.write(b'old ' + path.encode())
    full_disk_for(monkeypatch, b)   # the .npz's file is on a full disk
    with pytest.raises(OSError) as e:
        with writing.atomic_writes([a, b]) as (fa, fb):
            fa.write(b'new a')
            fb.write(b'new b')
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, b)
    assert sorted(os.listdir(tmp_path)) == ['a.npz', 'a.pkl']
    for path in (a, b):
        assert open(path, 'rb').read() == b'old ' + path.encode()


def test_a_model_is_not_replaced_when_its_history_cannot_be(tmp_path,
                                                           monkeypatch):
    """The history is written with the model it describes: when it does
    not fit on the disk, the previous model stays too."""
    import errno
    from helpers import build
    from logreg_mnist.files.modelfile import save_model
    model, history = str(tmp_path / 'm.pkl'), str(tmp_path / 'm.history.csv')
    save_model(build()[1], model, beside=[(history, b'old history')],
               epoch=1)
    before = {name: (tmp_path / name).read_bytes()
              for name in os.listdir(tmp_path)}
    assert sorted(before) == ['m.history.csv', 'm.npz', 'm.pkl']
    full_disk_for(monkeypatch, history)
    with pytest.raises(OSError) as e:
        save_model(build(numpy.ones((13, 5)), numpy.ones(5))[1], model,
                   beside=[(history, b'new history')], epoch=2)
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, history)
    assert {name: (tmp_path / name).read_bytes()
            for name in os.listdir(tmp_path)} == before


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (where this user may mount one)."""
    folder = tmp_path / 'disk'
    folder.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m',
                              'tmpfs', str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here (the test above fakes a '
                    'full disk instead)')
    try:
        yield folder
    finally:
        subprocess.run(['umount', str(folder)], check=True)


def fill(folder, leave_kb):
    """Fill the file system of ``folder`` but ``leave_kb`` KB."""
    free = os.statvfs(folder)
    room = free.f_bavail * free.f_frsize - leave_kb * 1024
    with open(folder / 'filler', 'ab') as f:
        f.write(b'\0' * room)


def test_a_full_disk_during_a_save_leaves_no_partial_set(small_disk,
                                                         small_idx_dir):
    model = small_disk / 'best_model.pkl'
    train = ('train', '--dataset', small_idx_dir, '--n-epochs', 1,
             '--model-out', model)
    run_ok(*train)   # a first, complete set
    names = ['best_model.history.csv', 'best_model.npz', 'best_model.pkl']
    before = {n: (small_disk / n).read_bytes() for n in names}
    assert sorted(before) == sorted(os.listdir(small_disk))
    for previous in (True, False):
        if not previous:
            for name in names:
                os.unlink(small_disk / name)
        fill(small_disk, 100)   # room for the .pkl, not the .npz as well
        out = run_module(*train)
        line = one_error_line(out, status=1)
        assert re.fullmatch(r'python -m logreg_mnist.train: error: %s/'
                            r'best_model\.(pkl|npz): No space left on device'
                            % re.escape(str(small_disk)), line), line
        left = sorted(set(os.listdir(small_disk)) - {'filler'})
        assert left == (names if previous else [])
        if previous:
            assert {n: (small_disk / n).read_bytes() for n in names} == before
    fill(small_disk, 0)   # not even room for the lock's process id
    line = one_error_line(run_module(*train), status=1)
    assert line == ('python -m logreg_mnist.train: error: %s/.best_model.lock:'
                    ' No space left on device' % small_disk)
    assert sorted(set(os.listdir(small_disk)) - {'filler'}) == []
