"""The C compiler, the linker and the compile cache, as the engines use
them: a ``cxx`` that does not exist, a ``blas.ldflags`` the linker
refuses, a compile cache folder that cannot be made -- the engines find
these out halfway through compiling, under screens of their own output.
They are checked here before the import and refused in one line; what
still goes wrong while compiling becomes one line too (``failure``), and
the engines' log of their compile lock is kept off stderr."""
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from ..errors import EngineError, cut
from ..files import cache
from . import state
from .flags import short, split_value


#: The environment variables that change what a compiler finds.
COMPILER_VARIABLES = ('PATH', 'CPATH', 'C_INCLUDE_PATH', 'CPLUS_INCLUDE_PATH',
                      'LIBRARY_PATH', 'COMPILER_PATH', 'GCC_EXEC_PREFIX')


def question(kind, cxx, *parts):
    """All that the compiler ``cxx``'s answer to ``kind`` depends on, as
    text, for ``cache.remembered``: the compiler (its real path, and that
    file's size, times and inode: another or an upgraded one is another
    question), the environment it reads, and ``parts``; None when there
    is no such compiler."""
    path = shutil.which(cxx) if cxx else None
    if path is None:
        return None
    real = os.path.realpath(path)
    try:
        status = os.stat(real)
    except OSError:
        return None
    return '\n'.join(
        [kind, '%s %d %d %d %d' % (real, status.st_size, status.st_mtime_ns,
                                   status.st_ctime_ns, status.st_ino)] +
        ['%s=%s' % (name, os.environ.get(name, ''))
         for name in COMPILER_VARIABLES] + [str(part) for part in parts])


def _folders(args):
    """The library folders ``args`` name (-L), as they are now: a library
    added or removed changes their times."""
    folders = [a[2:] for a in args if a.startswith('-L')]
    return ['%s %s' % (f, os.stat(f).st_mtime_ns if os.path.isdir(f) else
                       '-') for f in folders]


def build_problem(cxx, source, args=''):
    """What the compiler ``cxx`` says when it cannot build ``source`` (C++
    text) into a shared library with the flags ``args`` (a list, or a
    string split as a shell would), or None when it can.  That it can is
    remembered (see ``cache.remembered``): the next runs start no
    compiler to hear it again; that it cannot is asked again each time."""
    if isinstance(args, str):
        args = shlex.split(args)
    asked = question('builds', cxx, source, *(list(args) + _folders(args)))
    if asked is not None and cache.remembered(asked) == 'yes':
        return None
    problem = _build_problem(cxx, source, args)
    if asked is not None and problem is None:
        cache.remember(asked, 'yes')
    return problem


