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
