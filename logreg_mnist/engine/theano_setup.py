"""Theano 1.0.5 imported on today's machines, and its fixes.

It asks ``numpy.distutils`` for NumPy's BLAS, an interface gone from
modern NumPy wheels, so ``import theano`` crashes unless ``blas.ldflags``
is set: when the user sets none, ``blas.default_ldflags`` is handed to it.
It reaches a GPU only through libgpuarray's ``pygpu``; without it
``device=cuda`` warns in one line and runs on the CPU (or fails with
``force_device=True``).  Its compiled modules are found again by the next
process (``keep_compiled_modules``)."""
import contextlib
import importlib.util
import logging
import os
import sys
import warnings

from . import state
from .blas import default_ldflags
from .compiler import (check_compiler, compile_failure, compiledir_error,
                       environment_variable, in_compile_cache, is_clang,
                       remember_march_flags, watch_compile_lock)
from .flags import join, parse


def import_theano():
    """``(theano, theano.tensor)``, configured by the user's flags."""
    user = state.flags
    if user.get('mode', '').upper() == 'JAX':   # Theano would list its modes
        raise state.flag_error('mode=JAX is a PyTensor mode, which Theano '
                               '1.0.5 does not have (use Python 3.12+ or '
                               '--engine pytensor)')
    # What Theano is handed: the user's THEANO_FLAGS (read as Theano reads
    # them, which user_flags checked) with our entries, written back by
    # flags.join so that Theano reads every value as it is.
    flags = {}
    if 'blas.ldflags' not in user:   # the user's own value wins
        flags['blas.ldflags'] = default_ldflags()
    flags.update(parse(os.environ.get('THEANO_FLAGS', '')))
    if is_clang(user.get('cxx', 'g++')):
        # clang refuses narrowing conversions in the C++ that Theano 1.0.5
        # generates; the user's own gcc.cxxflags come after, and win.
        flags['gcc.cxxflags'] = ('-Wno-c++11-narrowing %s' % user.get(
            'gcc.cxxflags', '')).strip()
    # Without pygpu, Theano logs a stack-trace-shaped error and quietly runs
    # on the CPU; we say it in one line instead.
    missing_pygpu = (state.gpu_asked
                     and importlib.util.find_spec('pygpu') is None)
    if missing_pygpu:
        logging.getLogger('theano.gpuarray').setLevel(logging.CRITICAL)
    watch_compile_lock('theano.gof.compilelock', logging.INFO,
                       'Waiting for existing lock')
    # Theano's GPU module imports pkg_resources, which warns about itself.
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    # (unknown flags are refused in one line, see state.check_flags)
    warnings.filterwarnings('ignore', message='Theano does not recognise')
    check_compiler()
    try:
        with environment_variable('THEANO_FLAGS', join(flags)), \
                pythons_own_distutils():
            import theano
            import theano.tensor
    except ValueError as e:  # Theano's own check of a flag's value
        raise compiledir_error(e) or state.flag_error(e) from e
    except Exception as e:   # it compiles its own C while importing
        problem = (compile_failure(e, user.get('cxx', 'g++'))
                   or compiledir_error(e))
        if problem is None:
            raise
        raise problem from e
    if missing_pygpu:
        state.cannot_use_gpu('pygpu, the GPU backend of Theano 1.0.5 (Debian '
                             'package python3-pygpu), is not installed')
    keep_compiled_modules(theano)
    from theano.gof.cmodule import GCC_compiler
    remember_march_flags(GCC_compiler, 'Theano ' + theano.__version__,
                         theano.config)
    logging.getLogger('theano.gof.opt').addFilter(_NoDamagedCacheReports())
    return theano, theano.tensor


@contextlib.contextmanager
def pythons_own_distutils():
    """Let Theano import Python's own ``distutils`` in the block, not
    setuptools' copy.  Theano asks distutils for the compiler's path when
    it is imported; where setuptools puts its copy first (its
    ``_distutils_hack``, as in a venv), that import brings all of
    setuptools and pkg_resources along: 0.2 s of every start.  Python 3.10
    and 3.11, the only ones Theano runs on, have their own where Debian's
    python3-distutils or python.org put it.  After the block its modules
    leave ``sys.modules`` (Theano keeps the ones it holds), so that what
    imports distutils or setuptools later finds things as they were."""
    hack = sys.modules.get('_distutils_hack')
    finder = getattr(hack, 'DISTUTILS_FINDER', None)
    if finder is None or finder not in sys.meta_path or \
            'distutils' in sys.modules:
        yield
        return
    sys.meta_path.remove(finder)
    try:
        if importlib.util.find_spec('distutils') is None:
            sys.meta_path.insert(0, finder)   # (none of its own)
            finder = None
        yield
    finally:
        if finder is not None:
            sys.meta_path.insert(0, finder)
            for name in [name for name in sys.modules
                         if name.partition('.')[0] == 'distutils']:
                del sys.modules[name]


def known_flags():
    """The names of the flags Theano has."""
    from theano.configparser import _config_var_list
    return {var.fullname for var in _config_var_list}


class _NoDamagedCacheReports(logging.Filter):
    """Keeps Theano's optimizer from logging, with a traceback each, every
    graph rewrite that failed on a damaged module of the compile cache: it
    goes on without them, and the same module fails again when the
    function is linked, which ``failure`` reports in one line."""

    def filter(self, record):
        return not in_compile_cache(sys.exc_info()[1])

def keep_compiled_modules(theano):
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
