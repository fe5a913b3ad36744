"""THEANO_FLAGS and ``.theanorc`` are read the way the engine reads them.

``flags.parse`` splits a THEANO_FLAGS string as the engines' own
``parse_config_string`` does (shell-like quotes, ``,`` between entries),
so a quoted value may hold commas; what the engines would refuse, or
quietly ignore, is one line naming the flag and where it is set."""
import os
import subprocess
import sys

import pytest

from helpers import run_module
from logreg_mnist.engine import flags
from logreg_mnist.errors import EngineError

#: THEANO_FLAGS strings and what the engines make of them, worked out by
#: hand from the rules of ``shlex`` in POSIX mode with ',' as the only
#: separator: quotes group and vanish, a backslash escapes the next
#: character (inside "..." only " and \), '#' starts a comment that runs to
#: the end of the line, empty entries are skipped, only the entry as a
#: whole is stripped of spaces, and the first '=' ends the name.
SPLITS = [
    ('', {}),
    (',,,', {}),
    (' , ', {}),
    ('""', {}),
    ('floatX=float32,,device=cpu,', {'floatX': 'float32', 'device': 'cpu'}),
    ('gcc.cxxflags="-O2 -Wl,-rpath=/usr/lib"',
     {'gcc.cxxflags': '-O2 -Wl,-rpath=/usr/lib'}),
    ("gcc.cxxflags='-O2 -Wl,-rpath=/usr/lib',floatX=float32",
     {'gcc.cxxflags': '-O2 -Wl,-rpath=/usr/lib', 'floatX': 'float32'}),
    ('blas.ldflags=-L"/opt/my dir" -lopenblas',
     {'blas.ldflags': '-L/opt/my dir -lopenblas'}),
    ('"floatX=float32"', {'floatX': 'float32'}),
    ('x=a"b,c"d', {'x': 'ab,cd'}),
    ('x=a\\,b', {'x': 'a,b'}),
    ('x="a\\"b"', {'x': 'a"b'}),
    ("x='a\\b'", {'x': 'a\\b'}),
    ('x="\\a"', {'x': '\\a'}),
    ('x=\\\\', {'x': '\\'}),
    ("x='it'\"'\"'s'", {'x': "it's"}),
    ('a=b=c', {'a': 'b=c'}),
    ('x=,y=""', {'x': '', 'y': ''}),
    ('floatX=float32,floatX=float64', {'floatX': 'float64'}),
    (' floatX = float32 ', {'floatX ': ' float32'}),
    ('compiledir=/tmp/a#b,floatX=float32', {'compiledir': '/tmp/a'}),
    ('x=#c\ny=1', {'x': '', 'y': '1'}),
    ('x=a\nb', {'x': 'a\nb'}),
    ('"a,b"=c', {'a,b': 'c'}),
]


def engines_own_parser():
    """The engine's ``parse_config_string``: Theano's where it runs,
    else PyTensor's (a copy of it)."""
    from logreg_mnist import engine
    if engine.NAME == 'theano':
        from theano.configparser import parse_config_string
    else:
        from pytensor.configparser import parse_config_string
    return parse_config_string


@pytest.mark.parametrize('text, expected', SPLITS)
def test_parse_splits_as_the_rules_say(text, expected):
    assert flags.parse(text) == expected


@pytest.mark.parametrize('text', [text for text, _ in SPLITS])
def test_parse_splits_as_the_engine_does(text):
    assert flags.parse(text) == engines_own_parser()(text,
                                                    issue_warnings=False)


@pytest.mark.parametrize('text, flag, says', [
    ('blas.ldflags=-L"/opt/x -lopenblas', 'blas.ldflags',
     'opens a quote (") that is never closed'),
    ("floatX=float32,compiledir='/tmp/x", 'compiledir',
     "opens a quote (') that is never closed"),
    ('floatX=float32\\', 'floatX', 'ends in a backslash'),
    ('floatX="float32\\', 'floatX', 'ends in a backslash'),
    ('floatX=float32,"garbage', "'garbage'", 'never closed'),
    ('garbage', "'garbage'", 'sets no flag'),
    ('floatX=float32,garbage,device=cpu', "'garbage'", 'sets no flag'),
])
def test_what_the_engine_cannot_split_is_one_line(text, flag, says):
    """The engines raise ValueError on the first three kinds and ignore
    the last with a warning of two lines: here each is one line."""
    with pytest.raises(EngineError) as e:
        flags.parse(text)
    message = str(e.value)
    assert message.startswith('THEANO_FLAGS=%s: ' % text)
    assert flag in message[len(text):] and says in message
    assert '\n' not in message[len(text):]


