"""Nothing lost, nothing of the user's touched: the one way files are
written.

* ``atomic_writes``: a crash, Ctrl-C or even SIGKILL never leaves a broken
  file, only the old one or the complete new one; every target is checked
  first (``check_target``): no special file, no file the run reads.
* ``exclusive``: one run at a time on a set of model files, with a lock
  that never touches a file it did not make.
"""
import contextlib
import errno
import io
import os
import re
import stat
import sys
import tempfile


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
def atomic_writes(paths, keep=None, durable=True):
    """Yield binary files whose contents replace ``paths`` all at once.

    The data goes to temporary files in the same folders, is flushed and
    fsync'd, and only then -- every file complete -- renamed over
    ``paths``.  Whenever the process dies (an exception, a full disk,
    Ctrl-C, even SIGKILL) before that, every path holds its previous
    content (or is still absent): never some files of the new set beside
    some of the old.  If the ``with`` body raises, or ``keep(temporary
    path)`` does (a check of a complete file), the temporary files are
    removed and ``paths`` left untouched.  With ``durable`` False nothing
    is fsync'd: still atomic for the processes, but a power cut may leave
    a file damaged (for a cache, whose entries are checked when read).

    This is the only way the package writes a file: each path is first
    checked by ``check_target`` (UsageError for a special file, a link to
    a stream, or an input of the running command).
    """
    for path in paths:
        check_target(path)
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
            if durable:
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
    if not durable:
        return
    # make the renames themselves durable
    for folder in {os.path.dirname(os.path.abspath(p)) for p in paths}:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_write(path, keep=None, durable=True):
    """``atomic_writes`` of one file: yield a binary file whose content
    replaces ``path`` all at once."""
    with atomic_writes([path], keep, durable) as (f,):
        yield f


##########################################
# Outputs that never clobber what matters
##########################################

#: Every file read during the command that runs, as ``(path, stat)``
#: (see ``reading_inputs``); None when no command runs.
_inputs = None


@contextlib.contextmanager
def reading_inputs():
    """Note, inside the block, every file ``reading`` reads, so that no
    write in the block replaces one of them.  A block inside another
    shares the outer one's list: a command is one run."""
    global _inputs
    if _inputs is not None:
        yield
        return
    _inputs = []
    try:
        yield
    finally:
        _inputs = None


def note_input(path, status):
    """Record that ``path`` (whose ``os.stat`` is ``status``) is read."""
    if _inputs is not None:
        _inputs.append((path, status))


def forget_input(path):
    """``path`` is no input of this run after all: a file of the package's
    own cache, read and found damaged, that may now be replaced."""
    if _inputs is not None:
        _inputs[:] = [(name, seen) for name, seen in _inputs
                      if name != path]


def _input_at(path):
    """The input of this run that writing ``path`` would replace, or
    None: the same file (through any link or spelling) or a link to it."""
    try:
        status = os.stat(path)
    except OSError:
        status = None
    real = os.path.realpath(path)
    for name, seen in _inputs or ():
        if (status is not None and os.path.samestat(status, seen)) or \
                real == os.path.realpath(name):
            return name
    return None


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
    from ..errors import UsageError
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


def check_target(path, argument=None):
    """UsageError unless ``path`` may be written: ``output_problem``, and
    never a file this run reads (the dataset wherever it was found, the
    model), however either is spelled.  ``argument`` names the option that
    gave ``path``, for the message."""
    from ..errors import UsageError
    problem = output_problem(path)
    if problem:
        raise UsageError(problem)
    source = _input_at(path)
    if source is not None:
        raise UsageError('%s%s would overwrite %s, which this run reads; '
                         'choose another file' % (
                             argument + ' ' if argument else '', path,
                             source))


def check_writable(paths):
    """UsageError unless each path can be written (see ``output_problem``),
    in a folder where a file can really be created (tried, not guessed:
    the permission bits say nothing for root or a read-only file
    system)."""
    from ..errors import UsageError
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


def lock_path(path):
    """The lock of the set of files written for ``path``: hidden beside
    them, named after their common stem, in the folder as resolved --
    ``m.pkl``, ``m``, ``m.npz`` and ``./link-to-here/m.pkl`` all write
    ``m.npz`` and so share ``.m.lock``."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(folder),
                        '.%s.lock' % os.path.splitext(name)[0])


#: What a lock file of this package holds: its owner's process id.
_LOCK_CONTENT = re.compile(rb'[0-9]{1,20}\n?')


def _open_lock(lock):
    """The lock file, opened: created here, or one that an earlier run of
    this package left behind.  Anything else at that name -- a link, a
    FIFO, a file of the user's -- is refused untouched: never followed,
    truncated or removed."""
    from ..errors import UsageError
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    while True:
        with _naming(lock):
            try:
                return os.open(lock, flags | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                pass
            try:
                fd = os.open(lock, flags)
                break
            except FileNotFoundError:
                continue   # removed meanwhile: create it
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR,
                                   errno.EMLINK, errno.EACCES):
                    raise
                fd = None
                break
    if fd is not None:
        status = os.fstat(fd)
        if stat.S_ISREG(status.st_mode) and status.st_nlink == 1 and \
                status.st_size <= 21 and \
                _LOCK_CONTENT.fullmatch(os.pread(fd, 32, 0)):
            return fd   # (one name only: not a hard link to a file of yours)
        os.close(fd)
    raise UsageError('%s is in the way: it is not a lock file this package '
                     'made (one holds a process id); move it or choose '
                     'another output file' % lock)


@contextlib.contextmanager
def exclusive(path):
    """Hold an advisory lock that no other run may hold on the files of
    ``path`` at the same time; a second run is refused at once with a
    UsageError.

    The lock is the file ``lock_path(path)``, holding the owner's process
    id.  It is created only where nothing is (or reused when an earlier
    run of this package left it after a crash), and removed at the end
    only if it is still the file this run locked.
    """
    import fcntl
    from ..errors import UsageError
    lock = lock_path(path)
    while True:
        fd = _open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode('ascii', 'replace').strip()
            os.close(fd)
            raise UsageError('%s is being written by another run (process '
                             '%s, holding %s); wait for it to end or choose '
                             'another output file' % (path, owner or '?',
                                                      lock)) from None
        if _still_at(fd, lock):
            break
        os.close(fd)   # its owner removed it meanwhile: lock the next one
    try:
        with _naming(lock):   # (a full disk names no file)
            os.ftruncate(fd, 0)
            os.write(fd, b'%d\n' % os.getpid())
        yield
    finally:
        if _still_at(fd, lock):
            os.unlink(lock)
        os.close(fd)


def _still_at(fd, path):
    """True if the open file ``fd`` is still the one named ``path``."""
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False
