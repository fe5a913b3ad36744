"""Minibatch SGD with early stopping: the tutorial's ``logistic_sgd.py``.

``build_model`` compiles the three functions the tutorial names:
``train_model(i)`` takes one SGD step on training minibatch ``i`` and
returns its cost, ``validate_model(i)`` and ``test_model(i)`` return the
zero-one loss of a validation or test minibatch.

``sgd_optimization_mnist`` runs them.  Every ``validation_frequency``
steps (here: once an epoch) it validates; a new best validation error is
tested and saved (see ``training.Run``).  Training ends after ``n_epochs``,
or earlier once ``patience`` steps have gone by with no new best: each
improvement of at least 0.5 % pushes the patience out to twice the steps
taken so far.
"""
from .engine import kernel
from .defaults import (BATCH_SIZE, DATASET, LEARNING_RATE, MODEL,
                       N_EPOCHS)
from .cli.phases import phase
from .cli.watch import Watch
from .engine import compiling_line, describe, quiet_autocast, theano, T
from .errors import TrainingStopped
from .engine.graph import compile_now, minibatch, n_batches
from .training import (Run, evaluators, load_for_training, new_model,
                       prepared_outputs)


def build_model(datasets, learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE):
    """The classifier and the compiled ``train_model``, ``validate_model``
    and ``test_model`` over the three shared (x, y) pairs of ``datasets``.
    """
    classifier, index, x, y = new_model(datasets)
    cost = classifier.negative_log_likelihood(y)
    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    errors = classifier.errors(y)
    return compile_trio(classifier, index, x, y, cost, g_W, g_b, errors,
                        datasets, learning_rate, batch_size)


def build_fused_model(datasets, learning_rate=LEARNING_RATE,
                      batch_size=BATCH_SIZE):
    """``build_model`` with the cost, both gradients and the errors
    computed by ``kernel.c`` in one pass over a minibatch: the same
    arithmetic, as one op (float32 on the CPU, see ``kernel``)."""
    classifier, index, x, y = new_model(datasets)
    cost, g_W, g_b, errors = kernel.fused(classifier, y)
    return compile_trio(classifier, index, x, y, cost, g_W, g_b, errors,
                        datasets, learning_rate, batch_size, kernel.MODE)


def chosen_build():
    """The one place where the fused kernel is chosen: ``build_fused_model``
    where it runs (float32 on the CPU, see ``kernel.enabled``), else the
    tutorial's ``build_model``."""
    return build_fused_model if kernel.enabled() else build_model


def compile_trio(classifier, index, x, y, cost, g_W, g_b, errors, datasets,
                 learning_rate, batch_size, mode=None):
    """``(classifier, train_model, validate_model, test_model)``: one plain
    gradient step on W and b per call of ``train_model``, which returns
    the minibatch's cost; ``errors`` on a validation or test minibatch."""
    with quiet_autocast():
        updates = [(classifier.W, classifier.W - learning_rate * g_W),
                   (classifier.b, classifier.b - learning_rate * g_b)]
    train_x, train_y = datasets[0]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates, mode=mode,
        givens=minibatch(x, y, train_x, train_y, index, batch_size))
    validate_model, test_model = evaluators(errors, index, x, y, datasets,
                                            batch_size, mode)
    return classifier, train_model, validate_model, test_model


def validate(run, epoch, minibatch_index, n_train_batches, iteration,
             **seen):
    """One validation of the loop: print it, keep a new best (printing its
    test error), record it with ``seen`` (see ``Run.keep_if_best``);
    return the loss and the best loss before it."""
    previous_best = run.best_validation_loss
    loss = run.validation_error()
    print('epoch %i, minibatch %i/%i, validation error %f %%'
          % (epoch, minibatch_index + 1, n_train_batches, loss * 100.),
          flush=True)
    if run.keep_if_best(loss, epoch, minibatch_index + 1, iteration + 1,
                        **seen):
        print('     epoch %i, minibatch %i/%i, test error of best model %f %%'
              % (epoch, minibatch_index + 1, n_train_batches,
                 run.test_score * 100.), flush=True)
    return loss, previous_best


def _prepare(dataset, learning_rate, batch_size, model_out):
    """The data, the model and its compiled functions, announced with the
    tutorial's lines: (the Run, train_model, training minibatches)."""
    datasets = load_for_training(dataset, batch_size, model_out)
    print('... building the model', flush=True)
    print(describe(), flush=True)
    print(compiling_line(), flush=True)
    with phase('build'):
        classifier, train_model, validate_model, test_model = chosen_build()(
            datasets, learning_rate, batch_size)
        compile_now(classifier.params,
                    [train_model, validate_model, test_model])
        kernel.announce()
    run = Run(classifier, validate_model,
              n_batches(datasets[1][0], batch_size), test_model,
              n_batches(datasets[2][0], batch_size), model_out, dataset,
              learning_rate=learning_rate, batch_size=batch_size)
    return run, train_model, n_batches(datasets[0][0], batch_size)


def sgd_optimization_mnist(learning_rate=LEARNING_RATE, n_epochs=N_EPOCHS,
                           dataset=DATASET, batch_size=BATCH_SIZE,
                           model_out=MODEL):
    """Train on ``dataset`` (see ``data.load_data``) with the tutorial's
    minibatch SGD and early stopping, saving each new best to
    ``model_out`` (and the ``.npz`` and history beside it).

    Returns the best validation error, its test error, the epochs run and
    the epochs per second; raises TrainingStopped, after the summary, when
    the cost diverges, and TrainingInterrupted when Ctrl-C or SIGTERM
    stops the run.
    """
    kernel.choice()   # a bad LOGREG_MNIST_KERNEL stops it before any file
    with prepared_outputs(model_out) as stop:
        run, train_model, n_train_batches = _prepare(
            dataset, learning_rate, batch_size, model_out)
        stop.defer()   # a model to keep from now on: stop cleanly
        print('... training the model', flush=True)
        patience = 5000               # steps to take whatever happens
        patience_increase = 2         # on a real improvement, wait this
        improvement_threshold = 0.995  # many times longer; "real" = 0.5 %
        validation_frequency = min(n_train_batches, patience // 2)
        watch = Watch(stop, learning_rate, run, n_train_batches)
        epoch = 0
        done_looping = False
        try:
            while (epoch < n_epochs) and (not done_looping):
                epoch = epoch + 1
                for minibatch_index in range(n_train_batches):
                    minibatch_avg_cost = train_model(minibatch_index)
                    iter = (epoch - 1) * n_train_batches + minibatch_index
                    watch.step(minibatch_avg_cost, epoch, minibatch_index)
                    if (iter + 1) % validation_frequency == 0:
                        watch.check()
                        loss, best = validate(
                            run, epoch, minibatch_index, n_train_batches,
                            iter, training_cost=watch.mean_cost,
                            patience=patience)
                        if loss < best * improvement_threshold:
                            patience = max(patience, iter * patience_increase)
                    if patience <= iter:
                        done_looping = True
                        break
                    watch.stop_if_asked()
            watch.check()
        except TrainingStopped:
            run.summary(__file__, epochs=epoch)   # what was done, then why
            raise
        result = run.summary(__file__, epochs=epoch)
    return dict(result, epochs=epoch)
