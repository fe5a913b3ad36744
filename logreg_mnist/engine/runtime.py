"""What the other modules ask of the engine: the device, the host copies
of values, the lines a run prints.  Each of these starts the engine (see
``start``) when it has not started yet."""
import contextlib

from . import state
from .flags import is_gpu


def _started():
    """Start the engine unless it runs; ``start`` says which it is."""
    if state.ENGINE is None:
        from . import start
        start()


def jax_mode():
    """True when compiled functions run through JAX (PyTensor only)."""
    _started()
    return (state.NAME == 'pytensor'
            and str(state.theano.config.mode) == 'JAX')


def device():
    """The device this run really computes on."""
    _started()
    theano = state.theano
    if state.NAME == 'theano':
        if is_gpu(theano.config.device):
            from theano import gpuarray
            if gpuarray.pygpu_activated:
                return theano.config.device
        return 'cpu'
    return state.jax_gpu_name or 'cpu'


def device_name():
    """The GPU's model when computing on one, else None."""
    if device() == 'cpu':
        return None
    if state.NAME == 'pytensor':
        return state.jax_device.device_kind
    return state.theano.gpuarray.get_context(None).devname


def blas_ldflags():
    """The ``blas.ldflags`` the engine's C code links with."""
    _started()
    if state.NAME == 'theano':
        return state.theano.config.blas.ldflags
    return state.theano.config.blas__ldflags


def engine_names():
    """``(ENGINE, C_ENGINE)``: the engine and its version, with the
    backend that runs its functions ('PyTensor 3.3.7 (Numba)'), and the
    same for functions compiled in ``ops.C_MODE``."""
    engine = '%s %s' % ('Theano' if state.NAME == 'theano' else 'PyTensor',
                        state.theano.__version__)
    if state.NAME == 'theano':
        return engine, engine
    from pytensor.compile.mode import get_default_mode
    linker = type(get_default_mode().linker).__name__.replace('Linker', '')
    return '%s (%s)' % (engine, linker), engine + ' (C)'


def describe():
    """One line saying which engine, device and floatX this run uses."""
    _started()
    return '... using %s on device %s with floatX=%s' % (
        state.ENGINE, device(), state.theano.config.floatX)


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


def runs_c_ops():
    """True when functions compiled in ``C_MODE`` can run ops written in
    C: on the CPU, not through JAX, with a C++ compiler, in the default
    (FAST_RUN) mode."""
    _started()
    return (device() == 'cpu' and not jax_mode()
            and bool(state.theano.config.cxx)
            and str(state.theano.config.mode) in ('Mode', 'FAST_RUN'))
