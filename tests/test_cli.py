"""End to end: both command lines on real MNIST digits, checked against the
independent NumPy implementation."""
import os
import pickle
import re
import signal
import subprocess
import sys

import numpy
import pytest

import reference
from helpers import run_here, run_module, synthetic_pkl, trace_lines


#: Epochs of the run below: enough for several new bests and a model that
#: predicts well (the whole early-stopping run on real digits is
#: test_mnist's, and on other data test_sgd's).
EPOCHS = 30


@pytest.fixture(scope='module', autouse=True)
def own_cache(tmp_path_factory):
    """The decoded data and the compiler's answers kept in a cache of this
    module's own, not the user's (the commands started inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('LOGREG_MNIST_CACHE', str(tmp_path_factory.mktemp(
            'cache')))
        yield


@pytest.fixture(scope='module')
def trained(small_idx_dir, tmp_path_factory):
    """Train once through the CLI on the real-digit IDX directory."""
    folder = tmp_path_factory.mktemp('run')
    model = folder / 'best_model.pkl'
    proc = run_module('train', '--dataset', small_idx_dir, '--n-epochs',
                      EPOCHS, '--model-out', model, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return proc, model


@pytest.fixture(scope='module')
def expected(small_idx_dir):
    """What the tutorial's algorithm gives on the same split, in NumPy."""
    from logreg_mnist.data import read_dataset
    return reference.sgd_trace(read_dataset(str(small_idx_dir)),
                               n_epochs=EPOCHS)


def test_train_cli_reproduces_the_numpy_trace(trained, expected):
    proc, model = trained
    assert proc.returncode == 0, proc.stderr
    lines, _, epochs = expected
    assert trace_lines(proc.stdout) == lines
    assert 'The code run for %d epochs, with ' % epochs in proc.stdout
    # the final error on real digits is where a linear model should be
    best = float(re.search(r'best validation score of ([\d.]+) %',
                           proc.stdout).group(1))
    assert 5.0 < best < 15.0
    assert model.is_file()


