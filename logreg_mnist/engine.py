"""Where the graph engine is chosen, configured and imported, once.

Every other module writes ``from .engine import theano, T`` and then uses the
tutorial's spelling: ``theano.shared``, ``theano.function``,
``theano.config.floatX``, ``T.matrix``, ``T.grad``, ``T.nnet.softmax``...
Everything that differs between engines lives in this file: which one runs
and its name, the device, the host copies of parameters, the base classes
and the mode of ops written in C (``kernel``'s), and the workarounds.  The
user's flags are parsed in ``flags`` and the BLAS to link is found in
``blas``.

Which engine
    Theano 1.0.5 where it is installed and can run (Python <= 3.11), else
    PyTensor, its maintained successor, which runs the same graph.  Set
    ``LOGREG_MNIST_ENGINE=theano`` or ``=pytensor`` (or pass ``--engine``) to
    choose explicitly.

THEANO_FLAGS stay the user's interface
    Both engines read ``THEANO_FLAGS`` (and ``~/.theanorc``).  Theano reads
    them itself; for PyTensor, ``floatX``, ``mode``, ``blas.ldflags`` and the
    other flags are translated to ``PYTENSOR_FLAGS`` before it is imported
    (a ``PYTENSOR_FLAGS`` of the user's own still wins), and ``device`` /
    ``force_device`` are handled here: ``device=cuda`` (or ``cudaN``) runs the
    compiled functions through PyTensor's JAX mode on that GPU, with the
    shared variables kept in the GPU's memory.

Theano 1.0.5 on today's machines
    It asks ``numpy.distutils`` for NumPy's BLAS, an interface gone from
    modern NumPy wheels, so ``import theano`` crashes unless ``blas.ldflags``
    is set.  When the user sets none we supply one (``blas.default_ldflags``)
    before the import; PyTensor's C backend gets the same value.  Theano
    reaches a GPU only through libgpuarray's ``pygpu``; without it
    ``device=cuda`` warns in one line and runs on the CPU (or fails with
    ``force_device=True``).

Compilers and caches
    A ``cxx`` that does not exist, a ``blas.ldflags`` the linker refuses, a
    compile cache folder that cannot be made: the engines find these out
    halfway through compiling, under screens of their own output.  They are
    checked before the import and refused in one line; ``failure`` turns
    what still goes wrong while compiling into one line for ``cli``, and
    the engines' log of their compile lock is kept off stderr.
"""
import contextlib
import importlib.util
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import types
import warnings

from . import ENGINE_VARIABLE
from .blas import default_ldflags as default_blas_ldflags
from .errors import EngineError, QUOTE_MOST, cut
from .flags import is_gpu as _is_gpu, is_true as _is_true
from .flags import join as _join_flags, parse as _parse_flags
from .flags import setting as _setting, short as _short
from .flags import split_value as _split_value
from .flags import theanorc_files as _theanorc_files, unknown, user_flags


#################
# Which engine
#################

def choose_engine():
    """'theano' or 'pytensor', as LOGREG_MNIST_ENGINE or the system says."""
    choice = os.environ.get(ENGINE_VARIABLE, 'auto').strip().lower()
    if choice not in ('auto', 'theano', 'pytensor'):
        raise EngineError('%s: choose theano, pytensor or auto'
                          % _setting(ENGINE_VARIABLE, choice))
    theano_runs = sys.version_info < (3, 12)
    if choice == 'auto':
        choice = ('theano' if theano_runs and
                  importlib.util.find_spec('theano') else 'pytensor')
    if choice == 'theano' and not theano_runs:
        raise EngineError('Theano 1.0.5 does not run on Python %d.%d (3.11 '
                          'at most); use the PyTensor engine'
                          % sys.version_info[:2])
    if importlib.util.find_spec(choice) is None:
        raise EngineError('the %s engine is not installed (pip install -e . '
                          'installs Theano on Python <= 3.11 and PyTensor on '
                          '3.12+)' % choice)
    return choice


NAME = choose_engine()
_jax_device = None   # where JAX runs the functions, under PyTensor's JAX mode
_jax_gpu_name = None  # 'cudaN' when that is a GPU
_origins = user_flags()   # {flag: (value, where it is set)}
_flags = {name: value for name, (value, _) in _origins.items()}
_gpu_asked = _is_gpu(_flags.get('device', 'cpu'))
_force = _is_true(_flags.get('force_device', 'false'))


