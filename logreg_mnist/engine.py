"""Where the graph engine is chosen, configured and imported, once.

Every other module writes ``from .engine import theano, T`` and then uses the
tutorial's spelling: ``theano.shared``, ``theano.function``,
``theano.config.floatX``, ``T.matrix``, ``T.grad``, ``T.nnet.softmax``...
Everything that differs between engines lives in this file.

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
    is set.  When the user sets none we supply one, before the import: the
    recent OpenBLAS of the ``scipy-openblas32`` wheel (its ``scipy_``-prefixed
    symbols renamed by ``-D`` compiler flags), else the OpenBLAS inside
    SciPy's wheel, else '' (Theano then calls BLAS through NumPy: slow, but it
    works).  PyTensor's C backend gets the same value.  Theano reaches a GPU
    only through libgpuarray's ``pygpu``; without it ``device=cuda`` warns in
    one line and runs on the CPU (or fails with ``force_device=True``).
"""
import configparser
import glob
import importlib.util
import logging
import os
import re
import sys
import types
import warnings

from . import ENGINE_VARIABLE
from .errors import EngineError


###############################################################
# THEANO_FLAGS and .theanorc: what the user asks for, read once
###############################################################

def _flags_dict(flags):
    """Parse a ``THEANO_FLAGS`` string into a dict (later entries win)."""
    out = {}
    for item in flags.split(','):
        if '=' in item:
            key, value = item.split('=', 1)
            out[key.strip()] = value.strip().strip('"\'')
    return out


def _theanorc_files():
    """The config files Theano reads, as it finds them (``THEANORC``)."""
    paths = os.environ.get('THEANORC', '~/.theanorc')
    return [os.path.expanduser(p) for p in paths.split(os.pathsep) if p]


