"""The training loop against an independent NumPy run of the same
algorithm: the whole early-stopping trace must match line for line."""
import pickle
import re

import numpy
import pytest

import helpers
import reference
from helpers import trace_lines
from logreg_mnist.engine import C_ENGINE, ENGINE
from logreg_mnist.errors import TrainingStopped
from logreg_mnist.files.history import read_history
from logreg_mnist.plot import patience_ran_out
from logreg_mnist.sgd import sgd_optimization_mnist


@pytest.fixture
def synthetic_data(tmp_path):
    path = helpers.synthetic_pkl(tmp_path / 'synthetic.pkl.gz')
    return helpers.synthetic(), path


def test_trace_matches_numpy_line_for_line(synthetic_data, tmp_path, capsys):
    sets, path = synthetic_data
    model_out = tmp_path / 'best.pkl'
    result = sgd_optimization_mnist(dataset=str(path), batch_size=20,
                                    model_out=str(model_out))
    out, err = capsys.readouterr()
    seen = []
    expected, (W, b), epochs = reference.sgd_trace(sets, batch_size=20,
                                                   seen=seen)

    assert trace_lines(out) == expected
    # early stopping ended the run, after patience had been extended
    assert result['epochs'] == epochs > 5000 // 20
    assert out.splitlines()[-1].startswith(
        'The code run for %d epochs, with ' % epochs)
    assert re.fullmatch(r'The code for file sgd\.py ran for \d+\.\ds\n', err)

    # the history: each epoch's mean minibatch cost and the patience it ran
    # under (no improvement here pushed it out: it ran out at step 5001)
    rows = read_history(str(tmp_path / 'best.history.csv'))
    numpy.testing.assert_allclose([r['training_cost'] for r in rows],
                                  [cost for cost, _ in seen], rtol=1e-10)
    assert [r['patience'] for r in rows] == [p for _, p in seen]
    assert patience_ran_out(rows) == 20 * (epochs - 1) + 1 == 5001

    # the pickled model holds the weights of the best validation
    with open(model_out, 'rb') as f:
        classifier = pickle.load(f)
    numpy.testing.assert_allclose(classifier.W.get_value(), W, rtol=1e-9,
                                  atol=1e-12)
    numpy.testing.assert_allclose(classifier.b.get_value(), b, rtol=1e-9,
                                  atol=1e-12)


def test_n_epochs_bounds_the_run(synthetic_data, tmp_path, capsys):
    sets, path = synthetic_data
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=3,
                           learning_rate=0.01,
                           model_out=str(tmp_path / 'm.pkl'))
    expected, _, epochs = reference.sgd_trace(sets, batch_size=20,
                                              n_epochs=3, learning_rate=0.01)
    assert epochs == 3
    assert trace_lines(capsys.readouterr().out) == expected


def test_progress_lines_name_device_and_floatX(synthetic_data, tmp_path,
                                               capsys):
    sets, path = synthetic_data
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=1,
                           model_out=str(tmp_path / 'm.pkl'))
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == [
        '... loading data',
        '... building the model',
        '... using %s on device cpu with floatX=float64' % ENGINE,
        '... compiling (cached for the next runs)',
        '... training steps run kernel.c through %s; LOGREG_MNIST_KERNEL='
        'graph runs the graph' % C_ENGINE,
        '... training the model']