def _bounded(text):
    """``text`` (what the engine, the compiler or the linker says of a
    flag) with the long flag names and values it repeats cut short, and
    cut as a whole: a flag may be thousands of characters long."""
    seen = dict(_flags)
    with contextlib.suppress(EngineError):
        seen.update(_parse_flags(os.environ.get('PYTENSOR_FLAGS', ''),
                                 'PYTENSOR_FLAGS'))
    long = {form for pair in seen.items() for value in pair
            for form in (value, repr(value)[1:-1])
            if len(form) > QUOTE_MOST}
    for value in sorted(long, key=len, reverse=True):
        text = text.replace(value, cut(value))
    # whatever else is long (a word of a value, as the linker repeats it)
    text = re.sub(r'\S{%d,}' % (QUOTE_MOST + 1), lambda m: cut(m.group()),
                  text)
    return cut(text, 3 * QUOTE_MOST)


def _flag_error(problem, name=None):
    """An EngineError for a flag the engine refused, naming where it is
    set (the flag ``name``, when it is known which); the long names and
    values in ``problem`` are cut short."""
    flags = os.environ.get('THEANO_FLAGS')
    where = _setting('THEANO_FLAGS', flags) if flags else ' or '.join(
        _theanorc_files())
    if name in _origins:
        where = _origins[name][1]
    return EngineError('%s: %s' % (where, _bounded(str(problem))))


#: The precisions the model is built for.
FLOATX = ('float64', 'float32')


def _check_flags(known, handled=()):
    """EngineError for a flag the engine does not have (the engines only
    warn, and run on with their defaults) or a floatX we do not run."""
    for name in _flags:
        if name not in known and name not in handled:
            raise _flag_error(unknown(name, sorted(known)), name)
    floatX = theano.config.floatX
    if floatX not in FLOATX:
        raise _flag_error('the model runs in float32 or float64, not %s'
                          % _short(floatX), 'floatX')


def build_problem(cxx, source, args=''):
    """What the compiler ``cxx`` says when it cannot build ``source`` (C++
    text) into a shared library with the flags ``args`` (a list, or a
    string split as a shell would), or None when it can."""
    if isinstance(args, str):
        args = shlex.split(args)
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
    return _first_error(out.stderr) or 'exit status %d' % out.returncode


def _first_error(text):
    """The line of a compiler's or linker's output that says what failed."""
    lines = [line.strip() for line in re.split(r'\n|\. (?=\S|$)', text)
             if line.strip()]
    for line in lines:
        if re.search(r'\berror\b|cannot find|not found', line):
            return line
    return lines[0] if lines else None


def _check_compiler():
    """An EngineError when the compiler or the BLAS libraries the flags
    name cannot be used: the engines find out only halfway through
    compiling, under screens of their own output."""
    cxx = _flags.get('cxx')
    if cxx and shutil.which(cxx) is None:
        raise _flag_error('there is no compiler %s (install it, or set '
                          'cxx= to run without compiled C)' % _short(cxx),
                          'cxx')
    ldflags = _flags.get('blas.ldflags', '').strip()
    # PyTensor splits blas.ldflags as a shell does (and raises, deep in its
    # first compile, at a quote never closed); Theano splits it at spaces.
    # Either way such a value is a mistake: refused here, on both.
    words = ldflags and _split_value('blas.ldflags', ldflags,
                                     _origins['blas.ldflags'][1])
    compiler = shutil.which(cxx or 'g++') if cxx != '' else None
    if words and compiler:
        problem = build_problem(compiler, 'int probe() { return 0; }\n',
                                words)
        if problem:
            raise _flag_error('the linker cannot use blas.ldflags: %s'
                              % problem, 'blas.ldflags')


def _compile_failure(error, cxx):
    """An EngineError when ``error`` says that the compiler ``cxx`` failed
    (with the line of its output that says why), else None."""
    found = re.search(r'Compilation failed \(return status=\d+\):(.*)',
                      str(error), re.DOTALL)
    if found is None:
        return None
    said = _first_error(found.group(1).replace('\\n', '\n'))
    return EngineError('the C compiler %s failed%s'
                       % (_short(cxx), ': ' + _bounded(said) if said else ''))


