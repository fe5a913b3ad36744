"""Progress on a terminal, nothing extra in a pipe."""
import io
import os
import pty
import subprocess
import sys

from logreg_mnist.cli.progress import StatusLine


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_status_line_on_a_terminal():
    term = Terminal()
    status = StatusLine(term, interval=0)
    status.update('epoch 1: minibatch 3/83')
    status.update('epoch 1: minibatch 4/83')
    status.clear()
    assert term.getvalue() == ('\r\033[Kepoch 1: minibatch 3/83'
                               '\r\033[Kepoch 1: minibatch 4/83\r\033[K')


def test_status_line_is_throttled():
    term = Terminal()
    status = StatusLine(term, interval=3600)
    for i in range(100):
        status.update('minibatch %d' % i)
    assert term.getvalue().count('minibatch') == 1


def test_the_first_update_shows_whatever_the_clock_says(monkeypatch):
    """time.monotonic() starts near 0 on a freshly booted machine: the
    first update must not wait for the clock to pass the interval."""
    import time
    for now in (0.0, 0.5, 1e9):
        monkeypatch.setattr(time, 'monotonic', lambda: now)
        term = Terminal()
        StatusLine(term, interval=3600).update('epoch 1')
        assert term.getvalue() == '\r\033[Kepoch 1'


def test_nothing_extra_when_not_a_terminal():
    pipe = io.StringIO()
    status = StatusLine(pipe, interval=0)
    status.update('epoch 1')
    status.clear()
    assert pipe.getvalue() == ''


def test_training_in_a_terminal_shows_progress_on_stderr(small_pkl,
                                                         tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'logreg_mnist.train', '--dataset',
         str(small_pkl), '--batch-size', '20', '--n-epochs', '3'],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=slave,
        env=dict(os.environ))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:   # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    out = proc.communicate()[0].decode()
    terminal = b''.join(chunks).decode()
    assert proc.returncode == 0
    assert 'epoch 1: minibatch ' in terminal      # alive...
    assert '\r' not in out and 'minibatch 1/300' not in out  # ...log clean
    assert out.count('validation error') == 3
