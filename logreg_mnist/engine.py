"""Where the graph engine is imported and configured, once.

Every other module writes ``from .engine import theano, T`` and then uses the
tutorial's spelling (``theano.shared``, ``theano.function``, ``T.nnet.softmax``).

Theano 1.0.5 is frozen in 2020 and needs some help to import on today's
machines:

* It asks ``numpy.distutils`` for the BLAS that numpy was built with, and that
  private interface is gone from modern numpy wheels, so ``import theano``
  crashes unless the ``blas.ldflags`` flag is set.  When neither
  ``THEANO_FLAGS`` nor a ``.theanorc`` sets it, we supply a value here, before
  Theano is imported.  A user's own setting always wins.
* The value we supply links Theano's C code against a recent OpenBLAS from
  the ``scipy-openblas32`` wheel (a dependency), or else the older one inside
  SciPy's wheel.  If neither can be found we fall back to an empty value,
  which makes Theano call BLAS through NumPy's C API: slower, but it works
  everywhere.
"""
import configparser
import glob
import importlib.util
import logging
import os
import re
import sys
import warnings

from .errors import EngineError


def _flags_dict(flags):
    """Parse a ``THEANO_FLAGS`` string into a dict (later entries win)."""
    out = {}
    for item in flags.split(','):
        if '=' in item:
            key, value = item.split('=', 1)
            out[key.strip()] = value.strip()
    return out


def _theanorc_files():
    """The config files Theano reads, as it finds them (``THEANORC``)."""
    paths = os.environ.get('THEANORC', '~/.theanorc')
    return [os.path.expanduser(p) for p in paths.split(os.pathsep) if p]


def user_sets(section, option):
    """True when THEANO_FLAGS or a .theanorc file sets ``section.option``."""
    if '%s.%s' % (section, option) in _flags_dict(
            os.environ.get('THEANO_FLAGS', '')):
        return True
    parser = configparser.RawConfigParser()
    try:
        parser.read(_theanorc_files())
    except configparser.Error:
        return False  # Theano itself will report a broken .theanorc
    return parser.has_option(section, option)


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


def configure_theano_flags():
    """Add our defaults to THEANO_FLAGS before Theano reads it."""
    if user_sets('blas', 'ldflags'):
        return
    flags = os.environ.get('THEANO_FLAGS', '')
    # Theano splits THEANO_FLAGS on commas (with shell-like quoting).
    entry = 'blas.ldflags="%s"' % default_blas_ldflags()
    os.environ['THEANO_FLAGS'] = entry + (',' + flags if flags else '')


def requested_device():
    """The device THEANO_FLAGS (or .theanorc) asks for, before import."""
    device = _flags_dict(os.environ.get('THEANO_FLAGS', '')).get('device')
    if device is None:
        parser = configparser.RawConfigParser()
        try:
            parser.read(_theanorc_files())
            device = parser.get('global', 'device', fallback='cpu')
        except configparser.Error:
            device = 'cpu'
    return device


def _is_gpu(device):
    return device.startswith(('cuda', 'opencl', 'gpu'))


configure_theano_flags()

# Theano's GPU backend is libgpuarray's ``pygpu``.  Without it Theano logs a
# stack-trace-shaped error and quietly runs on the CPU; say it in one line
# instead (and exit when the user insists with force_device=True).
_missing_pygpu = (_is_gpu(requested_device()) and
                  importlib.util.find_spec('pygpu') is None)
if _missing_pygpu:
    logging.getLogger('theano.gpuarray').setLevel(logging.CRITICAL)
# Theano's GPU module imports pkg_resources, which warns about itself.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                        category=UserWarning)

try:
    import theano  # noqa: E402  (must come after the flags are set)
    import theano.tensor as T  # noqa: E402,F401
except ValueError as e:  # Theano's own check of a flag's value
    raise EngineError('THEANO_FLAGS: %s' % e) from e

ENGINE = 'Theano %s' % theano.__version__


def _gpu_active():
    import theano.gpuarray
    return theano.gpuarray.pygpu_activated


def device():
    """The device this run really computes on."""
    if _is_gpu(theano.config.device) and _gpu_active():
        return theano.config.device
    return 'cpu'


if _missing_pygpu:
    _msg = ('THEANO_FLAGS asks for device=%s but pygpu, the GPU backend of '
            'Theano 1.0.5 (Debian package python3-pygpu), is not installed'
            % theano.config.device)
    if theano.config.force_device:
        raise EngineError(_msg + ' and force_device=True')
    print('WARNING: %s; running on the CPU.' % _msg, file=sys.stderr)


def describe():
    """One line saying which engine, device and floatX this run uses."""
    return '... using %s on device %s with floatX=%s' % (
        ENGINE, device(), theano.config.floatX)
