"""What ``start`` found and made: the engine's name and modules, the
user's flags, the device; and what is said of a flag the engine refused.

Everything here is empty until ``start`` runs; the other modules read it
as ``state.NAME``, ``state.flags``... at call time."""
import contextlib
import os
import re
import sys

from ..errors import EngineError, QUOTE_MOST, cut
from .flags import is_gpu, is_true, parse, setting, short, theanorc_files
from .flags import unknown, user_flags

#: 'theano' or 'pytensor' once started, else None.
NAME = None
#: The engine's module and its tensor module, as the tutorial names them.
theano = T = None
#: The engine and its version ('PyTensor 3.3.7 (Numba)'), and the same
#: for functions compiled in ``ops.C_MODE``.
ENGINE = C_ENGINE = None
#: The user's flags: {flag: (value, where it is set)} and {flag: value}.
origins = {}
flags = {}
#: Whether the flags ask for a GPU, and insist on it (force_device).
gpu_asked = force = False
#: Where JAX runs the functions under PyTensor's JAX mode, and 'cudaN'
#: when that is a GPU.
jax_device = jax_gpu_name = None

#: The precisions the model is built for.
FLOATX = ('float64', 'float32')


def read_flags():
    """Read THEANO_FLAGS and the .theanorc files (see ``flags``)."""
    global origins, flags, gpu_asked, force
    origins = user_flags()
    flags = {name: value for name, (value, _) in origins.items()}
    gpu_asked = is_gpu(flags.get('device', 'cpu'))
    force = is_true(flags.get('force_device', 'false'))


def bounded(text):
    """``text`` (what the engine, the compiler or the linker says of a
    flag) with the long flag names and values it repeats cut short, and
    cut as a whole: a flag may be thousands of characters long."""
    seen = dict(flags)
    with contextlib.suppress(EngineError):
        seen.update(parse(os.environ.get('PYTENSOR_FLAGS', ''),
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


def flag_error(problem, name=None):
    """An EngineError for a flag the engine refused, naming where it is
    set (the flag ``name``, when it is known which); the long names and
    values in ``problem`` are cut short."""
    text = os.environ.get('THEANO_FLAGS')
    where = setting('THEANO_FLAGS', text) if text else ' or '.join(
        theanorc_files())
    if name in origins:
        where = origins[name][1]
    return EngineError('%s: %s' % (where, bounded(str(problem))))


def check_flags(known, handled=()):
    """EngineError for a flag the engine does not have (the engines only
    warn, and run on with their defaults) or a floatX we do not run."""
    for name in flags:
        if name not in known and name not in handled:
            raise flag_error(unknown(name, sorted(known)), name)
    floatX = theano.config.floatX
    if floatX not in FLOATX:
        raise flag_error('the model runs in float32 or float64, not %s'
                         % short(floatX), 'floatX')


def cannot_use_gpu(reason):
    """The one line said when device=cuda cannot be honoured."""
    message = 'THEANO_FLAGS asks for device=%s but %s' % (
        short(flags['device']), reason)
    if force:
        raise EngineError(message + ' and force_device=True')
    print('WARNING: %s; running on the CPU.' % message, file=sys.stderr)