def test_a_long_entry_is_quoted_short():
    text = 'floatX=float32,' + 'x' * 100000
    with pytest.raises(EngineError) as e:
        flags.parse(text)
    assert len(str(e.value)) < 600 and 'sets no flag' in str(e.value)


@pytest.mark.parametrize('values', [
    {'gcc.cxxflags': '-O2 -Wl,-rpath=/usr/lib', 'floatX': 'float32'},
    {'x': 'a"b', 'y': "it's", 'z': 'a\\', 'w': '#not a comment'},
    {'compiledir': '/tmp/a,b c', 'e': '', 'n': 'a\nb', 'q': '\'"\\,#='},
])
def test_join_writes_what_parse_and_the_engine_read_back(values):
    """What the engine is handed (PyTensor's PYTENSOR_FLAGS, Theano's
    THEANO_FLAGS with our entries) reads back as the values given."""
    text = flags.join(values)
    assert flags.parse(text) == values
    assert engines_own_parser()(text, issue_warnings=False) == values


@pytest.mark.parametrize('value, says', [
    ('-L"/opt/x -lopenblas', 'opens a quote (") that is never closed'),
    ('-lopenblas \\', 'ends in a backslash'),
])
def test_split_value_names_the_flag_and_where(value, says):
    with pytest.raises(EngineError) as e:
        flags.split_value('blas.ldflags', value, '/home/me/.theanorc')
    message = str(e.value)
    assert message.startswith('/home/me/.theanorc: blas.ldflags ')
    assert says in message and '\n' not in message
    assert flags.split_value('blas.ldflags', '-L"/a b" -lx', 'here') == [
        '-L/a b', '-lx']


################################################
# The commands: one line, naming the flag, or run
################################################

def clean(tmp_path, **env):
    """No THEANO_FLAGS/PYTENSOR_FLAGS/.theanorc but those given."""
    return dict({'THEANO_FLAGS': '', 'PYTENSOR_FLAGS': '',
                 'THEANORC': str(tmp_path / 'none')}, **env)


def refusal(tmp_path, timeout=300, **env):
    """The one line `train` says when it stops before reading any data
    (the engine reads the flags when it is imported, before the data)."""
    out = run_module('train', '--dataset', tmp_path / 'never-read',
                     cwd=tmp_path, env=clean(tmp_path, **env),
                     timeout=timeout)
    assert (out.returncode, out.stdout) == (1, ''), out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    prefix = 'python -m logreg_mnist.train: error: '
    assert lines[0].startswith(prefix), out.stderr
    return lines[0][len(prefix):]


@pytest.mark.parametrize('text, flag, says', [
    ('blas.ldflags=-L"/opt/x -lopenblas', 'blas.ldflags', 'never closed'),
    ('floatX=float32\\', 'floatX', 'ends in a backslash'),
    # quoted in THEANO_FLAGS, and then unbalanced in the value itself
    ("blas.ldflags='-L\"/opt/x -lopenblas'", 'blas.ldflags', 'never closed'),
    ('blas.ldflags=-lopenblas\\\\', 'blas.ldflags', 'ends in a backslash'),
    ('floatX=float32,garbage', "'garbage'", 'sets no flag'),
    # the engines see a flag named 'floatX ' there, not floatX
    ('floatX = float32', "unknown flag 'floatX '", 'did you mean floatX?'),
])
def test_theano_flags_the_engine_refuses_are_one_line(tmp_path, text, flag,
                                                      says):
    said = refusal(tmp_path, THEANO_FLAGS=text)
    assert said.startswith('THEANO_FLAGS=%s: ' % text), said
    rest = said[len('THEANO_FLAGS=%s: ' % text):]
    assert flag in rest and says in rest, said


