"""The conjugate-gradient variant on real digits."""
import re

import numpy
import pytest

import reference
from helpers import run_module, run_ok, split_6_2_2
from logreg_mnist.conjugate_gradient import cg_optimization_mnist
from logreg_mnist.engine import describe
from logreg_mnist.files.history import read_history
from logreg_mnist.files.modelfile import load_model


@pytest.fixture(scope='module')
def cg_run(small_pkl, tmp_path_factory):
    folder = tmp_path_factory.mktemp('cg')
    return run_ok('cg', '--dataset', small_pkl, '--n-epochs', 15,
                  '--model-out', folder / 'cg.pkl'), folder


def test_cg_prints_the_tutorials_lines(cg_run):
    out, _ = cg_run
    lines = out.stdout.splitlines()
    assert lines[:5] == ['... loading data', '... building the model',
                         describe(), '... compiling (cached for the next runs)',
                         'Optimizing using scipy.optimize.fmin_cg...']
    validations = lines[5:-1]
    assert 1 <= len(validations) <= 15
    assert all(re.fullmatch(r'validation error \d+\.\d{6} %', l)
               for l in validations)
    best = min(float(l.split()[2]) for l in validations)
    assert re.fullmatch(
        r'Optimization complete with best validation score of %f %%, with '
        r'test performance \d+\.\d{6} %%' % best, lines[-1])
    assert re.fullmatch(r'The code for file cg\.py ran for \d+\.\ds\n',
                        out.stderr)


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_cg_learns_as_well_as_sgd(small_pkl, digits, tmp_path):
    result = cg_optimization_mnist(dataset=str(small_pkl),   # 50 iterations
                                   model_out=str(tmp_path / 'cg.pkl'))
    assert result['final_cost'] < 0.5 * result['initial_cost']
    assert result['initial_cost'] == pytest.approx(numpy.log(10))
    sgd_lines, _, _ = reference.sgd_trace(split_6_2_2(digits))
    sgd_best = float(re.search(r'score of ([\d.]+) %',
                               sgd_lines[-1]).group(1))
    # CG has no early stopping and overfits 6,000 images a little
    assert 100 * result['best_validation_loss'] < 1.5 * sgd_best


def split_6_2_2_test_images(path):
    from logreg_mnist.data import read_dataset
    return read_dataset(str(path))[2][0][:10].astype(numpy.float64)


def test_cg_saves_a_model_that_predict_uses(cg_run, small_pkl):
    _, folder = cg_run
    info = numpy.load(folder / 'cg.npz')
    assert str(info['optimizer']) == 'cg'
    for name in ('cg.pkl', 'cg.npz'):
        classifier = load_model(str(folder / name))
        numpy.testing.assert_allclose(classifier.W.get_value(), info['W'])
    test_x = split_6_2_2_test_images(small_pkl)
    labels = numpy.argmax(test_x @ info['W'] + info['b'], axis=1)
    out = run_module('predict', '--model', folder / 'cg.npz', '--dataset',
                     small_pkl)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == str(labels)


def test_cg_history_matches_its_trace(cg_run, digits):
    out, folder = cg_run
    rows = read_history(str(folder / 'cg.history.csv'))
    printed = [l for l in out.stdout.splitlines()
               if l.startswith('validation error')]
    assert ['validation error %f %%' % (100 * r['validation_error'])
            for r in rows] == printed
    assert [r['epoch'] for r in rows] == list(range(1, len(rows) + 1))
    best = min(r['validation_error'] for r in rows)
    info = numpy.load(folder / 'cg.npz')
    assert float(info['validation_error']) == best
    # each row has the training cost at that iteration's point: for the
    # saved one, the mean negative log-likelihood of its W and b
    assert all(r['patience'] is None for r in rows)
    (row,) = [r for r in rows if r['epoch'] == int(info['epoch'])]
    train_x, train_y = split_6_2_2(digits)[0]
    assert row['training_cost'] == pytest.approx(
        reference.nll(info['W'], info['b'], train_x.astype(numpy.float64),
                      train_y), rel=1e-9)
    costs = [r['training_cost'] for r in rows]
    assert costs == sorted(costs, reverse=True)   # CG only goes downhill
