"""The training loop against an independent NumPy run of the same
algorithm: the whole early-stopping trace must match line for line."""
import gzip
import pickle
import re

import numpy
import pytest

import reference
from helpers import trace_lines
from logreg_mnist.sgd import sgd_optimization_mnist


def synthetic(seed=0, n_in=20, sizes=(400, 200, 200), noise=2.5):
    """Ten noisy Gaussian clusters: learnable, but not perfectly."""
    rng = numpy.random.RandomState(seed)
    centers = rng.randn(10, n_in)
    sets = []
    for n in sizes:
        y = rng.randint(0, 10, n)
        x = centers[y] + noise * rng.randn(n, n_in)
        sets.append((x, y))
    return sets


@pytest.fixture
def synthetic_pkl(tmp_path):
    sets = synthetic()
    path = tmp_path / 'synthetic.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump(tuple(sets), f)
    return sets, path


def test_trace_matches_numpy_line_for_line(synthetic_pkl, tmp_path, capsys):
    sets, path = synthetic_pkl
    model_out = tmp_path / 'best.pkl'
    result = sgd_optimization_mnist(dataset=str(path), batch_size=20,
                                    model_out=str(model_out))
    out, err = capsys.readouterr()
    expected, (W, b), epochs = reference.sgd_trace(sets, batch_size=20)

    assert trace_lines(out) == expected
    # early stopping ended the run, after patience had been extended
    assert result['epochs'] == epochs > 5000 // 20
    assert out.splitlines()[-1].startswith(
        'The code run for %d epochs, with ' % epochs)
    assert re.fullmatch(r'The code for file sgd\.py ran for \d+\.\ds\n', err)

    # the pickled model holds the weights of the best validation
    with open(model_out, 'rb') as f:
        classifier = pickle.load(f)
    numpy.testing.assert_allclose(classifier.W.get_value(), W, rtol=1e-9,
                                  atol=1e-12)
    numpy.testing.assert_allclose(classifier.b.get_value(), b, rtol=1e-9,
                                  atol=1e-12)


def test_n_epochs_bounds_the_run(synthetic_pkl, tmp_path, capsys):
    sets, path = synthetic_pkl
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=3,
                           learning_rate=0.05,
                           model_out=str(tmp_path / 'm.pkl'))
    expected, _, epochs = reference.sgd_trace(sets, batch_size=20,
                                              n_epochs=3, learning_rate=0.05)
    assert epochs == 3
    assert trace_lines(capsys.readouterr().out) == expected


def test_progress_lines_name_device_and_floatX(synthetic_pkl, tmp_path,
                                               capsys):
    sets, path = synthetic_pkl
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=1,
                           model_out=str(tmp_path / 'm.pkl'))
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        '... loading data',
        '... building the model',
        '... using Theano 1.0.5 on device cpu with floatX=float64',
        '... training the model']