def _theanorc():
    """The ``.theanorc`` settings as {'section.option': value}."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str   # floatX, not floatx
    try:
        parser.read(_theanorc_files())
    except configparser.Error:
        return {}  # Theano itself reports a broken .theanorc
    return {('' if section == 'global' else section + '.') + option: value
            for section in parser.sections()
            for option, value in parser.items(section)}


def user_flags():
    """Every flag the user sets, THEANO_FLAGS over .theanorc."""
    flags = _theanorc()
    flags.update(_flags_dict(os.environ.get('THEANO_FLAGS', '')))
    return flags


def _is_gpu(device):
    return device.startswith(('cuda', 'opencl', 'gpu'))


def _is_true(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')


#######################################
# BLAS: what Theano's C code links with
#######################################

#: The BLAS routines Theano's C code declares (``sgemm_``, ``dgemv_``...).
BLAS_ROUTINES = ['%s%s_' % (p, r) for p in 'sdcz'
                 for r in ('gemm', 'gemv', 'ger', 'dot', 'copy', 'axpy',
                           'scal', 'swap', 'symm', 'syrk', 'trmm', 'trsm')]


def _site_file(package, pattern):
    """Files matching ``pattern`` beside an installed package (not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return []
    site = os.path.dirname(os.path.dirname(spec.origin))
    return sorted(glob.glob(os.path.join(site, pattern)))


def openblas_wheel_ldflags():
    """Link flags for the OpenBLAS of the ``scipy-openblas32`` wheel, or None.

    It is a recent OpenBLAS (0.3.30+) that knows today's CPUs, which makes
    the tutorial's epoch about 1.5x faster here than the 0.3.21 inside
    SciPy 1.11's wheel.  Its symbols carry a ``scipy_`` prefix, so the
    ``-D`` flags rename the calls in Theano's C code (``blas.ldflags``
    non-library flags are compiler flags of every BLAS op).
    """
    for path in _site_file('scipy_openblas32',
                           'scipy_openblas32/lib/libscipy_openblas.so'):
        return '-L%s -lscipy_openblas %s' % (
            os.path.dirname(path),
            ' '.join('-D%s=scipy_%s' % (r, r) for r in BLAS_ROUTINES))
    return None


def scipy_openblas_ldflags():
    """``-L<dir> -l<name>`` for the OpenBLAS inside SciPy's wheel, or None.

    SciPy's manylinux wheels ship ``scipy.libs/libopenblasp-r0-<hash>.so``
    with the plain Fortran symbols (``sgemm_``, ``dgemm_``...) that Theano's
    C code calls.  NumPy's own copy uses 64-bit-integer symbols with a
    ``64_`` suffix, which Theano cannot link.
    """
    for path in _site_file('scipy', 'scipy.libs/libopenblas*.so'):
        name = re.sub(r'^lib|\.so$', '', os.path.basename(path))
        return '-L%s -l%s' % (os.path.dirname(path), name)
    return None


def default_blas_ldflags():
    """The ``blas.ldflags`` value this package supplies when the user has
    none: the fastest BLAS found, or '' (Theano calls BLAS through NumPy)."""
    return openblas_wheel_ldflags() or scipy_openblas_ldflags() or ''


#################
# Which engine
#################

def choose_engine():
    """'theano' or 'pytensor', as LOGREG_MNIST_ENGINE or the system says."""
    choice = os.environ.get(ENGINE_VARIABLE, 'auto').strip().lower()
    if choice not in ('auto', 'theano', 'pytensor'):
        raise EngineError('%s=%s: choose theano, pytensor or auto'
                          % (ENGINE_VARIABLE, choice))
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
_flags = user_flags()
_gpu_asked = _is_gpu(_flags.get('device', 'cpu'))
_force = _is_true(_flags.get('force_device', 'false'))


def _flag_error(problem):
    """An EngineError for a flag the engine refused, naming where it is."""
    flags = os.environ.get('THEANO_FLAGS')
    where = 'THEANO_FLAGS=%s' % flags if flags else ' or '.join(
        _theanorc_files())
    return EngineError('%s: %s' % (where, problem))


def _cannot_use_gpu(reason):
    """The one line said when device=cuda cannot be honoured."""
    message = 'THEANO_FLAGS asks for device=%s but %s' % (
        _flags['device'], reason)
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
    flags = os.environ.get('THEANO_FLAGS', '')
    if 'blas.ldflags' not in _flags:   # the user's own value wins
        # Theano splits THEANO_FLAGS on commas (with shell-like quoting).
        entry = 'blas.ldflags="%s"' % default_blas_ldflags()
        flags = entry + (',' + flags if flags else '')
    # Without pygpu, Theano logs a stack-trace-shaped error and quietly runs
    # on the CPU; we say it in one line instead.
    missing_pygpu = _gpu_asked and importlib.util.find_spec('pygpu') is None
    if missing_pygpu:
        logging.getLogger('theano.gpuarray').setLevel(logging.CRITICAL)
    # Theano's GPU module imports pkg_resources, which warns about itself.
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    try:
        with _environment_variable('THEANO_FLAGS', flags):
            import theano
            import theano.tensor
    except ValueError as e:  # Theano's own check of a flag's value
        raise _flag_error(e) from e
    if missing_pygpu:
        _cannot_use_gpu('pygpu, the GPU backend of Theano 1.0.5 (Debian '
                        'package python3-pygpu), is not installed')
    return theano, theano.tensor


############
# PyTensor #
############

#: THEANO_FLAGS that are about GPUs: handled here, not passed on.
_GPU_FLAGS = ('device', 'force_device', 'init_gpu_device', 'contexts')


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
    number = re.sub(r'\D', '', _flags['device']) or '0'
    if int(number) >= len(gpus):
        return None, 'JAX finds %d GPU(s)' % len(gpus)
    return gpus[int(number)], None


def _pytensor_flags():
    """THEANO_FLAGS (and .theanorc) as PYTENSOR_FLAGS, and the JAX device."""
    device = _flags.get('device', 'cpu')
    if not re.match(r'(cpu|cuda\d*|gpu\d*|opencl[\d:]*)$', device):
        # what Theano says of it, word for word
        raise _flag_error(
            'Invalid value ("%s") for configuration variable "device". Valid '
            'options start with one of "cpu", "opencl" or "cuda".' % device)
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


def _import_pytensor():
    flags, gpu = _pytensor_flags()
    mapped = ','.join('%s=%s' % (k, v) for k, v in flags.items()
                      if ',' not in v)
    own = os.environ.get('PYTENSOR_FLAGS', '')
    # pip's PyTensor warns that it found no BLAS of conda's; it has ours
    warnings.filterwarnings('ignore', message='PyTensor could not link to a '
                            'BLAS installation')
    try:
        with _environment_variable('PYTENSOR_FLAGS', ','.join(
                f for f in (mapped, own) if f)):
            import pytensor
            import pytensor.tensor
            from pytensor.tensor.special import softmax
    except ValueError as e:
        raise _flag_error(e) from e
    if str(pytensor.config.mode) == 'JAX':
        if importlib.util.find_spec('jax') is None:
            raise _flag_error('mode=JAX needs JAX, which is not installed '
                              '(pip install -e ".[jax]", or ".[cuda]")')
        import jax
        jax.config.update('jax_enable_x64', True)   # float64 means float64
        if gpu is not None:
            jax.config.update('jax_default_device', gpu)
        global _jax_device
        _jax_device = gpu or jax.devices()[0]

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
    if jax_mode() and _jax_device.platform != 'cpu':
        return '%s%d' % (_jax_device.platform, _jax_device.id)
    return 'cpu'


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
if NAME == 'pytensor':   # and the backend that runs its functions
    from pytensor.compile.mode import get_default_mode
    ENGINE += ' (%s)' % type(get_default_mode().linker).__name__.replace(
        'Linker', '')


def describe():
    """One line saying which engine, device and floatX this run uses."""
    return '... using %s on device %s with floatX=%s' % (
        ENGINE, device(), theano.config.floatX)


def minibatch(x, y, set_x, set_y, index, batch_size):
    """``givens`` that make ``x`` and ``y`` the ``index``-th minibatch of a
    shared dataset: the function reads it in place, nothing is copied.

    The tutorial slices ``set_x[index * batch_size: (index + 1) *
    batch_size]``.  JAX cannot compile a slice whose start is symbolic, so
    under JAX the full minibatches are viewed as a (n_batches, batch_size,
    n_in) array and indexed instead (a trailing partial batch is left out).
    """
    if not jax_mode():
        return {x: set_x[index * batch_size: (index + 1) * batch_size],
                y: set_y[index * batch_size: (index + 1) * batch_size]}
    n = n_batches(set_x, batch_size, partial=False)
    width = set_x.get_value(borrow=True).shape[1]
    return {x: set_x[:n * batch_size].reshape((n, batch_size, width))[index],
            y: set_y[:n * batch_size].reshape((n, batch_size))[index]}


def n_batches(set_x, batch_size, partial=False):
    """Minibatches in a shared dataset; with ``partial``, a last, shorter
    one counts too (except under JAX, which only takes full ones)."""
    n = set_x.get_value(borrow=True).shape[0]
    if partial and not jax_mode():
        return -(-n // batch_size)
    return n // batch_size
