"""The base classes and the mode of ops written in C (see ``kernel``)."""
from . import state


def c_op_bases():
    """``(Apply, COp)`` of the started engine."""
    if state.NAME == 'theano':
        from theano.gof import Apply, Op as COp
    else:
        from pytensor.graph.basic import Apply
        from pytensor.link.c.op import COp
    return Apply, COp


def c_mode():
    """The mode for functions holding C ops: Theano's default one;
    PyTensor's C backend (its default one, Numba, cannot run C code)."""
    return None if state.NAME == 'theano' else 'CVM'


def op_classes(module, codes):
    """The C ops made of the classes ``codes`` (``_Step`` makes ``Step``)
    and the started engine's ``COp``, with ``dtype`` as their one
    property.  ``module`` is where they are found by name, as the pickles
    of the engine's cache keys look for them."""
    from . import start
    start()
    COp = c_op_bases()[1]
    return tuple(type(code.__name__.lstrip('_'), (code, COp), {
        '__props__': ('dtype',), '__doc__': code.__doc__,
        '__module__': module}) for code in codes)
