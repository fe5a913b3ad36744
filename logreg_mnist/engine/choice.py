"""Which engine runs: Theano 1.0.5 where it is installed and can run
(Python <= 3.11), else PyTensor, its maintained successor."""
import importlib.util
import os
import sys

from .. import ENGINE_VARIABLE
from ..errors import EngineError
from .flags import setting, short

#: What may be asked for: an engine, or the one the system runs.
CHOICES = ('auto', 'theano', 'pytensor')


def choose_engine(name=None):
    """'theano' or 'pytensor': ``name`` (one of CHOICES) when given, else
    what ``$LOGREG_MNIST_ENGINE`` says, else the one the system runs."""
    if name is None:
        choice = os.environ.get(ENGINE_VARIABLE, 'auto').strip().lower()
        if choice not in CHOICES:
            raise EngineError('%s: choose theano, pytensor or auto'
                              % setting(ENGINE_VARIABLE, choice))
    else:
        choice = str(name).strip().lower()
        if choice not in CHOICES:
            raise EngineError('engine %s: choose theano, pytensor or auto'
                              % short(choice))
    theano_runs = sys.version_info < (3, 12)
    if choice == 'auto':
        choice = ('theano' if theano_runs and
                  importlib.util.find_spec('theano') else 'pytensor')
    if choice == 'theano' and not theano_runs:
        raise EngineError('Theano 1.0.5 does not run on Python %d.%d (3.11 '
                          'at most); use the PyTensor engine'
                          % sys.version_info[:2])
    if importlib.util.find_spec(choice) is None:
        raise EngineError('the %s engine is not installed (pip install -e . '
                          'installs Theano on Python <= 3.11 and PyTensor on '
                          '3.12+)' % choice)
    return choice
