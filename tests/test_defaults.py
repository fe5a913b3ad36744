"""Each default is stated once, in ``defaults``: the functions and the
command lines agree on it."""
import inspect

import pytest

from logreg_mnist import cg, defaults, predict, train


def signature_defaults(function):
    return {name: p.default for name, p in
            inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def command_defaults(module):
    return vars(module.build_parser().parse_args([]))


@pytest.mark.parametrize('command, function, epochs', [
    (train, 'logreg_mnist.sgd.sgd_optimization_mnist', defaults.N_EPOCHS),
    (cg, 'logreg_mnist.conjugate_gradient.cg_optimization_mnist',
     defaults.CG_ITERATIONS)])
def test_training_commands_and_functions_agree(command, function, epochs):
    import importlib
    module, name = function.rsplit('.', 1)
    given = signature_defaults(getattr(importlib.import_module(module), name))
    shown = command_defaults(command)
    for key in given:
        assert shown[key] == given[key], key
    assert given['n_epochs'] == epochs
    assert given['batch_size'] == defaults.BATCH_SIZE
    assert given['dataset'] == defaults.DATASET
    assert given['model_out'] == defaults.MODEL


def test_the_learning_rate_is_the_tutorials_everywhere():
    from logreg_mnist.sgd import build_model, sgd_optimization_mnist
    assert defaults.LEARNING_RATE == 0.13 and defaults.BATCH_SIZE == 600
    for function in (build_model, sgd_optimization_mnist):
        assert signature_defaults(function)['learning_rate'] == 0.13
    assert command_defaults(train)['learning_rate'] == 0.13


def test_predict_command_and_function_agree():
    given = signature_defaults(predict.predict)
    shown = command_defaults(predict)
    assert {k: shown[k] for k in given} == given
    assert given['model'] == defaults.MODEL
    assert given['dataset'] == defaults.DATASET


def test_benchmark_and_plot_use_the_same_defaults():
    from logreg_mnist import benchmark, plot
    assert command_defaults(benchmark)['batch_size'] == defaults.BATCH_SIZE
    shown = vars(plot.build_parser().parse_args(['predictions']))
    assert (shown['model'], shown['dataset']) == (defaults.MODEL,
                                                  defaults.DATASET)