def test_predict_cli_prints_the_labels_of_the_best_weights(
        trained, expected, small_idx_dir):
    proc, model = trained
    _, (W, b), _ = expected
    from logreg_mnist.data import read_dataset
    test_x = read_dataset(str(small_idx_dir))[2][0][:10].astype(numpy.float64)
    labels = numpy.argmax(test_x @ W + b, axis=1)

    out = run_module('predict', '--model', model, '--dataset', small_idx_dir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == [
        'Predicted values for the first 10 examples in test set:',
        str(labels)]


def test_predict_n(trained, small_idx_dir):
    proc, model = trained
    out = run_here('predict', '--model', model, '--dataset', small_idx_dir,
                   '-n', 25)
    assert out.returncode == 0, out.stderr
    assert 'for the first 25 examples' in out.stdout
    values = re.search(r'\[([\d\s]+)\]', out.stdout).group(1).split()
    assert len(values) == 25


def test_pickled_model_loads_from_anywhere(trained, tmp_path):
    _, model = trained
    code = ('import pickle, sys; m = pickle.load(open(sys.argv[1], "rb")); '
            'print(type(m).__module__, type(m).__name__, '
            'm.W.get_value().shape)')
    out = subprocess.run([sys.executable, '-c', code, str(model)],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['logreg_mnist.model', 'LogisticRegression',
                                  '(784,', '10)']


@pytest.mark.parametrize('module', ['train', 'predict'])
def test_help_explains_the_options(module):
    out = run_module(module, '--help')
    assert out.returncode == 0
    for option in ({'train': ['--dataset', '--learning-rate', '--n-epochs',
                              '--batch-size', '--model-out', 'THEANO_FLAGS',
                              '(default: 0.13)', '(default: 600)'],
                    'predict': ['--model', '--dataset', '-n',
                                '(default: 10)']}[module]):
        assert option in out.stdout
    # no empty defaults, and no option that names its default twice
    assert '(default: None)' not in out.stdout
    assert '(default: False)' not in out.stdout
    assert all(block.count('(default') <= 1
               for block in re.split(r'\n  (?=-)', out.stdout))


@pytest.mark.parametrize('name', ['missing', 'new\nline\tand\x1b[2Jmore'])
def test_missing_dataset_is_one_line_and_nonzero(tmp_path, name):
    out = run_module('train', '--dataset', tmp_path / name, cwd=tmp_path)
    assert out.returncode == 1
    # (a control character in the name is shown escaped)
    assert out.stderr.splitlines() == [
        'python -m logreg_mnist.train: error: %s: no such file or directory'
        % (tmp_path / name.encode('unicode_escape').decode('ascii'))]


def test_a_name_with_a_newline_is_one_line_in_a_usage_error(tmp_path):
    out = run_module('train', '--model-out', tmp_path / 'no\nfolder' / 'm.pkl')
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        'python -m logreg_mnist.train: error: argument --model-out: folder '
        '%s/no\\nfolder does not exist (see --help)' % tmp_path]


def test_console_scripts_are_installed():
    bindir = os.path.dirname(sys.executable)
    for name in ('logreg-mnist-train', 'logreg-mnist-predict',
                 'logreg-mnist-benchmark', 'logreg-mnist-cg',
                 'logreg-mnist-plot'):
        out = subprocess.run([os.path.join(bindir, name),
                              '--help'], capture_output=True, text=True)
        assert out.returncode == 0 and 'usage:' in out.stdout


def test_predict_from_npz_equals_predict_from_pickle(trained, small_idx_dir):
    _, model = trained
    npz = model.with_suffix('.npz')
    assert npz.is_file()
    a = run_module('predict', '--model', model, '--dataset', small_idx_dir)
    b = run_module('predict', '--model', npz, '--dataset', small_idx_dir,
                   env={'THEANO_FLAGS': 'floatX=float32,device=cuda'})
    assert a.returncode == b.returncode == 0, b.stderr
    assert a.stdout == b.stdout


@pytest.mark.parametrize('args, says', [
    (['--batch-size', '0'], "argument --batch-size: expected a positive int, "
                            "got '0'"),
    (['--batch-size', '2.5'], 'argument --batch-size: expected a positive '
                              'int'),
    (['--n-epochs', '-3'], 'argument --n-epochs: expected a positive int'),
    (['--learning-rate', '0'], 'argument --learning-rate: expected a '
                               'positive float'),
    (['--learning-rate', 'nan'], 'argument --learning-rate'),
    (['--model-out', '/no/such/folder/m.pkl'],
     'argument --model-out: folder /no/such/folder does not exist'),
    (['--unknown'], 'unrecognized arguments: --unknown'),
])
def test_bad_flags_are_one_line_errors(args, says):
    out = run_module('train', *args)
    assert out.returncode == 2
    assert out.stdout == ''
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith('python -m logreg_mnist.train: error: ')
    assert says in lines[0] and lines[0].endswith(' (see --help)')


def test_bad_data_from_the_command_line(tmp_path, small_pkl, trained):
    import gzip
    _, model = trained

    def sets(n, label):
        return gzip.compress(pickle.dumps(tuple(
            (numpy.zeros((n, 784)), numpy.full(n, label)) for _ in range(3))))
    cases = {
        'html.pkl.gz': (b'<html>gone</html>', 'is an HTML page'),
        'cut.pkl.gz': (small_pkl.read_bytes()[:3000], 'truncated gzip'),
        'labels.pkl.gz': (sets(700, 12), 'labels must lie in 0..9'),
    }
    train_only = {
        'small.pkl.gz': (sets(100, 0), 'the train split has 100 examples, '
                         'fewer than one minibatch of 600; use a smaller '
                         '--batch-size'),
    }
    for name, (content, says) in dict(cases, **train_only).items():
        (tmp_path / name).write_bytes(content)
        runs = [run_here('train', '--dataset', name, cwd=tmp_path)]
        if name in cases:
            runs.append(run_here('predict', '--dataset', name, '--model',
                                 model, cwd=tmp_path))
        for out in runs:
            lines = out.stderr.strip().splitlines()
            assert out.returncode == 1, (name, out.stderr)
            assert len(lines) == 1, (name, out.stderr)
            assert name in lines[0] and says in lines[0], lines
    assert not (tmp_path / 'best_model.pkl').exists()


def test_bad_model_files_are_refused_in_one_line(tmp_path, small_pkl,
                                                 trained):
    _, model = trained
    good = model.read_bytes()
    cases = {
        'random.pkl': os.urandom(3000),
        'truncated.pkl': good[:len(good) // 2],
        'dict.pkl': pickle.dumps({'W': 1}),
        'code.pkl': pickle.dumps(os.system),
        'data.pkl.gz': small_pkl.read_bytes(),
        'empty.npz': b'',
        'cut.npz': model.with_suffix('.npz').read_bytes()[:500],
    }
    numpy.savez(tmp_path / 'weights_only.npz', W=numpy.zeros((784, 10)))
    numpy.savez(tmp_path / 'misshapen.npz', W=numpy.zeros((784, 10)),
                b=numpy.zeros(3), n_in=784, n_out=10)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for name in list(cases) + ['weights_only.npz', 'misshapen.npz',
                               'missing.pkl']:
        out = run_here('predict', '--model', tmp_path / name, '--dataset',
                       small_pkl)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 1 and len(lines) == 1, (name, out.stderr)
        assert str(tmp_path / name) in lines[0], lines
        assert out.stdout == ''   # refused before reading any data


def test_predict_refuses_data_of_another_width(trained, tmp_path):
    import gzip
    _, model = trained
    x = numpy.zeros((10, 100))
    y = numpy.zeros(10, int)
    path = tmp_path / 'narrow.pkl.gz'
    path.write_bytes(gzip.compress(pickle.dumps(((x, y),) * 3)))
    out = run_here('predict', '--model', model, '--dataset', path)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'python -m logreg_mnist.predict: error: %s has 100 pixels per image, '
        'but the model in %s expects 784' % (path, model))


def test_a_diverging_run_ends_in_one_error_line(tmp_path):
    data = synthetic_pkl(tmp_path / 'clusters.pkl.gz')
    out = run_module('train', '--dataset', data, '--batch-size', 20,
                     '--learning-rate', '1e308', cwd=tmp_path)
    assert out.returncode == 1
    timing, error = out.stderr.strip().splitlines()  # and nothing else
    assert re.fullmatch(r'The code for file sgd\.py ran for \d+\.\ds', timing)
    assert error == (
        'python -m logreg_mnist.train: error: the cost became nan at epoch 1, '
        'minibatch 2/20: the learning rate 1e+308 is too large; '
        'no model was saved')
    assert not (tmp_path / 'best_model.pkl').exists()


def test_library_errors_name_arguments_the_cli_shows_flags(small_pkl,
                                                           tmp_path):
    from logreg_mnist import cli
    from logreg_mnist.errors import DataError
    from logreg_mnist.sgd import sgd_optimization_mnist
    with pytest.raises(DataError) as e:
        sgd_optimization_mnist(dataset=str(small_pkl), batch_size=7000,
                               model_out=str(tmp_path / 'm.pkl'))
    assert str(e.value) == (
        '%s: the train split has 6000 examples, fewer than one minibatch of '
        '7000; use a smaller `batch_size`' % small_pkl)
    assert cli.in_flags(str(e.value)).endswith('use a smaller --batch-size')
    assert cli.in_flags('`model_out` a.pkl would overwrite a.pkl '
                        '(`dataset`)') == \
        '--model-out a.pkl would overwrite a.pkl (--dataset)'


###########################################################
# What shells and disks do to a command: pipes, full disks
###########################################################

def start(module, *args, stdout, cwd):
    return subprocess.Popen(
        [sys.executable, '-m', 'logreg_mnist.' + module] +
        [str(a) for a in args], cwd=cwd, stdout=stdout,
        stderr=subprocess.PIPE, text=True)


def test_a_reader_that_goes_away_ends_training_quietly(tmp_path):
    """``train | head``: the run ends like ``yes | head`` (SIGPIPE, no
    traceback), and the model it had saved stays whole."""
    data = synthetic_pkl(tmp_path / 'clusters.pkl.gz')
    proc = start('train', '--dataset', data, '--batch-size', 20,
                 '--learning-rate', 0.01, stdout=subprocess.PIPE,
                 cwd=tmp_path)
    for line in proc.stdout:   # until a model has been saved
        if 'test error of best model' in line:
            break
    proc.stdout.close()
    stderr = proc.communicate(timeout=600)[1]
    assert proc.returncode == -signal.SIGPIPE
    assert stderr == ''
    assert sorted(os.listdir(tmp_path)) == [
        'best_model.history.csv', 'best_model.npz', 'best_model.pkl',
        'clusters.pkl.gz']
    from logreg_mnist.files.modelfile import load_model
    assert load_model(str(tmp_path / 'best_model.pkl')).W.get_value(
        ).shape == (20, 10)


@pytest.mark.parametrize('command', ['predict', 'plot', 'train'])
def test_a_closed_stdout_is_not_a_traceback(trained, small_idx_dir, tmp_path,
                                            command):
    _, model = trained
    args = {'predict': ['--model', model, '--dataset', small_idx_dir],
            'plot': ['weights', '--model', model, '--out', 'w.png'],
            'train': ['--dataset', small_idx_dir]}[command]
    read, write = os.pipe()
    os.close(read)   # nobody will read what it prints
    try:
        proc = start(command, *args, stdout=write, cwd=tmp_path)
    finally:
        os.close(write)
    stderr = proc.communicate(timeout=600)[1]
    assert (proc.returncode, stderr) == (-signal.SIGPIPE, '')
    # a picture is written before its line is printed; training stopped
    # at its first line, before anything was read or written
    assert os.listdir(tmp_path) == (['w.png'] if command == 'plot' else [])


@pytest.mark.parametrize('command', ['predict', 'train', 'train --help'])
def test_a_full_stdout_is_one_line(trained, small_idx_dir, tmp_path,
                                   command):
    _, model = trained
    args = {'predict': ['--model', model, '--dataset', small_idx_dir],
            'train': ['--dataset', small_idx_dir],
            'train --help': ['--help']}[command]
    command = command.split()[0]
    with open('/dev/full', 'w') as full:
        proc = start(command, *args, stdout=full, cwd=tmp_path)
        stderr = proc.communicate(timeout=600)[1]
    assert proc.returncode == 1
    assert stderr == ('python -m logreg_mnist.%s: error: standard output: '
                      'No space left on device\n' % command)
    assert os.listdir(tmp_path) == []


def test_predict_says_when_the_split_is_smaller_than_n(trained,
                                                       small_idx_dir):
    _, model = trained
    out = run_here('predict', '--model', model, '--dataset', small_idx_dir,
                   '-n', 100000)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    start = lines.index('Predicted values for all 2000 examples in test set '
                        '(100000 asked for):')
    assert lines[start + 1].startswith('[')   # (numpy shortens 2000)


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / 'data').write_text('not a folder')
    out = run_module('train', env={'LOGREG_MNIST_DATA': str(tmp_path /
                                                            'data')})
    assert out.returncode == 1
    assert out.stderr == (
        'python -m logreg_mnist.train: error: LOGREG_MNIST_DATA=%s: not a '
        'folder (the data folder, created when missing)\n' % (tmp_path /
                                                              'data'))


