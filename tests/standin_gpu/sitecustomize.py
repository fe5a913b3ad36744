"""A stand-in GPU: JAX's CPU answers when a GPU is asked for.

With this folder on ``PYTHONPATH``, ``jax.devices('gpu')`` (or 'cuda')
returns JAX's CPU devices, so that ``THEANO_FLAGS=device=cuda`` takes the
whole GPU path of the package -- PyTensor's JAX mode, data and weights
kept as device arrays, results brought back to the host -- on a machine
without a GPU.  It changes nothing where JAX is not installed.
"""
import importlib.abc
import sys


def _stand_in(jax):
    real = jax.devices

    def devices(backend=None):
        if backend in ('gpu', 'cuda'):
            return real('cpu')
        return real(backend)
    jax.devices = devices


class _PatchJaxOnImport(importlib.abc.MetaPathFinder):
    """Patches ``jax`` right after it is imported (importing it here, at
    every interpreter start, would slow every process down)."""
    busy = False

    def find_spec(self, name, path=None, target=None):
        if name != 'jax' or self.busy:
            return None
        import importlib.util
        self.busy = True
        try:
            spec = importlib.util.find_spec('jax')
        finally:
            self.busy = False
        if spec is None:
            return None
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            _stand_in(module)
        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _PatchJaxOnImport())
