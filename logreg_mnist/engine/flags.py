"""What the user asks of the engine: THEANO_FLAGS and ``.theanorc``.

Theano reads both itself; PyTensor reads neither (it has its own
``PYTENSOR_FLAGS``), so ``engine`` needs them parsed the way Theano parses
them: ``.theanorc`` files first (``$THEANORC``, else ``~/.theanorc``), its
``[global]`` options bare and other sections as ``section.option``, then
``THEANO_FLAGS`` over them, the last value of a repeated flag winning.

``THEANO_FLAGS`` is split by the engines' own rules (``parse``), so a
quoted value may hold commas; what they would crash on or quietly ignore
is refused in one line that names the flag and where it is set.  What
``engine`` hands the engines is written back by ``join``, which they read
as the very values it was given.
"""
import ast
import configparser
import difflib
import errno
import io
import os
import re
import shlex
import stat

from ..errors import EngineError, QUOTE_MOST, cut, quoted

#: The largest flag file read (a .theanorc holds a few lines).
THEANORC_MOST = 1 << 20


def short(text):
    """A value from a flag or the environment as a message shows it: as it
    is, or quoted and cut short when it is long or holds control
    characters."""
    text = str(text)
    if len(text) > QUOTE_MOST or re.search(r'[\x00-\x1f\x7f]', text):
        return quoted(text)
    return text


def setting(variable, text):
    """How a message names where a flag is set: ``THEANO_FLAGS=<text>``,
    the value quoted short when it is long or holds control characters."""
    return '%s=%s' % (variable, short(text))


def _name(name):
    """A flag's name as a message shows it: quoted when it is not a plain
    name (a space, a quote, a comma), and cut short when it is long."""
    if re.fullmatch(r'[\w.]+', name) and len(name) <= QUOTE_MOST:
        return name
    return quoted(name)


def _cannot_split(splitter, error, subject):
    """What to say of the ValueError ``shlex`` raised: which quote is
    left open, or that the text ends in a backslash."""
    if 'quotation' in str(error):
        return '%s opens a quote (%s) that is never closed' % (
            subject, splitter.state)
    if 'escaped' in str(error):
        return ('%s ends in a backslash, which escapes nothing (write \\\\ '
                'for one backslash)' % subject)
    return '%s cannot be split: %s' % (subject, error)


def parse(text, variable='THEANO_FLAGS'):
    """A ``THEANO_FLAGS`` string as a dict, later entries winning.

    Split exactly as both engines' ``parse_config_string`` split it: by
    ``shlex`` in POSIX mode with ',' as the only separator, so that quotes
    group (``gcc.cxxflags="-O2 -Wl,-rpath=/x"`` is one entry) and vanish,
    a backslash escapes, and '#' starts a comment; each entry is stripped
    of spaces as a whole and cut at its first '='.  Where the engines
    would raise ValueError (a quote never closed, a backslash at the end)
    or warn in two lines and ignore an entry (one without '='), this is an
    EngineError of one line naming the entry and ``variable``."""
    splitter = shlex.shlex(text, posix=True)
    splitter.whitespace = ','
    splitter.whitespace_split = True
    out = {}
    while True:
        try:
            item = splitter.get_token()
        except ValueError as e:
            partial = splitter.token   # the entry read so far
            subject = ('the value of %s' % _name(partial.split('=', 1)[0])
                       if '=' in partial else quoted(partial.strip()))
            raise EngineError('%s: %s' % (setting(variable, text),
                                          _cannot_split(splitter, e,
                                                        subject))) from None
        if item is None:   # (POSIX mode's end of the text)
            return out
        item = item.strip()
        if not item:
            continue
        if '=' not in item:
            # Theano and PyTensor warn and go on without it: a typo, most
            # likely, that would leave a setting quietly unmade.
            raise EngineError('%s: %s sets no flag (write name=value)'
                              % (setting(variable, text), quoted(item)))
        key, value = item.split('=', 1)
        out[key] = value


