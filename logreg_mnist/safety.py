"""Nothing lost: files written atomically, interruptions taken at safe points.

* ``atomic_write``: a crash, Ctrl-C or even SIGKILL never leaves a broken
  file, only the old one or the complete new one.
* ``deferred_interrupts``: Ctrl-C / SIGTERM wait until a block is done.
* ``stop_requests``: Ctrl-C / SIGTERM ask a loop to stop at its next safe
  point; a second one interrupts at once, and so does one that comes
  before the loop has begun.
"""
import contextlib
import io
import os
import signal
import stat
import sys
import tempfile
import threading


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: How a temporary file beside ``name`` is named: ``.NAME.`` then random
#: characters (``tempfile`` adds 8), then ``.tmp``.
_TMP_PREFIX, _TMP_RANDOM, _TMP_SUFFIX = '.%s.', 8, '.tmp'


class _Output(io.BufferedWriter):
    """A file being written whose write errors name ``target`` (a full disk
    raises an OSError that names no file)."""

    def __init__(self, fd, target):
        super().__init__(io.FileIO(fd, 'wb'))
        self.target = target

    def write(self, data):
        with _naming(self.target):
            return super().write(data)

    def flush(self):
        with _naming(self.target):
            return super().flush()


@contextlib.contextmanager
def _naming(path):
    try:
        yield
    except OSError as e:
        e.filename = e.filename or path
        raise


@contextlib.contextmanager
def atomic_writes(paths, keep=None):
    """Yield binary files whose contents replace ``paths`` all at once.

    The data goes to temporary files in the same folders, is flushed and
    fsync'd, and only then -- every file complete -- renamed over
    ``paths``.  Whenever the process dies (an exception, a full disk,
    Ctrl-C, even SIGKILL) before that, every path holds its previous
    content (or is still absent): never some files of the new set beside
    some of the old.  If the ``with`` body raises, or ``keep(temporary
    path)`` does (a check of a complete file), the temporary files are
    removed and ``paths`` left untouched.
    """
    files, temporaries = [], []
    try:
        for path in paths:
            folder, name = os.path.split(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP_PREFIX % name,
                                       suffix=_TMP_SUFFIX)
            temporaries.append(tmp)
            files.append(_Output(fd, path))
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private
        yield files
        for f in files:
            f.flush()
            with _naming(f.target):
                os.fsync(f.fileno())
            f.close()
        for tmp in temporaries:
            if keep is not None:
                keep(tmp)
        for tmp, path in zip(temporaries, paths):
            os.replace(tmp, path)
    except BaseException:
        for f in files:
            with contextlib.suppress(OSError):
                f.close()   # (its buffer may not fit on the disk either)
        for tmp in temporaries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    # make the renames themselves durable
    for folder in {os.path.dirname(os.path.abspath(p)) for p in paths}:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_write(path, keep=None):
    """``atomic_writes`` of one file: yield a binary file whose content
    replaces ``path`` all at once."""
    with atomic_writes([path], keep) as (f,):
        yield f


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
    finish a long compile.  Python drops a KeyboardInterrupt raised while
    it runs a finalizer or a callback from C (Numba's compiler runs many),
    so such a signal is sent again every second until the block ends, and
    ``defer()`` raises it if it is still pending.
    """

    def __init__(self):
        self.signal = None
        self.deferred = False
        self.active = True   # inside ``stop_requests``
        self._again = None   # the timer that sends the signal again

    def __bool__(self):
        return self.signal is not None

    def defer(self):
        """From now on, a first signal only asks the loop to stop."""
        if self:   # asked to stop while compiling: stop now
            raise KeyboardInterrupt
        self.deferred = True

    def _handle(self, sig, frame):
        asked_before, self.signal = self.signal, sig
        if self.deferred and asked_before is None:
            return   # the loop stops at its next safe point
        if not self.deferred and self._again is None:
            self._again = threading.Timer(1.0, self._send_again)
            self._again.daemon = True
            self._again.start()
        raise KeyboardInterrupt

    def _send_again(self):
        self._again = None
        if self.active:   # the interrupt was lost: the block still runs
            os.kill(os.getpid(), self.signal)

    def close(self):
        self.active = False
        again = self._again
        if again is not None:
            again.cancel()
            again.join()


@contextlib.contextmanager
def stop_requests():
    """Yield a ``StopRequest`` that turns true on Ctrl-C or SIGTERM.

    The loop checks it at points where its state is whole (a minibatch
    finished, the best model saved) and stops there cleanly.
    """
    request = StopRequest()
    hook = sys.unraisablehook

    def report(unraisable):   # all but the interrupts Python dropped
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            hook(unraisable)
    sys.unraisablehook = report
    try:
        with _handling(request._handle):
            yield request
    finally:
        request.close()
        sys.unraisablehook = hook


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


def _link_to_a_stream(path):
    """The link in ``/proc`` that ``path`` leads to (``/dev/stdout`` ->
    ``/proc/self/fd/1``), or None.  Its final target may be a regular file
    (stdout sent to one), but saving would replace the link itself."""
    for _ in range(40):   # as many links as the system follows
        if not os.path.islink(path):
            return None
        path = os.path.join(os.path.dirname(os.path.abspath(path)),
                            os.readlink(path))
        if os.path.abspath(path).startswith('/proc/'):
            return path
    return None


def output_problem(path):
    """Why ``path`` cannot be an output file, or None: it names no file, it
    is a folder or a special file (a device, FIFO or socket, which saving
    would replace, even ``/dev/null``), or its name is too long for its
    file system once the temporary file written beside it is named after
    it."""
    folder, name = os.path.split(os.path.abspath(path))
    if not path or not os.path.basename(path):
        return '%r names no file' % path
    if os.path.isdir(path):
        return '%s is a folder; it cannot be written as a file' % path
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None   # not there yet (or a dangling link, replaced)
    if mode is not None and not stat.S_ISREG(mode):
        return ('%s is not a regular file (a device, FIFO or socket); '
                'choose a file' % path)
    stream = _link_to_a_stream(path)
    if stream:
        return ('%s is a link to %s, a stream of the process, not a file; '
                'choose a file' % (path, stream))
    longest = _TMP_PREFIX % name + 'x' * _TMP_RANDOM + _TMP_SUFFIX
    try:
        most = os.pathconf(folder, 'PC_NAME_MAX')
    except (OSError, ValueError):
        most = 255
    if len(os.fsencode(longest)) > most:
        return ('%s: the name is too long: the temporary file saved beside '
                'it first takes %d bytes more, and names in %s may have at '
                'most %d' % (path, len(os.fsencode(longest)) -
                             len(os.fsencode(name)), folder, most))
    return None


def check_writable(paths):
    """UsageError unless each path can be written (see ``output_problem``),
    in a folder where a file can really be created (tried, not guessed:
    the permission bits say nothing for root or a read-only file
    system)."""
    from .errors import UsageError
    for path in paths:
        problem = output_problem(path)
        if problem:
            raise UsageError(problem)
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
        with _naming(lock_path):   # (a full disk names no file)
            os.ftruncate(fd, 0)
            os.write(fd, b'%d\n' % os.getpid())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)
