"""What the user asks of the engine: THEANO_FLAGS and ``.theanorc``.

Theano reads both itself; PyTensor reads neither (it has its own
``PYTENSOR_FLAGS``), so ``engine`` needs them parsed the way Theano parses
them: ``.theanorc`` files first (``$THEANORC``, else ``~/.theanorc``), its
``[global]`` options bare and other sections as ``section.option``, then
``THEANO_FLAGS`` over them, the last value of a repeated flag winning.
"""
import configparser
import os


def parse(flags):
    """A ``THEANO_FLAGS`` string as a dict (later entries win)."""
    out = {}
    for item in flags.split(','):
        if '=' in item:
            key, value = item.split('=', 1)
            out[key.strip()] = value.strip().strip('"\'')
    return out


def theanorc_files():
    """The config files Theano reads, in its order (``$THEANORC``)."""
    paths = os.environ.get('THEANORC', '~/.theanorc')
    return [os.path.expanduser(p) for p in paths.split(os.pathsep) if p]


def theanorc():
    """The ``.theanorc`` settings as {'section.option': value}."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str   # floatX, not floatx
    try:
        parser.read(theanorc_files())
    except configparser.Error:
        return {}  # Theano itself reports a broken .theanorc
    return {('' if section == 'global' else section + '.') + option: value
            for section in parser.sections()
            for option, value in parser.items(section)}


def user_flags():
    """Every flag the user sets, THEANO_FLAGS over .theanorc."""
    flags = theanorc()
    flags.update(parse(os.environ.get('THEANO_FLAGS', '')))
    return flags


def is_gpu(device):
    """True for the device names Theano gives GPUs."""
    return device.startswith(('cuda', 'opencl', 'gpu'))


def is_true(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')
