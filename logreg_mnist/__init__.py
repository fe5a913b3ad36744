"""logreg-mnist: the Theano tutorial "Classifying MNIST digits using Logistic
Regression" (``logistic_sgd.py``) as an installable package.

Where to look:

* ``engine``    -- Theano or PyTensor chosen, configured and imported, once
* ``model``     -- ``LogisticRegression``, the model
* ``modelfile`` -- saving a model, and reading one back without running code
* ``data``      -- ``load_data``, ``shared_dataset`` and the file formats
* ``training``  -- what SGD and CG share: minibatches, outputs, the best model
* ``sgd``       -- ``sgd_optimization_mnist``: compiled functions and the loop
* ``engine.kernel`` -- the float32 CPU kernel (``kernel.c``) its steps use
* ``train`` / ``predict`` / ``cg`` / ``plot`` / ``benchmark`` -- the commands

The public names below are imported on first use, so that ``--help`` and
``import logreg_mnist`` do not pay for importing Theano.
"""
import importlib

__version__ = '1.0.0'

#: The environment variable that chooses the engine (see ``engine``).
ENGINE_VARIABLE = 'LOGREG_MNIST_ENGINE'
#: The one that turns the float32 CPU kernel off (see ``kernel``).
KERNEL_VARIABLE = 'LOGREG_MNIST_KERNEL'

_PUBLIC = {
    'LogisticRegression': 'model',
    'load_data': 'data',
    'shared_dataset': 'data',
    'sgd_optimization_mnist': 'sgd',
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        module = importlib.import_module('.' + _PUBLIC[name], __name__)
        return getattr(module, name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