def test_best_model_is_saved_in_both_formats_with_provenance(
        synthetic_data, tmp_path, capsys):
    sets, path = synthetic_data
    model_out = tmp_path / 'best.pkl'
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=4,
                           model_out=str(model_out))
    lines = trace_lines(capsys.readouterr().out)
    info = numpy.load(tmp_path / 'best.npz', allow_pickle=False)
    with open(model_out, 'rb') as f:
        classifier = pickle.load(f)
    numpy.testing.assert_array_equal(info['W'], classifier.W.get_value())
    numpy.testing.assert_array_equal(info['b'], classifier.b.get_value())
    assert (int(info['n_in']), int(info['n_out'])) == (20, 10)
    assert str(info['floatX']) == 'float64'
    assert str(info['dataset']) == str(path)
    assert str(info['engine']) == ENGINE
    assert str(info['device']) == 'cpu'
    assert str(info['package_version']) == '1.0.0'
    assert float(info['learning_rate']) == 0.13
    assert int(info['batch_size']) == 20
    # provenance names the best validation of the printed trace
    best = [l for l in lines if l.startswith('     epoch')][-1]
    epoch = int(best.split()[1].rstrip(','))
    assert int(info['epoch']) == epoch
    assert '%f %%' % (float(info['test_error']) * 100) in best
    validation = min(float(l.split()[-2]) for l in lines
                     if 'validation error' in l)
    assert float(info['validation_error']) * 100 == pytest.approx(validation,
                                                                 abs=1e-6)


def test_divergence_stops_and_keeps_the_saved_model(synthetic_data, tmp_path,
                                                    capsys):
    sets, path = synthetic_data
    model_out = tmp_path / 'best.pkl'
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=2,
                           model_out=str(model_out))
    saved = model_out.read_bytes(), (tmp_path / 'best.npz').read_bytes()
    capsys.readouterr()

    with pytest.raises(TrainingStopped) as e:
        sgd_optimization_mnist(dataset=str(path), batch_size=20,
                               learning_rate=1e308, model_out=str(model_out))
    assert str(e.value) == (
        'the cost became nan at epoch 1, minibatch 2/20: the learning rate '
        '1e+308 is too large; no model was saved')
    out = capsys.readouterr().out
    assert 'Optimization complete with best validation score of' in out
    assert 'The code run for 1 epochs' in out
    # the model of the earlier run is untouched
    assert (model_out.read_bytes(),
            (tmp_path / 'best.npz').read_bytes()) == saved


def test_history_file_matches_the_printed_trace(synthetic_data, tmp_path,
                                                capsys):
    sets, path = synthetic_data
    sgd_optimization_mnist(dataset=str(path), batch_size=20, n_epochs=40,
                           model_out=str(tmp_path / 'best.pkl'))
    lines = trace_lines(capsys.readouterr().out)[:-1]
    rows = read_history(str(tmp_path / 'best.history.csv'))
    rebuilt = []
    for r in rows:
        rebuilt.append('epoch %i, minibatch %i/20, validation error %f %%'
                       % (r['epoch'], r['minibatch'],
                          100 * r['validation_error']))
        if r['test_error'] is not None:
            rebuilt.append('     epoch %i, minibatch %i/20, test error of '
                           'best model %f %%' % (r['epoch'], r['minibatch'],
                                                 100 * r['test_error']))
    assert rebuilt == lines
    assert [r['iteration'] for r in rows] == [20 * (i + 1)
                                              for i in range(40)]


def test_compiling_first_leaves_the_model_as_it_was(synthetic_data):
    """The functions are called once before the timer starts (engines
    that compile at the first call do it then); a training step's change
    of W and b is undone, so training starts from the same weights."""
    from logreg_mnist.data import load_data
    from logreg_mnist.sgd import build_model
    from logreg_mnist.engine.graph import compile_now
    _, path = synthetic_data
    classifier, train_model, validate_model, test_model = build_model(
        load_data(str(path)), batch_size=20)
    rng = numpy.random.RandomState(1)
    W = rng.randn(*classifier.W.get_value().shape)
    b = rng.randn(*classifier.b.get_value().shape)
    classifier.W.set_value(W)
    classifier.b.set_value(b)
    calls = []

    def counted(f):
        return lambda i: calls.append((f, i)) or f(i)
    compile_now(classifier.params, [counted(f) for f in
                                    (train_model, validate_model, test_model)])
    assert calls == [(train_model, 0), (validate_model, 0), (test_model, 0)]
    numpy.testing.assert_array_equal(classifier.W.get_value(), W)
    numpy.testing.assert_array_equal(classifier.b.get_value(), b)
    # (without the restore, the step would have moved them)
    train_model(0)
    assert not numpy.array_equal(classifier.W.get_value(), W)
