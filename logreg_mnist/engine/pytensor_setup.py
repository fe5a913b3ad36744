"""PyTensor imported with the user's THEANO_FLAGS, and JAX for GPUs.

``floatX``, ``mode``, ``blas.ldflags`` and the other flags are translated
to ``PYTENSOR_FLAGS`` before PyTensor is imported (a ``PYTENSOR_FLAGS`` of
the user's own still wins); ``device`` and ``force_device`` are handled
here: ``device=cuda`` (or ``cudaN``) runs the compiled functions through
PyTensor's JAX mode on that GPU, with the shared variables kept in the
GPU's memory."""
import importlib.util
import logging
import os
import re
import types
import warnings

from . import state
from .blas import default_ldflags
from .compiler import (check_compiler, compiledir_error, environment_variable,
                       remember_march_flags, watch_compile_lock)
from .flags import join, parse, short
from .runtime import jax_mode

#: THEANO_FLAGS that are about GPUs: handled here, not passed on.
GPU_FLAGS = ('device', 'force_device', 'init_gpu_device', 'contexts')


def _gpu_number():
    """The N of ``device=cudaN`` as digits ('0' for plain cuda), or None
    when it is too large to be a GPU's."""
    number = re.sub(r'\D', '', state.flags['device']).lstrip('0') or '0'
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
    device = state.flags.get('device', 'cpu')
    if not re.match(r'(cpu|cuda\d*|gpu\d*|opencl[\d:]*)$', device):
        # what Theano says of it, word for word (unless it is long)
        shown = short(device)
        raise state.flag_error(
            'Invalid value (%s) for configuration variable "device". Valid '
            'options start with one of "cpu", "opencl" or "cuda".'
            % ('"%s"' % device if shown == device else shown))
    flags = {k.replace('.', '__'): v for k, v in state.flags.items()
             if k not in GPU_FLAGS and not k.startswith('gpuarray.')}
    flags.setdefault('blas__ldflags', default_ldflags())
    gpu = None
    if state.gpu_asked:
        gpu, reason = _jax_gpu()
        if gpu is None:
            state.cannot_use_gpu(reason)
        else:
            flags['mode'] = 'JAX'
    return flags, gpu


def _configure_jax(gpu):
    """Set JAX up for PyTensor's JAX mode, on ``gpu`` or else on the CPU."""
    if importlib.util.find_spec('jax') is None:
        raise state.flag_error('mode=JAX needs JAX, which is not installed '
                               '(pip install -e ".[jax]", or ".[cuda]")')
    import jax
    # PyTensor's JAX module turns JAX's 64-bit types on for floatX=float64
    # and off for float32 (with them on, its JAX code would compute a
    # float32 graph partly in float64) the first time it is imported:
    # import it now, so that the setting holds from the start.
    import pytensor.link.jax.dispatch  # noqa: F401
    # With 64-bit types off, JAX warns on every call that the graph's
    # int64 indices and float64 error rates are computed in 32 bits; that
    # is what float32 asks for (``graph.exact_errors`` makes the error
    # rates exact again).
    warnings.filterwarnings('ignore', message=r'Explicitly requested dtype '
                            r'\w+ requested in \w+ is not available')
    # It also warns, on every compile, that it skips the graph's shape
    # assertions (JAX cannot raise inside a traced function); the shapes
    # here are fixed when the functions are built.
    warnings.filterwarnings('ignore', message=r'Skipping .* as JAX tracing '
                            'would remove it')
    if gpu is not None:
        state.jax_device = gpu
        state.jax_gpu_name = 'cuda' + _gpu_number()
        # float32 products in float32, not TF32, as on the CPU
        jax.config.update('jax_default_matmul_precision', 'highest')
    else:   # device=cpu,mode=JAX: the CPU even where a GPU is present
        state.jax_device = jax.devices('cpu')[0]
    jax.config.update('jax_default_device', state.jax_device)


def import_pytensor():
    """The engine's modules, as the tutorial's ``theano`` and ``T``."""
    # The user's own PYTENSOR_FLAGS, read as PyTensor reads them, win; all
    # of it is written back by flags.join, which PyTensor reads as given
    # (a value may hold commas: gcc.cxxflags="-O2 -Wl,-rpath=/usr/lib").
    own = parse(os.environ.get('PYTENSOR_FLAGS', ''), 'PYTENSOR_FLAGS')
    flags, gpu = _pytensor_flags()
    check_compiler()
    flags.update(own)
    # pip's PyTensor warns that it found no BLAS of conda's; it has ours
    warnings.filterwarnings('ignore', message='PyTensor could not link to a '
                            'BLAS installation')
    warnings.filterwarnings('ignore', message='PyTensor does not recognise')
    watch_compile_lock('filelock', logging.DEBUG, ' not acquired on ')
    try:
        with environment_variable('PYTENSOR_FLAGS', join(flags)):
            import pytensor
            import pytensor.tensor
            from pytensor.tensor.special import softmax
            pytensor.config.compiledir   # made when first asked for: now
    except ValueError as e:
        raise compiledir_error(e) or state.flag_error(e) from e
    except OSError as e:
        problem = compiledir_error(e)
        if problem is None:
            raise
        raise problem from e
    if str(pytensor.config.mode) == 'JAX':
        _configure_jax(gpu)
    from pytensor.link.c.cmodule import GCC_compiler
    remember_march_flags(GCC_compiler, 'PyTensor ' + pytensor.__version__,
                         pytensor.config)

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


def known_flags():
    """The names of the flags PyTensor has, and those handled here."""
    known = {name.replace('__', '.')
             for name in state.theano.config._config_var_dict}
    return known, [name for name in state.flags if name in GPU_FLAGS
                   or name.startswith('gpuarray.')]