def _compiledir_error(error):
    """An EngineError for the engines' refusal of the folder of compiled
    code ("Unable to create the compiledir directory '...'", "compiledir
    '...' exists but you don't have ... permissions"), else None: their
    reason is often not the real one.  An OSError about a file in a
    compile cache folder the flags name (Python 3.12's ``Path.exists``
    raises at a name too long) is one too."""
    found = re.search(r"compiledir(?: directory)? '(.*?)'", str(error))
    filename = str(getattr(error, 'filename', None) or '')
    if found is not None:
        folder = found.group(1)
    elif isinstance(error, OSError) and filename and any(
            filename.startswith(_flags[flag]) for flag in
            ('compiledir', 'base_compiledir') if _flags.get(flag)):
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
    flag = 'compiledir' if 'compiledir' in _origins else 'base_compiledir'
    problem = ('the compile cache folder %s cannot be made (%s); point '
               '%s in THEANO_FLAGS at a folder you can write'
               % (_short(folder), reason, flag))
    if flag in _origins:
        return _flag_error(problem, flag)
    return EngineError(problem)


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


def _watch_compile_lock(logger_name, level, waiting):
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [_CompileLockWatch(waiting)]
    logger.propagate = False
    logger.setLevel(level)


def is_clang(cxx):
    """True when the compiler ``cxx`` is clang (as macOS's g++ is)."""
    path = shutil.which(cxx) if cxx else None
    if path is None:
        return False
    try:
        return 'clang' in subprocess.run(
            [path, '--version'], capture_output=True, text=True,
            timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _cannot_use_gpu(reason):
    """The one line said when device=cuda cannot be honoured."""
    message = 'THEANO_FLAGS asks for device=%s but %s' % (
        _short(_flags['device']), reason)
    if _force:
        raise EngineError(message + ' and force_device=True')
    print('WARNING: %s; running on the CPU.' % message, file=sys.stderr)


##########
# Theano #
##########

class _environment_variable(object):
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


def _import_theano():
    if _flags.get('mode', '').upper() == 'JAX':   # Theano would list its modes
        raise _flag_error('mode=JAX is a PyTensor mode, which Theano 1.0.5 '
                          'does not have (use Python 3.12+ or --engine '
                          'pytensor)')
    # What Theano is handed: the user's THEANO_FLAGS (read as Theano reads
    # them, which user_flags checked) with our entries, written back by
    # flags.join so that Theano reads every value as it is.
    flags = {}
    if 'blas.ldflags' not in _flags:   # the user's own value wins
        flags['blas.ldflags'] = default_blas_ldflags()
    flags.update(_parse_flags(os.environ.get('THEANO_FLAGS', '')))
    if is_clang(_flags.get('cxx', 'g++')):
        # clang refuses narrowing conversions in the C++ that Theano 1.0.5
        # generates; the user's own gcc.cxxflags come after, and win.
        flags['gcc.cxxflags'] = ('-Wno-c++11-narrowing %s' % _flags.get(
            'gcc.cxxflags', '')).strip()
    # Without pygpu, Theano logs a stack-trace-shaped error and quietly runs
    # on the CPU; we say it in one line instead.
    missing_pygpu = _gpu_asked and importlib.util.find_spec('pygpu') is None
    if missing_pygpu:
        logging.getLogger('theano.gpuarray').setLevel(logging.CRITICAL)
    _watch_compile_lock('theano.gof.compilelock', logging.INFO,
                        'Waiting for existing lock')
    # Theano's GPU module imports pkg_resources, which warns about itself.
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    # (unknown flags are refused in one line, see _check_flags)
    warnings.filterwarnings('ignore', message='Theano does not recognise')
    _check_compiler()
    try:
        with _environment_variable('THEANO_FLAGS', _join_flags(flags)):
            import theano
            import theano.tensor
    except ValueError as e:  # Theano's own check of a flag's value
        raise _compiledir_error(e) or _flag_error(e) from e
    except Exception as e:   # it compiles its own C while importing
        problem = (_compile_failure(e, _flags.get('cxx', 'g++'))
                   or _compiledir_error(e))
        if problem is None:
            raise
        raise problem from e
    if missing_pygpu:
        _cannot_use_gpu('pygpu, the GPU backend of Theano 1.0.5 (Debian '
                        'package python3-pygpu), is not installed')
    _keep_compiled_modules(theano)
    logging.getLogger('theano.gof.opt').addFilter(_NoDamagedCacheReports())
    return theano, theano.tensor


class _NoDamagedCacheReports(logging.Filter):
    """Keeps Theano's optimizer from logging, with a traceback each, every
    graph rewrite that failed on a damaged module of the compile cache: it
    goes on without them, and the same module fails again when the
    function is linked, which ``failure`` reports in one line."""

    def filter(self, record):
        return not _in_compile_cache(sys.exc_info()[1])


def _keep_compiled_modules(theano):
    """Make Theano 1.0.5 find in its cache the C modules it compiled in an
    earlier process.  Two of its cache keys change from one process to the
    next, so those modules were compiled again at every run (about five
    seconds of every warm start, for the tutorial's graph):

    * ops whose C lives in files (``DimShuffle`` among them) are versioned
      by Python's ``hash`` of that text, which Python 3 salts anew in every
      process: here they get a digest of it instead;
    * an op with no parameters (``__props__ == ()``: ``Dot22``, the
      softmax-cross-entropy ops) leaves an empty tuple among the versions,
      which Theano takes for an op that asked not to be cached: here the
      key keeps the version the op itself gives.
    """
    import hashlib
    from theano.gof import cc, op

    def c_code_cache_version(self):
        text = '\0'.join(self.func_codes).encode()
        version = (int(hashlib.sha256(text).hexdigest()[:15], 16),)
        if hasattr(self, 'params_type'):
            version += (self.params_type.c_code_cache_version(),)
        return version
    op.COp.c_code_cache_version = c_code_cache_version

    theanos_key = cc.CLinker.cmodule_key_

    def cmodule_key_(self, fgraph, *args, **kwargs):
        key = theanos_key(self, fgraph, *args, **kwargs)
        if key is None or key[0] != ():
            return key   # unhashable constants, or a versioned key
        version = []
        for node in self.schedule(fgraph):
            if hasattr(node.op, 'c_code_cache_version_apply'):
                version.append(node.op.c_code_cache_version_apply(node))
            if getattr(node.op, '__props__', None):   # (not an empty one)
                version.append(node.op.__props__)
            version.extend(v.type.c_code_cache_version()
                           for v in node.inputs + node.outputs)
        if all(version):
            return tuple(version), key[1]
        return key   # an op or type that really is unversioned
    cc.CLinker.cmodule_key_ = cmodule_key_


############
# PyTensor #
############

#: THEANO_FLAGS that are about GPUs: handled here, not passed on.
_GPU_FLAGS = ('device', 'force_device', 'init_gpu_device', 'contexts')


def _gpu_number():
    """The N of ``device=cudaN`` as digits ('0' for plain cuda), or None
    when it is too large to be a GPU's."""
    number = re.sub(r'\D', '', _flags['device']).lstrip('0') or '0'
    return number if len(number) <= 6 else None


def _jax_gpu():
    """The JAX device ``device=cudaN`` names, or a reason why there is none."""
    if importlib.util.find_spec('jax') is None:
        return None, ('JAX, which runs PyTensor graphs on a GPU, is not '
                      'installed (pip install -e ".[cuda]")')
    import jax
    try:
        gpus = jax.devices('gpu')
    except RuntimeError as e:
        return None, 'JAX finds no GPU (%s)' % str(e).splitlines()[0]
    number = _gpu_number()
    if number is None or int(number) >= len(gpus):
        return None, 'JAX finds %d GPU(s)' % len(gpus)
    return gpus[int(number)], None


def _pytensor_flags():
    """THEANO_FLAGS (and .theanorc) as PYTENSOR_FLAGS, and the JAX device."""
    device = _flags.get('device', 'cpu')
    if not re.match(r'(cpu|cuda\d*|gpu\d*|opencl[\d:]*)$', device):
        # what Theano says of it, word for word (unless it is long)
        shown = _short(device)
        raise _flag_error(
            'Invalid value (%s) for configuration variable "device". Valid '
            'options start with one of "cpu", "opencl" or "cuda".'
            % ('"%s"' % device if shown == device else shown))
    flags = {k.replace('.', '__'): v for k, v in _flags.items()
             if k not in _GPU_FLAGS and not k.startswith('gpuarray.')}
    flags.setdefault('blas__ldflags', default_blas_ldflags())
    gpu = None
    if _gpu_asked:
        gpu, reason = _jax_gpu()
        if gpu is None:
            _cannot_use_gpu(reason)
        else:
            flags['mode'] = 'JAX'
    return flags, gpu


def _configure_jax(gpu):
    """Set JAX up for PyTensor's JAX mode, on ``gpu`` or else on the CPU."""
    if importlib.util.find_spec('jax') is None:
        raise _flag_error('mode=JAX needs JAX, which is not installed '
                          '(pip install -e ".[jax]", or ".[cuda]")')
    import jax
    # PyTensor's JAX module turns JAX's 64-bit types on for floatX=float64
    # and off for float32 (with them on, its JAX code would compute a
    # float32 graph partly in float64) the first time it is imported:
    # import it now, so that the setting holds from the start.
    import pytensor.link.jax.dispatch  # noqa: F401
    # With 64-bit types off, JAX warns on every call that the graph's
    # int64 indices and float64 error rates are computed in 32 bits; that
    # is what float32 asks for (``training.evaluator`` makes the error
    # rates exact again).
    warnings.filterwarnings('ignore', message=r'Explicitly requested dtype '
                            r'\w+ requested in \w+ is not available')
    # It also warns, on every compile, that it skips the graph's shape
    # assertions (JAX cannot raise inside a traced function); the shapes
    # here are fixed when the functions are built.
    warnings.filterwarnings('ignore', message=r'Skipping .* as JAX tracing '
                            'would remove it')
    global _jax_device, _jax_gpu_name
    if gpu is not None:
        _jax_device = gpu
        _jax_gpu_name = 'cuda' + _gpu_number()
        # float32 products in float32, not TF32, as on the CPU
        jax.config.update('jax_default_matmul_precision', 'highest')
    else:   # device=cpu,mode=JAX: the CPU even where a GPU is present
        _jax_device = jax.devices('cpu')[0]
    jax.config.update('jax_default_device', _jax_device)


def _import_pytensor():
    # The user's own PYTENSOR_FLAGS, read as PyTensor reads them, win; all
    # of it is written back by flags.join, which PyTensor reads as given
    # (a value may hold commas: gcc.cxxflags="-O2 -Wl,-rpath=/usr/lib").
    own = _parse_flags(os.environ.get('PYTENSOR_FLAGS', ''), 'PYTENSOR_FLAGS')
    flags, gpu = _pytensor_flags()
    _check_compiler()
    flags.update(own)
    # pip's PyTensor warns that it found no BLAS of conda's; it has ours
    warnings.filterwarnings('ignore', message='PyTensor could not link to a '
                            'BLAS installation')
    warnings.filterwarnings('ignore', message='PyTensor does not recognise')
    _watch_compile_lock('filelock', logging.DEBUG, ' not acquired on ')
    try:
        with _environment_variable('PYTENSOR_FLAGS', _join_flags(flags)):
            import pytensor
            import pytensor.tensor
            from pytensor.tensor.special import softmax
            pytensor.config.compiledir   # made when first asked for: now
    except ValueError as e:
        raise _compiledir_error(e) or _flag_error(e) from e
    except OSError as e:
        problem = _compiledir_error(e)
        if problem is None:
            raise
        raise problem from e
    if str(pytensor.config.mode) == 'JAX':
        _configure_jax(gpu)

    # The tutorial's names that PyTensor spells differently.
    class Tensor(types.ModuleType):
        """pytensor.tensor, plus the ``T.nnet.softmax`` of Theano (row-wise:
        PyTensor's softmax is over all axes unless told otherwise)."""
        nnet = types.SimpleNamespace(
            softmax=lambda x: softmax(x, axis=-1))

        def __getattr__(self, name):
            return getattr(pytensor.tensor, name)

    class Engine(types.ModuleType):
        """pytensor, whose ``shared`` keeps values on the JAX device when
        the functions run through JAX (else every call would copy them)."""

        def __getattr__(self, name):
            return getattr(pytensor, name)

        def shared(self, value, *args, **kwargs):
            variable = pytensor.shared(value, *args, **kwargs)
            if jax_mode() and hasattr(value, 'dtype'):
                import jax
                variable.container.storage[0] = jax.device_put(
                    variable.container.storage[0])
            return variable

    return Engine('pytensor'), Tensor('pytensor.tensor')


theano, T = _import_theano() if NAME == 'theano' else _import_pytensor()
if NAME == 'theano':
    from theano.configparser import _config_var_list
    _check_flags({var.fullname for var in _config_var_list})
else:
    _check_flags({name.replace('__', '.')
                  for name in theano.config._config_var_dict},
                 [name for name in _flags if name in _GPU_FLAGS
                  or name.startswith('gpuarray.')])


###################################
# What the other modules ask of us
###################################

def jax_mode():
    """True when compiled functions run through JAX (PyTensor only)."""
    return NAME == 'pytensor' and str(theano.config.mode) == 'JAX'


def device():
    """The device this run really computes on."""
    if NAME == 'theano':
        if _is_gpu(theano.config.device):
            from theano import gpuarray
            if gpuarray.pygpu_activated:
                return theano.config.device
        return 'cpu'
    return _jax_gpu_name or 'cpu'


def device_name():
    """The GPU's model when computing on one, else None."""
    if device() == 'cpu':
        return None
    if NAME == 'pytensor':
        return _jax_device.device_kind
    return theano.gpuarray.get_context(None).devname


def blas_ldflags():
    """The ``blas.ldflags`` the engine's C code links with."""
    if NAME == 'theano':
        return theano.config.blas.ldflags
    return theano.config.blas__ldflags


ENGINE = '%s %s' % ('Theano' if NAME == 'theano' else 'PyTensor',
                    theano.__version__)
C_ENGINE = ENGINE   # the same, for functions compiled in C_MODE
if NAME == 'pytensor':   # and the backend that runs its functions
    from pytensor.compile.mode import get_default_mode
    C_ENGINE = ENGINE + ' (C)'
    ENGINE += ' (%s)' % type(get_default_mode().linker).__name__.replace(
        'Linker', '')


def _in_compile_cache(error):
    """True when ``error`` is a file of the compile cache that cannot be
    loaded or written (cut short by a full disk or a crash, say)."""
    return (isinstance(error, (ImportError, OSError))
            and str(theano.config.compiledir) in str(error))


def failure(error):
    """An EngineError for an ``error`` raised while the engine compiled --
    its compile cache is damaged or cannot be written, or the C compiler
    failed -- else None."""
    if _in_compile_cache(error):
        text, folder = str(error), str(theano.config.compiledir)
        reason = getattr(error, 'strerror', None) or text.rsplit(': ')[-1]
        return EngineError('the compile cache in %s cannot be used (%s); '
                           'remove that folder, and it is rebuilt on the '
                           'next run' % (_short(folder), cut(reason)))
    return _compile_failure(error, theano.config.cxx)


def describe():
    """One line saying which engine, device and floatX this run uses."""
    return '... using %s on device %s with floatX=%s' % (
        ENGINE, device(), theano.config.floatX)


def compiling_line():
    """The progress line shown while the functions compile.  Theano's C
    code and PyTensor's C and Numba code are kept on disk and reused by the
    next runs; JAX compiles again in every process."""
    return '... compiling' + ('' if jax_mode() else
                              ' (cached for the next runs)')


@contextlib.contextmanager
def values_on_host(variables):
    """Yield the values of shared ``variables`` as numpy arrays, which the
    variables hold inside the block, so that a pickle of them holds plain
    arrays.  Under JAX the values are device arrays: they are copied to the
    host once and given back after the block (training goes on with them,
    nothing is uploaded again)."""
    import numpy
    storages = [variable.container.storage for variable in variables]
    on_device = [storage[0] for storage in storages]
    on_host = [numpy.array(value) for value in on_device]
    try:
        for storage, value in zip(storages, on_host):
            storage[0] = value
        yield on_host
    finally:
        for storage, value in zip(storages, on_device):
            storage[0] = value


def host_array(values):
    """Scalars returned by compiled functions, as one numpy array: under
    JAX they are device arrays, brought back in one copy, not one each."""
    import numpy
    if jax_mode() and len(values):
        import jax.numpy as jnp
        return numpy.asarray(jnp.stack(values))
    return numpy.asarray(values, dtype=float)


@contextlib.contextmanager
def quiet_autocast():
    """Silence numpy's overflow warning while a graph takes in Python
    numbers: PyTensor makes each a constant of the narrowest float type
    that holds it, trying float32 first, and for a huge one (a learning
    rate of 1e308) numpy warns about that try before training can say what
    is wrong."""
    import numpy
    with numpy.errstate(over='ignore'):
        yield


######################################
# Ops of our own, in C (see ``kernel``)
######################################

if NAME == 'theano':
    from theano.gof import Apply, Op as COp
    #: The mode for functions holding C ops: the default one.
    C_MODE = None
else:
    from pytensor.graph.basic import Apply
    from pytensor.link.c.op import COp
    # PyTensor's default backend, Numba, cannot run C code; its C one can.
    C_MODE = 'CVM'


def runs_c_ops():
    """True when functions compiled in ``C_MODE`` can run ops written in
    C: on the CPU, not through JAX, with a C++ compiler, in the default
    (FAST_RUN) mode."""
    return (device() == 'cpu' and not jax_mode()
            and bool(theano.config.cxx)
            and str(theano.config.mode) in ('Mode', 'FAST_RUN'))