def test_profile_says_where_the_seconds_of_the_run_went(small_idx_dir):
    out = run_here('train', '--dataset', small_idx_dir, '--n-epochs', 2,
                   '--profile')
    assert out.returncode == 0, out.stderr
    assert 'profile' not in out.stdout   # the trace stays the tutorial's
    assert len(trace_lines(out.stdout)) >= 3
    lines = out.stderr.splitlines()
    at = lines.index(next(line for line in lines
                          if line.startswith('... where the ')))
    rows = [line.split() for line in lines[at + 1:]]
    assert [row[0] for row in rows] == ['import', 'load', 'build', 'train',
                                        'save', 'other', 'total']
    seconds = {row[0]: float(row[1].rstrip('s')) for row in rows}
    assert all(s >= 0 for s in seconds.values())
    assert seconds['train'] > 0 and seconds['build'] > 0
    total = seconds.pop('total')
    assert sum(seconds.values()) <= total + 0.01 * len(seconds)
    assert lines[at] == '... where the %.1fs of this run went (--profile):' \
        % total
    saves = re.search(r'history, (\d+) writes', out.stderr).group(1)
    assert int(saves) >= 2   # a model at least once, the history at the end


def test_without_profile_nothing_is_added(small_idx_dir):
    out = run_here('train', '--dataset', small_idx_dir, '--n-epochs', 1)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r'The code for file sgd\.py ran for [\d.]+s\n',
                        out.stderr)


def test_a_second_run_decodes_nothing_and_prints_the_same(small_idx_dir,
                                                          monkeypatch):
    from logreg_mnist import data
    run_here('train', '--dataset', small_idx_dir, '--n-epochs', 1)
    decoded = []
    real = data.read_idx
    monkeypatch.setattr(data, 'read_idx',
                        lambda *a, **k: decoded.append(a) or real(*a, **k))
    kept = run_here('train', '--dataset', small_idx_dir, '--n-epochs', 1)
    assert kept.returncode == 0 and decoded == []
    monkeypatch.setenv('LOGREG_MNIST_CACHE', 'off')
    fresh = run_here('train', '--dataset', small_idx_dir, '--n-epochs', 1)
    assert len(decoded) == 4
    assert trace_lines(kept.stdout) == trace_lines(fresh.stdout)
    assert len(trace_lines(kept.stdout)) == 3
