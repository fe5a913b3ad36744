"""LogisticRegression against an independent NumPy computation."""
import numpy
import pytest

import reference
from helpers import build
from logreg_mnist.engine import theano, T


def test_parameters_start_at_zero_in_floatX():
    x, model = build(n_in=784, n_out=10)
    assert model.W.get_value().shape == (784, 10)
    assert model.b.get_value().shape == (10,)
    assert not model.W.get_value().any() and not model.b.get_value().any()
    assert model.W.dtype == model.b.dtype == theano.config.floatX
    assert model.params == [model.W, model.b]
    assert model.input is x


def test_probabilities_and_prediction_match_numpy(problem):
    xv, yv, W, b = problem
    x, model = build(W, b)
    p, pred = theano.function([x], [model.p_y_given_x, model.y_pred])(xv)
    numpy.testing.assert_allclose(p, reference.softmax(xv @ W + b), rtol=1e-12)
    numpy.testing.assert_array_equal(pred, numpy.argmax(xv @ W + b, axis=1))


def test_negative_log_likelihood_is_the_mean_nll(problem):
    xv, yv, W, b = problem
    x, model = build(W, b)
    y = T.ivector('y')
    cost = theano.function([x, y], model.negative_log_likelihood(y))(xv, yv)
    assert cost == pytest.approx(reference.nll(W, b, xv, yv), rel=1e-12)
    # and it is a mean, not a sum: doubling the data leaves it unchanged
    cost2 = theano.function([x, y], model.negative_log_likelihood(y))(
        numpy.vstack([xv, xv]), numpy.concatenate([yv, yv]))
    assert cost2 == pytest.approx(cost, rel=1e-12)


def test_gradient_matches_hand_derivation(problem):
    xv, yv, W, b = problem
    x, model = build(W, b)
    y = T.ivector('y')
    cost = model.negative_log_likelihood(y)
    gW, gb = theano.function([x, y], T.grad(cost, model.params))(xv, yv)
    eW, eb = reference.gradients(W, b, xv, yv)
    numpy.testing.assert_allclose(gW, eW, rtol=1e-10, atol=1e-14)
    numpy.testing.assert_allclose(gb, eb, rtol=1e-10, atol=1e-14)


def test_errors_is_the_zero_one_loss(problem):
    xv, yv, W, b = problem
    x, model = build(W, b)
    y = T.ivector('y')
    err = theano.function([x, y], model.errors(y))(xv, yv)
    assert err == reference.error_rate(W, b, xv, yv)
    assert 0 < err < 1


def test_errors_rejects_labels_of_the_wrong_rank():
    x, model = build()
    with pytest.raises(TypeError, match='same shape as self.y_pred'):
        model.errors(T.imatrix('y'))


def test_errors_rejects_non_integer_labels():
    x, model = build()
    with pytest.raises(NotImplementedError):
        model.errors(T.dvector('y'))