@pytest.mark.parametrize('value, says', [
    ('-L"/opt/x -lopenblas', 'never closed'),
    ('-lopenblas \\', 'ends in a backslash'),
])
def test_theanorc_values_the_engine_refuses_are_one_line(tmp_path, value,
                                                         says):
    rc = tmp_path / 'theanorc'
    rc.write_text('[blas]\nldflags = %s\n' % value)
    said = refusal(tmp_path, THEANORC=str(rc))
    assert said.startswith('%s: blas.ldflags ' % rc) and says in said, said


def test_pytensor_flags_the_engine_refuses_are_one_line(tmp_path):
    from logreg_mnist import engine
    if engine.NAME != 'pytensor':
        pytest.skip('Theano does not read PYTENSOR_FLAGS')
    text = 'floatX=float32,linker="cvm'
    said = refusal(tmp_path, PYTENSOR_FLAGS=text)
    assert said == ('PYTENSOR_FLAGS=%s: the value of linker opens a quote '
                    '(") that is never closed' % text)


CXXFLAGS = '-O2 -Wl,-rpath=/usr/lib'
SHOW_CXXFLAGS = ('import logreg_mnist.engine as e; c = e.theano.config; '
                 'print(repr(c.gcc.cxxflags if e.NAME == "theano" '
                 'else c.gcc__cxxflags))')


@pytest.mark.parametrize('where', ['double quotes', 'single quotes',
                                   '.theanorc'])
def test_a_comma_inside_a_quoted_value_reaches_the_engine(tmp_path, where):
    env = {'double quotes': {'THEANO_FLAGS': 'gcc.cxxflags="%s"' % CXXFLAGS},
           'single quotes': {'THEANO_FLAGS': "gcc.cxxflags='%s'" % CXXFLAGS},
           '.theanorc': {'THEANORC': str(tmp_path / 'theanorc')}}[where]
    (tmp_path / 'theanorc').write_text('[gcc]\ncxxflags = %s\n' % CXXFLAGS)
    out = subprocess.run([sys.executable, '-c', SHOW_CXXFLAGS],
                         env=dict(os.environ, **clean(tmp_path, **env)),
                         capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, ''), out.stderr
    assert out.stdout.splitlines() == [repr(CXXFLAGS)]


@pytest.mark.slow
def test_a_run_compiles_with_a_quoted_cxxflags_holding_a_comma(tmp_path,
                                                               small_pkl):
    flags_ = 'gcc.cxxflags="%s"' % CXXFLAGS
    out = run_module('train', '--dataset', small_pkl, '--n-epochs', 1,
                     cwd=tmp_path, env=clean(tmp_path, THEANO_FLAGS=flags_))
    assert out.returncode == 0, out.stderr
    assert 'epoch 1, minibatch' in out.stdout


######################################################
# Long names and values, and flag files that are not
######################################################

LONG = 'y' * 5000


def bounded(said, long=LONG):
    """The message quotes nothing long: at most 200 characters of it."""
    assert long[:201] not in said, said[:400]
    assert len(said) < 800, said[:400]


@pytest.mark.parametrize('content', [
    '[global]\nfloatX = %s\n' % LONG,              # the engine refuses it
    '[global]\n%s = 1\n' % LONG,                   # no such flag
    '[global]\nfloatX = float32\n%s\n' % LONG,     # not a flag at all
    '[%s]\nx = 1\n[%s]\nx = 2\n' % (LONG, LONG),   # a section twice
    '[global]\n%s = 1\n%s = 2\n' % (LONG, LONG),   # a flag twice
    '[global]\ncxx = %s\n' % LONG,                 # no such compiler
    '[global]\nblas.ldflags = -l%s\n' % LONG,      # the linker refuses it
    '[global]\ndevice = %s\n' % LONG,
    '[global]\ndevice = cuda%s\n' % ('9' * 5000),
    '[global]\nmode = %s\n' % LONG,
])
def test_a_long_name_or_value_in_a_theanorc_is_cut(tmp_path, content):
    rc = tmp_path / 'theanorc'
    rc.write_text(content)
    out = run_module('train', '--dataset', tmp_path / 'never-read',
                     cwd=tmp_path, env=clean(tmp_path, THEANORC=str(rc)))
    # (device=cuda... is a warning, and then the data is not found)
    assert out.returncode == 1 and 'Traceback' not in out.stderr, \
        out.stderr[-2000:]
    lines = out.stderr.splitlines()
    assert 1 <= len(lines) <= 2, out.stderr[:2000]
    for line in lines:
        bounded(line)
        bounded(line, '9' * 5000)
    assert lines[0].startswith(('WARNING: ', 'python -m logreg_mnist.train:'
                                ' error: %s' % rc)), lines[0][:400]


