"""Nothing lost: files written atomically, interruptions taken at safe points.

* ``atomic_write``: a crash, Ctrl-C or even SIGKILL never leaves a broken
  file, only the old one or the complete new one.
* ``deferred_interrupts``: Ctrl-C / SIGTERM wait until a block is done.
* ``stop_requests``: Ctrl-C / SIGTERM ask a loop to stop at its next safe
  point; a second one interrupts at once, and so does one that comes
  before the loop has begun.
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
def atomic_write(path, keep=None):
    """Yield a binary file whose content replaces ``path`` all at once.

    The data goes to a temporary file in the same folder, is flushed and
    fsync'd, and only then renamed over ``path``.  Whenever the process dies
    (an exception, Ctrl-C, even SIGKILL), ``path`` holds either its previous
    content or the complete new one.  If the ``with`` body raises, or
    ``keep(temporary path)`` does (a check of the complete file), the
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
        if keep is not None:
            keep(tmp)
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
    """True once Ctrl-C or SIGTERM has asked the loop to stop.

    Until ``defer()`` is called -- while the data is read and the functions
    compiled, when there is nothing to save yet -- a signal interrupts at
    once (KeyboardInterrupt), so that a run being stopped does not first
    finish a long compile.
    """

    def __init__(self):
        self.signal = None
        self.deferred = False

    def __bool__(self):
        return self.signal is not None

    def defer(self):
        """From now on, a first signal only asks the loop to stop."""
        self.deferred = True

    def _handle(self, sig, frame):
        if self or not self.deferred:  # asked twice, or nothing to keep
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


##########################################
# Outputs that never clobber what matters
##########################################

def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:   # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwrite(outputs, inputs):
    """UsageError when an output path is one of the inputs.

    Both are lists of ``(argument, path)``: the argument that names the
    path, in backquotes (see ``errors``).
    """
    from .errors import UsageError
    for out_argument, out in outputs:
        for in_argument, path in inputs:
            if _same_file(out, path):
                raise UsageError('%s %s would overwrite %s (%s); choose '
                                 'another file' % (out_argument, out, path,
                                                   in_argument))


def check_writable(paths):
    """UsageError unless each path can be written: not a folder, in a
    folder where a file can really be created (tried, not guessed: the
    permission bits say nothing for root or a read-only file system)."""
    from .errors import UsageError
    for path in paths:
        if os.path.isdir(path):
            raise UsageError('%s is a folder; it cannot be written as a file'
                             % path)
    for folder in sorted({os.path.dirname(os.path.abspath(p))
                          for p in paths}):
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix='.write-test-')
        except OSError as e:
            raise UsageError('cannot write in %s (%s)'
                             % (folder, e.strerror or e)) from None
        os.close(fd)
        os.unlink(probe)


@contextlib.contextmanager
def exclusive(path):
    """Hold an advisory lock that no other run may hold on ``path`` at the
    same time; a second run is refused at once with a UsageError.

    The lock is ``path + '.lock'``, which holds the owner's process id and
    is removed when the block ends.
    """
    import fcntl
    from .errors import UsageError
    lock_path = path + '.lock'
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 32).decode('ascii', 'replace').strip()
            os.close(fd)
            raise UsageError('%s is being written by another run (process '
                             '%s, holding %s); wait for it to end or choose '
                             'another output file' % (path, owner or '?',
                                                      lock_path)) from None
        # the file we locked may have been removed by its last owner in
        # the meantime: then lock the new one instead
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, b'%d\n' % os.getpid())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)
