"""Nothing lost: files written atomically, interruptions taken at safe points.

* ``atomic_write``: a crash, Ctrl-C or even SIGKILL never leaves a broken
  file, only the old one or the complete new one.
* ``deferred_interrupts``: Ctrl-C / SIGTERM wait until a block is done.
* ``stop_requests``: Ctrl-C / SIGTERM ask a loop to stop at its next safe
  point; a second one interrupts at once.
"""
import contextlib
import os
import signal
import tempfile
import threading


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file whose content replaces ``path`` all at once.

    The data goes to a temporary file in the same folder, is flushed and
    fsync'd, and only then renamed over ``path``.  Whenever the process dies
    (an exception, Ctrl-C, even SIGKILL), ``path`` holds either its previous
    content or the complete new one.  If the ``with`` body raises, the
    temporary file is removed and ``path`` is left untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # make the rename itself durable
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _handling(handler):
    """Route SIGINT and SIGTERM to ``handler`` inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield   # only the main thread may handle signals
        return
    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred_interrupts():
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block has finished.

    Saving a model writes two files; an interruption between them would
    leave the newest best model in one format only.  A signal that arrives
    inside the block is delivered again, to the previous handler, after it.
    """
    received = []
    with _handling(lambda sig, frame: received.append(sig)):
        yield
    for sig in received[:1]:
        signal.raise_signal(sig)


class StopRequest(object):
    """True once Ctrl-C or SIGTERM has asked the loop to stop."""

    def __init__(self):
        self.signal = None

    def __bool__(self):
        return self.signal is not None

    def _handle(self, sig, frame):
        if self:  # asked twice: stop now
            raise KeyboardInterrupt
        self.signal = sig


@contextlib.contextmanager
def stop_requests():
    """Yield a ``StopRequest`` that turns true on Ctrl-C or SIGTERM.

    The loop checks it at points where its state is whole (a minibatch
    finished, the best model saved) and stops there cleanly.
    """
    request = StopRequest()
    with _handling(request._handle):
        yield request
