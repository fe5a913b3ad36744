"""End to end: both command lines on real MNIST digits, checked against the
independent NumPy implementation."""
import pickle
import re
import subprocess
import sys

import numpy
import pytest

import reference
from helpers import run_module, trace_lines


@pytest.fixture(scope='module')
def trained(small_idx_dir, tmp_path_factory):
    """Train once through the CLI on the real-digit IDX directory."""
    folder = tmp_path_factory.mktemp('run')
    model = folder / 'best_model.pkl'
    proc = run_module('train', '--dataset', small_idx_dir,
                      '--model-out', model, cwd=folder)
    return proc, model


@pytest.fixture(scope='module')
def expected(small_idx_dir):
    """What the tutorial's algorithm gives on the same split, in NumPy."""
    from logreg_mnist.data import read_dataset
    return reference.sgd_trace(read_dataset(str(small_idx_dir)))


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
    out = run_module('predict', '--model', model, '--dataset', small_idx_dir,
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


def test_missing_dataset_is_one_line_and_nonzero(tmp_path):
    out = run_module('train', '--dataset', tmp_path / 'missing', cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        'python -m logreg_mnist.train: error: %s: no such file or directory'
        % (tmp_path / 'missing')]


def test_console_scripts_are_installed():
    bindir = __import__('os').path.dirname(sys.executable)
    for name in ('logreg-mnist-train', 'logreg-mnist-predict'):
        out = subprocess.run([__import__('os').path.join(bindir, name),
                              '--help'], capture_output=True, text=True)
        assert out.returncode == 0 and 'usage:' in out.stdout