def entry(name, value):
    """``name=value`` written so that ``parse`` (and the engines) read back
    exactly that name and value -- as ``parse`` and ``.theanorc`` give
    them, with no spaces at the ends of the entry, which the reading
    strips: in single quotes, which keep every character but the single
    quote itself as it is."""
    return "'%s'" % ('%s=%s' % (name, value)).replace("'", "'\"'\"'")


def join(flags):
    """A dict of flags as one string the engines read back as that dict."""
    return ','.join(entry(name, value) for name, value in flags.items())


def split_value(name, value, where):
    """The words of the value of the flag ``name``, split as a shell (and
    PyTensor, for ``blas.ldflags``) splits them; an EngineError naming the
    flag and ``where`` it is set when that cannot be done."""
    splitter = shlex.shlex(value, posix=True)
    splitter.whitespace_split = True
    splitter.commenters = ''   # as shlex.split
    try:
        return list(splitter)
    except ValueError as e:
        raise EngineError('%s: %s' % (where, _cannot_split(
            splitter, e, '%s %s' % (_name(name), quoted(value))))) from None


def theanorc_files():
    """The config files Theano reads, in its order (``$THEANORC``)."""
    paths = os.environ.get('THEANORC', '~/.theanorc')
    return [os.path.expanduser(p) for p in paths.split(os.pathsep) if p]


def _not_a_file(path, mode):
    """EngineError for a flag file that is not a regular file: a FIFO
    would wait for a writer, maybe forever, and a device may never end."""
    if stat.S_ISDIR(mode):
        return EngineError('%s: %s' % (path, os.strerror(errno.EISDIR)))
    return EngineError('%s is not a regular file' % path)


def _read_flag_file(path):
    """The bytes of the flag file ``path``; FileNotFoundError when there
    is none, EngineError when it is not a regular file or is larger than
    ``THEANORC_MOST``.  What is not a regular file is never opened (the
    stat comes first), and what was swapped for one after the stat is
    opened without waiting and refused."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _not_a_file(path, mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, 'rb') as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode)
        data = f.read(THEANORC_MOST + 1)
    if len(data) > THEANORC_MOST:
        raise EngineError('%s: a flag file of more than %d MB; a .theanorc '
                          'holds a few lines such as floatX = float32'
                          % (path, THEANORC_MOST >> 20))
    return data


def read_theanorc(path):
    """The settings of one ``.theanorc`` as {'section.option': value} ({}
    when there is no such file); EngineError, naming the file, when it
    cannot be read or parsed, is not a regular file or is over 1 MB --
    never a file quietly ignored."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str   # floatX, not floatx
    try:
        text = _read_flag_file(path).decode('utf-8')
        # (newlines as a file opened as text has them: \r\n and \r too)
        parser.read_file(io.StringIO(text, newline=None), path)
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
        raise EngineError('%s, line %d: cannot read %s as a flag or a '
                          '[section]' % (path, lineno, quoted(line.strip()))
                          ) from None
    except configparser.DuplicateSectionError as e:
        raise EngineError('%s, line %s: section %s is there twice'
                          % (path, e.lineno, quoted(e.section))) from None
    except configparser.DuplicateOptionError as e:
        raise EngineError('%s, line %s: %s is set twice in [%s]'
                          % (path, e.lineno, _name(e.option),
                             short(e.section))) from None
    except configparser.Error as e:
        raise EngineError('%s: %s' % (path, cut(' '.join(
            str(e).replace(repr(path), '').split()), 2 * QUOTE_MOST))
                          ) from None
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
    where = setting('THEANO_FLAGS', text)
    flags.update((k, (v, where)) for k, v in parse(text).items())
    return flags


def unknown(name, known):
    """What to say of a flag the engine does not have: its name, and the
    closest known one when there is one."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) or [
        k for k in known if k.lower() == name.lower()]
    return 'unknown flag %s%s' % (
        _name(name), ' (did you mean %s?)' % close[0] if close else '')


def is_gpu(device):
    """True for the device names Theano gives GPUs."""
    return device.startswith(('cuda', 'opencl', 'gpu'))


def is_true(value):
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on')