def _build_problem(cxx, source, args):
    with tempfile.TemporaryDirectory(prefix='logreg-probe-') as folder:
        path = os.path.join(folder, 'probe.cpp')
        with open(path, 'w') as f:
            f.write(source)
        try:
            out = subprocess.run(
                [cxx, '-shared', '-fPIC', path, '-o',
                 os.path.join(folder, 'probe.so')] + list(args),
                capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            return str(e)
    if out.returncode == 0:
        return None
    return first_error(out.stderr) or 'exit status %d' % out.returncode


def first_error(text):
    """The line of a compiler's or linker's output that says what failed."""
    lines = [line.strip() for line in re.split(r'\n|\. (?=\S|$)', text)
             if line.strip()]
    for line in lines:
        if re.search(r'\berror\b|cannot find|not found', line):
            return line
    return lines[0] if lines else None


def check_compiler():
    """An EngineError when the compiler or the BLAS libraries the flags
    name cannot be used: the engines find out only halfway through
    compiling, under screens of their own output."""
    flags = state.flags
    cxx = flags.get('cxx')
    if cxx and shutil.which(cxx) is None:
        raise state.flag_error('there is no compiler %s (install it, or set '
                               'cxx= to run without compiled C)' % short(cxx),
                               'cxx')
    ldflags = flags.get('blas.ldflags', '').strip()
    # PyTensor splits blas.ldflags as a shell does (and raises, deep in its
    # first compile, at a quote never closed); Theano splits it at spaces.
    # Either way such a value is a mistake: refused here, on both.
    words = ldflags and split_value('blas.ldflags', ldflags,
                                    state.origins['blas.ldflags'][1])
    compiler = shutil.which(cxx or 'g++') if cxx != '' else None
    if words and compiler:
        problem = build_problem(compiler, 'int probe() { return 0; }\n',
                                words)
        if problem:
            raise state.flag_error('the linker cannot use blas.ldflags: %s'
                                   % problem, 'blas.ldflags')


def compile_failure(error, cxx):
    """An EngineError when ``error`` says that the compiler ``cxx`` failed
    (with the line of its output that says why), else None."""
    found = re.search(r'Compilation failed \(return status=\d+\):(.*)',
                      str(error), re.DOTALL)
    if found is None:
        return None
    said = first_error(found.group(1).replace('\\n', '\n'))
    return EngineError('the C compiler %s failed%s' % (
        short(cxx), ': ' + state.bounded(said) if said else ''))


def compiledir_error(error):
    """An EngineError for the engines' refusal of the folder of compiled
    code ("Unable to create the compiledir directory '...'", "compiledir
    '...' exists but you don't have ... permissions"), else None: their
    reason is often not the real one.  An OSError about a file in a
    compile cache folder the flags name (Python 3.12's ``Path.exists``
    raises at a name too long) is one too."""
    flags = state.flags
    found = re.search(r"compiledir(?: directory)? '(.*?)'", str(error))
    filename = str(getattr(error, 'filename', None) or '')
    if found is not None:
        folder = found.group(1)
    elif isinstance(error, OSError) and filename and any(
            filename.startswith(flags[flag]) for flag in
            ('compiledir', 'base_compiledir') if flags.get(flag)):
        folder = filename
    else:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
        reason = 'it cannot be written'
    except FileExistsError:
        reason = 'a file has that name'
    except OSError as e:
        reason = e.strerror
    flag = 'compiledir' if 'compiledir' in state.origins else \
        'base_compiledir'
    problem = ('the compile cache folder %s cannot be made (%s); point '
               '%s in THEANO_FLAGS at a folder you can write'
               % (short(folder), reason, flag))
    if flag in state.origins:
        return state.flag_error(problem, flag)
    return EngineError(problem)


def in_compile_cache(error):
    """True when ``error`` is a file of the compile cache that cannot be
    loaded or written (cut short by a full disk or a crash, say)."""
    return (isinstance(error, (ImportError, OSError))
            and str(state.theano.config.compiledir) in str(error))


def failure(error):
    """An EngineError for an ``error`` raised while the engine compiled --
    its compile cache is damaged or cannot be written, or the C compiler
    failed -- else None (always None before the engine has started)."""
    if state.theano is None:
        return None
    if in_compile_cache(error):
        text, folder = str(error), str(state.theano.config.compiledir)
        reason = getattr(error, 'strerror', None) or text.rsplit(': ')[-1]
        return EngineError('the compile cache in %s cannot be used (%s); '
                           'remove that folder, and it is rebuilt on the '
                           'next run' % (short(folder), cut(reason)))
    return compile_failure(error, state.theano.config.cxx)


class _CompileLockWatch(logging.Handler):
    """Takes the log of the engine's compile lock off stderr: while another
    process compiles in the same cache, the engines log that they wait
    (Theano at INFO, twice a line; PyTensor's filelock at DEBUG), and
    Theano warns when it takes over the lock of a process that died.  On a
    terminal the first wait becomes one line of ours; elsewhere (logs,
    pipes) nothing is shown."""

    def __init__(self, waiting):
        super().__init__()
        self.waiting = waiting   # what the engine's log says when it waits
        self.said = False

    def emit(self, record):
        if self.said or self.waiting not in record.getMessage():
            return
        self.said = True
        if sys.stderr.isatty():
            print('... waiting for another process to finish compiling '
                  '(they share the compile cache)', file=sys.stderr,
                  flush=True)


def watch_compile_lock(logger_name, level, waiting):
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [_CompileLockWatch(waiting)]
    logger.propagate = False
    logger.setLevel(level)


def is_clang(cxx):
    """True when the compiler ``cxx`` is clang (as macOS's g++ is); what
    it said is remembered for the next runs."""
    asked = question('is clang', cxx)
    if asked is None:
        return False
    said = cache.remembered(asked)
    if said is None:
        try:
            said = str('clang' in subprocess.run(
                [shutil.which(cxx), '--version'], capture_output=True,
                text=True, timeout=60).stdout)
        except (OSError, subprocess.SubprocessError):
            return False
        cache.remember(asked, said)
    return said == 'True'


def remember_march_flags(compiler, engine, config):
    """Make the engine's compiler class (``GCC_compiler``; ``engine`` and
    ``config`` say which engine and version, and its flags) take the flags
    that stand for ``-march=native`` on this machine from an earlier run.
    The engines work them out again in every process that compiles or
    loads a module -- three runs of the compiler and a test program built
    and run, most of a second -- and they change only with the compiler
    (its file, its flags) or the processor (what ``/proc/cpuinfo`` says;
    elsewhere they are worked out every time, as the engines do)."""
    cxxflags = getattr(config, 'gcc__cxxflags', None)
    if cxxflags is None:
        cxxflags = config.gcc.cxxflags
    processor = _processor()
    asked = question('march flags', config.cxx, engine, cxxflags, processor)
    if asked is None or not processor:
        return
    known = cache.remembered(asked)
    if known is not None:
        compiler.march_flags = known.split()
        return
    work_out = compiler.compile_args

    def compile_args(march_flags=True):
        fresh = compiler.march_flags is None
        args = work_out(march_flags)
        if fresh and compiler.march_flags is not None:
            cache.remember(asked, ' '.join(compiler.march_flags))
            compiler.compile_args = staticmethod(work_out)
        return args
    compiler.compile_args = staticmethod(compile_args)


def _processor():
    """What this processor is (its model and features, from Linux's
    ``/proc/cpuinfo``), or '' when that cannot be read."""
    try:
        with open('/proc/cpuinfo', 'rb') as f:
            first = f.read(1 << 16).split(b'\n\n')[0]
    except OSError:
        return ''
    lines = [line for line in first.decode('ascii', 'replace').splitlines()
             if line.split(':')[0].strip() in ('vendor_id', 'model name',
                                              'flags', 'Features',
                                              'CPU part', 'isa')]
    return '\n'.join(lines)


class environment_variable(object):
    """Set an environment variable while the engine is imported (it reads
    it then), and give the user's value back after, so that processes we
    start see what the user set, not what we added."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        self.saved = os.environ.get(self.name)
        os.environ[self.name] = self.value

    def __exit__(self, *exc):
        if self.saved is None:
            del os.environ[self.name]
        else:
            os.environ[self.name] = self.saved