@pytest.mark.parametrize('variable, text', [
    ('THEANO_FLAGS', 'floatX=%s' % LONG),
    ('THEANO_FLAGS', '%s=1' % LONG),
    ('THEANO_FLAGS', 'cxx=%s' % LONG),
    ('THEANO_FLAGS', 'compiledir=/dev/null/%s' % LONG),
    ('THEANO_FLAGS', 'floatX=float32,%s="a' % LONG),
    ('PYTENSOR_FLAGS', 'floatX=%s' % LONG),
    ('PYTENSOR_FLAGS', '%s="a' % LONG),
    ('LOGREG_MNIST_ENGINE', LONG),
])
def test_a_long_name_or_value_in_the_environment_is_cut(tmp_path, variable,
                                                        text):
    from logreg_mnist import engine
    if variable == 'PYTENSOR_FLAGS' and engine.NAME != 'pytensor':
        pytest.skip('Theano does not read PYTENSOR_FLAGS')
    said = refusal(tmp_path, **{variable: text})
    bounded(said)


def test_names_and_values_in_messages_are_short():
    assert len(flags.unknown(LONG, ['floatX'])) < 250
    with pytest.raises(EngineError) as e:
        flags.split_value(LONG, '"' + LONG, 'here')
    bounded(str(e.value))
    with pytest.raises(EngineError) as e:
        flags.parse('floatX=float32,%s="unclosed' % LONG)
    bounded(str(e.value))


@pytest.mark.parametrize('kind', ['fifo', '/dev/zero', 'symlink to a fifo'])
def test_a_theanorc_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    """Never opened: a FIFO would wait for a writer, and /dev/zero never
    ends."""
    if kind == '/dev/zero':
        rc = '/dev/zero'
    else:
        rc = str(tmp_path / 'fifo')
        os.mkfifo(rc)
        if kind.startswith('symlink'):
            os.symlink(rc, tmp_path / 'link')
            rc = str(tmp_path / 'link')
    try:
        said = refusal(tmp_path, THEANORC=rc, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail('reading %s as a flag file did not end' % kind)
    assert said == '%s is not a regular file' % rc


def test_a_theanorc_is_read_from_a_regular_file_only(tmp_path):
    with pytest.raises(EngineError) as e:
        flags.read_theanorc('/dev/null')
    assert str(e.value) == '/dev/null is not a regular file'
    assert flags.read_theanorc(str(tmp_path / 'none')) == {}
    rc = tmp_path / 'theanorc'
    rc.write_bytes(b'[global]\r\nfloatX = float32\r\n[gcc]\rcxxflags = -O2')
    assert flags.read_theanorc(str(rc)) == {'floatX': 'float32',
                                            'gcc.cxxflags': '-O2'}


def test_a_huge_theanorc_is_refused(tmp_path):
    rc = tmp_path / 'theanorc'
    rc.write_text('[global]\nfloatX = float32\n' + '# ' * (1 << 20))
    said = refusal(tmp_path, THEANORC=str(rc))
    assert said.startswith('%s: a flag file of more than 1 MB' % rc), said
    small = tmp_path / 'small'
    small.write_text('[global]\nfloatX = float32\n' + '#\n' * 400000)
    assert flags.read_theanorc(str(small)) == {'floatX': 'float32'}
