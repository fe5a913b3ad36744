"""What the user asks of the engine: THEANO_FLAGS and ``.theanorc``.

Theano reads both itself; PyTensor reads neither (it has its own
``PYTENSOR_FLAGS``), so ``engine`` needs them parsed the way Theano parses
them: ``.theanorc`` files first (``$THEANORC``, else ``~/.theanorc``), its
``[global]`` options bare and other sections as ``section.option``, then
``THEANO_FLAGS`` over them, the last value of a repeated flag winning.
"""
import ast
import configparser
import difflib
import os

from .errors import EngineError


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


def read_theanorc(path):
    """The settings of one ``.theanorc`` as {'section.option': value} ({}
    when there is no such file); EngineError, naming the file, when it
    cannot be read or parsed -- never a file quietly ignored."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str   # floatX, not floatx
    try:
        with open(path, encoding='utf-8') as f:
            parser.read_file(f, path)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise EngineError('%s: %s' % (path, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise EngineError('%s is not a text file: a flag file holds lines '
                          'such as floatX = float32 under [global]'
                          % path) from None
    except configparser.MissingSectionHeaderError as e:
        raise EngineError('%s, line %d: a flag before any section header; '
                          'put [global] above the first one'
                          % (path, e.lineno)) from None
    except configparser.ParsingError as e:
        lineno, line = e.errors[0]
        try:   # Python <= 3.12 keeps the line's repr, 3.13 the line itself
            line = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            pass
        raise EngineError('%s, line %d: cannot read %r as a flag or a '
                          '[section]' % (path, lineno, line.strip())) from None
    except configparser.Error as e:
        raise EngineError('%s: %s' % (path, ' '.join(
            str(e).replace(repr(path), '').split()))) from None
    return {('' if section == 'global' else section + '.') + option: value
            for section in parser.sections()
            for option, value in parser.items(section)}


def user_flags():
    """Every flag the user sets, THEANO_FLAGS over .theanorc, as
    {name: (value, where it is set)}."""
    flags = {}
    for path in theanorc_files():
        flags.update((k, (v, path)) for k, v in read_theanorc(path).items())
    text = os.environ.get('THEANO_FLAGS', '')
    flags.update((k, (v, 'THEANO_FLAGS=' + text))
                 for k, v in parse(text).items())
    return flags


def unknown(name, known):
    """What to say of a flag the engine does not have: its name, and the
    closest known one when there is one."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) or [
        k for k in known if k.lower() == name.lower()]
    return 'unknown flag %s%s' % (name, ' (did you mean %s?)' % close[0]
                                  if close else '')


def is_gpu(device):
    """True for the device names Theano gives GPUs."""
    return device.startswith(('cuda', 'opencl', 'gpu'))


def is_true(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')
