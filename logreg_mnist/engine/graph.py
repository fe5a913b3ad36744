"""What the lesson's graph needs of the engine that runs it: how a compiled
function reads one minibatch of a shared dataset, how many there are, the
exact error rate, and compiling before the clock starts.

The lesson (``training``, ``sgd``, ``conjugate_gradient``) uses these and
stays the same on every engine; the differences are here.  PyTensor's JAX
mode (``device=cuda``, or ``mode=JAX``) cannot compile a slice whose start
is symbolic, computes the error rate its own way, and compiles at the first
call, as PyTensor's Numba backend does.
"""
from .runtime import jax_mode


def minibatch(x, y, set_x, set_y, index, batch_size):
    """``givens`` that put minibatch ``index`` of a shared dataset in place
    of the symbolic ``x`` and ``y``: the function reads the rows where they
    are, on the CPU or the GPU, and nothing is copied per call.

    The usual form is a slice from ``index * batch_size``.  JAX cannot
    compile a slice whose start is symbolic, so under JAX the whole
    minibatches are seen as an array of shape (batches, batch_size, ...)
    and ``index`` picks one of them (a last, partial batch is left out).
    """
    if not jax_mode():
        rows = slice(index * batch_size, (index + 1) * batch_size)
        return {x: set_x[rows], y: set_y[rows]}
    n = n_batches(set_x, batch_size)
    width = set_x.get_value(borrow=True).shape[1]
    whole = n * batch_size
    return {x: set_x[:whole].reshape((n, batch_size, width))[index],
            y: set_y[:whole].reshape((n, batch_size))[index]}


def n_batches(set_x, batch_size, partial=False):
    """How many minibatches a shared dataset holds; with ``partial`` a
    shorter last one counts too (not under JAX, see ``minibatch``)."""
    rows = set_x.get_value(borrow=True).shape[0]
    if partial and not jax_mode():
        return -(-rows // batch_size)
    return rows // batch_size


def exact_errors(compiled, batch_size):
    """``compiled``, an ``f(index)`` giving a zero-one loss -- a count of
    mistakes over ``batch_size`` -- as the CPU computes that fraction.

    JAX computes it its own way -- in float32 mode in float32 (0.475
    becomes 0.47500002), in float64 possibly an ulp away from the correctly
    rounded quotient -- and an ulp decides whether an equal validation
    error counts as a new best.  Under JAX it is therefore rounded back to
    the exact count's fraction: the printed trace is then the CPU's, line
    for line.  Elsewhere ``compiled`` is returned as it is.
    """
    if not jax_mode():
        return compiled

    def exact(i):
        return round(float(compiled(i)) * batch_size) / batch_size
    return exact


def compile_now(params, functions):
    """Call each compiled ``f(i)`` once, on minibatch 0, and put ``params``
    back as they were.

    Theano compiles a function when it is built, but PyTensor's Numba and
    JAX backends do it at its first call: without this, the first run on
    a new machine would count tens of seconds of compiling as training
    time.  The values are restored exactly, so the run that follows is the
    one that would have run.
    """
    saved = [param.get_value() for param in params]
    for function in functions:
        function(0)
    for param, value in zip(params, saved):
        param.set_value(value)
