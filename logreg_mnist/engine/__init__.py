"""Where the graph engine is chosen, configured and imported, once.

Every other module writes ``from .engine import theano, T`` and then uses the
tutorial's spelling: ``theano.shared``, ``theano.function``,
``theano.config.floatX``, ``T.matrix``, ``T.grad``, ``T.nnet.softmax``...
Everything that differs between engines lives in this package:

* ``choice``          -- which engine runs: Theano 1.0.5 where it is
  installed and can run (Python <= 3.11), else PyTensor, its maintained
  successor; ``--engine`` or ``LOGREG_MNIST_ENGINE`` choose explicitly;
* ``flags``           -- THEANO_FLAGS and ``.theanorc``, read as Theano
  reads them: they stay the user's interface under both engines;
* ``state``           -- what ``start`` found and made, and what is said of
  a flag the engine refused;
* ``compiler``        -- the C compiler, the linker and the compile cache,
  checked before the import, and their failures in one line;
* ``theano_setup``    -- Theano 1.0.5 imported on today's machines, and
  its fixes;
* ``pytensor_setup``  -- THEANO_FLAGS translated to PyTensor's, and
  ``device=cuda`` run through PyTensor's JAX mode;
* ``blas``            -- the BLAS the engines' C code links with;
* ``runtime``         -- the device, host copies of values, the lines a run
  prints;
* ``graph``           -- what the lesson's graph needs of the engine:
  minibatches, their number, exact error rates, compiling ahead;
* ``ops`` / ``kernel`` -- ops written in C, and the float32 CPU kernel
  (``kernel.c``).

``start(name)`` does the choosing, configuring and importing, once.  The
commands call it after parsing their arguments; a library user need not:
``theano`` and ``T`` here stand in for the engine's modules and start it
when first used, and so do the names that depend on it (``NAME``,
``ENGINE``, ``C_ENGINE``, ``C_MODE``, ``Apply``, ``COp``).  Importing a
module of the package starts nothing.
"""
from ..errors import EngineError
from . import state
from .choice import CHOICES, choose_engine
from .compiler import build_problem, failure, is_clang
from .runtime import (blas_ldflags, compiling_line, describe, device,
                      device_name, host_array, jax_mode, quiet_autocast,
                      runs_c_ops, values_on_host)
from .state import FLOATX

__all__ = ['CHOICES', 'FLOATX', 'T', 'blas_ldflags', 'build_problem',
           'choose_engine', 'compiling_line', 'describe', 'device',
           'device_name', 'failure', 'host_array', 'is_clang', 'jax_mode',
           'quiet_autocast', 'runs_c_ops', 'start', 'started', 'theano',
           'values_on_host']


def start(name=None):
    """Choose the engine -- ``name`` ('theano', 'pytensor' or 'auto'),
    else ``$LOGREG_MNIST_ENGINE``, else auto -- configure it from the
    user's flags and import it; once: later calls do nothing, and one that
    names another engine than the one running is an EngineError."""
    if state.ENGINE is not None:
        wanted = name and str(name).strip().lower()
        if wanted == 'auto':
            wanted = choose_engine(wanted)
        if wanted and wanted != state.NAME:
            raise EngineError('the %s engine already runs in this process; '
                              'it cannot change to %s' % (state.NAME, name))
        return
    chosen = choose_engine(name)
    try:
        state.NAME = chosen
        state.read_flags()
        if chosen == 'theano':
            from .theano_setup import import_theano, known_flags
            state.theano, state.T = import_theano()
            state.check_flags(known_flags())
        else:
            from .pytensor_setup import import_pytensor, known_flags
            state.theano, state.T = import_pytensor()
            state.check_flags(*known_flags())
        from .runtime import engine_names
        state.ENGINE, state.C_ENGINE = engine_names()
    except BaseException:
        state.NAME = state.theano = state.T = None
        raise


def started():
    """True once ``start`` has run (and succeeded)."""
    return state.ENGINE is not None


class _Started(object):
    """Stands in for one of the engine's modules (``theano`` or ``T``):
    starts the engine when first used, then hands everything on to it."""
    __slots__ = ('_which',)

    def __init__(self, which):
        object.__setattr__(self, '_which', which)

    def _module(self):
        start()
        return getattr(state, self._which)

    def __getattr__(self, name):
        return getattr(self._module(), name)

    def __setattr__(self, name, value):
        setattr(self._module(), name, value)

    def __dir__(self):
        return dir(self._module())

    def __repr__(self):
        if not started():
            return '<the engine\'s %s module, not started yet>' % self._which
        return repr(self._module())


theano = _Started('theano')
T = _Started('T')


def __getattr__(name):
    """The names that depend on which engine runs, started on first use."""
    if name in ('NAME', 'ENGINE', 'C_ENGINE'):
        start()
        return getattr(state, name)
    if name == 'C_MODE':
        from .ops import c_mode
        start()
        return c_mode()
    if name in ('Apply', 'COp'):
        from .ops import c_op_bases
        start()
        return dict(zip(('Apply', 'COp'), c_op_bases()))[name]
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
