"""Nothing lost: atomic writes, SIGKILL at any moment, Ctrl-C and SIGTERM."""
import os
import signal
import stat
import subprocess
import sys
import time

import numpy
import pytest

from helpers import trace_lines
from logreg_mnist.safety import atomic_write
from logreg_mnist.model import LogisticRegression, load_model


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


def start_training(dataset, model, cwd):
    """Train on real digits in small steps: a new best (and a save) comes
    every few dozen milliseconds for a long while."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen(
        [sys.executable, '-m', 'logreg_mnist.train', '--dataset', str(dataset),
         '--batch-size', '20', '--learning-rate', '0.01',
         '--model-out', str(model)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def wait_for_line(proc, prefix, timeout=120):
    """Read stdout until a line starts with prefix; return lines read."""
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError('no line starting with %r in %r' % (prefix, lines))


def test_sigkill_at_any_moment_leaves_a_loadable_model(tmp_path,
                                                       small_idx_dir):
    """Kill training at several moments while it saves many new bests."""
    outcomes = []
    for delay in (0.0, 0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0):
        folder = tmp_path / ('kill%s' % delay)
        folder.mkdir()
        model = folder / 'best_model.pkl'
        proc = start_training(small_idx_dir, model, folder)
        # the first test line comes right before the first save
        wait_for_line(proc, '     epoch 1,')
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        present = [p for p in (model, folder / 'best_model.npz')
                   if p.exists()]
        for path in present:
            classifier = load_model(str(path))
            assert isinstance(classifier, LogisticRegression)
            assert numpy.isfinite(classifier.W.get_value()).all()
        outcomes.append(len(present))
    # most kills landed after a first save, so there was something to check
    assert sum(n == 2 for n in outcomes) >= 6, outcomes


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
