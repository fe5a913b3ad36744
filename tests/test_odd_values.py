"""Odd values a user or a file can hand the commands: each ends the run
with one line on stderr and a non-zero exit status, in bounded time and
memory -- never a traceback, a silent default, or a picture that takes
minutes to draw."""
import gzip
import io
import os
import pickle
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy
import pytest

from helpers import run_here, run_module
from logreg_mnist import plot
from logreg_mnist.errors import quoted

#: The limits the commands promise (plot.MOST_PANELS, plot.MOST_NAME,
#: history.MOST_COUNT and history.MOST_ROWS): written out here, so that
#: a change to one is a change to a test as well.
MOST_PANELS, MOST_NAME = 100, 40
MOST_COUNT, MOST_ROWS = 2 ** 53, 100000

PROG = 'python -m logreg_mnist.%s: error: '
HEADER = ('epoch,minibatch,iteration,validation_error,test_error,'
          'training_cost,patience\n')


def one_error(out, module='plot', status=None):
    """The run's only stderr line, after checking that it failed, without
    the name of the command (``module``, with the picture where argparse
    reports on the options of a picture)."""
    assert out.returncode != 0, out.stderr
    if status is not None:
        assert out.returncode == status, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith(PROG % module), lines[0][:2000]
    return lines[0][len(PROG % module):]


def images(n, pixels=16, seed=0):
    rng = numpy.random.RandomState(seed)
    return (rng.rand(n, pixels).astype(numpy.float32),
            numpy.arange(n, dtype=numpy.int64) % 10)


@pytest.fixture
def dataset(tmp_path):
    """A mnist.pkl.gz-style file of 4 x 4 images labelled 0 to 9."""
    path = tmp_path / 'small.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump((images(30), images(20, seed=1), images(20, seed=2)), f)
    return path


def small_model(path, n_out, n_in=16):
    """A .npz model as training writes it, without training."""
    rng = numpy.random.RandomState(n_out)
    numpy.savez(path, W=rng.randn(n_in, n_out), b=rng.randn(n_out),
                n_in=n_in, n_out=n_out, floatX='float64')
    return path


#################################################
# Class names: as many as the pictures need, real
#################################################

def test_predictions_need_a_name_for_every_label(tmp_path, dataset):
    # a 3-class model on digits 0-9: the titles name the true labels too
    model = small_model(tmp_path / 'm.npz', 3)
    out = run_here('plot', 'predictions', '--model', model, '--dataset',
                   dataset, '--class-names', 'a,b,c', cwd=tmp_path)
    message = one_error(out, status=2)
    assert message == (
        '--class-names gives 3 name(s), but the labels of %s (test split) '
        'go up to 9: give at least 10' % dataset)
    assert not (tmp_path / 'predictions.png').exists()


def test_the_digits_do_not_name_a_larger_model(tmp_path):
    model = small_model(tmp_path / 'm.npz', 12)
    out = run_here('plot', 'weights', '--model', model, cwd=tmp_path)
    assert one_error(out, status=2) == (
        'the model has 12 classes and only the 10 digits name them by '
        'default: give --class-names with 12 names')


@pytest.mark.parametrize('names, says', [
    ('', "argument --class-names: '' names no class"),
    ('a,,c', "argument --class-names: 'a,,c' holds an empty name"),
    (',', "argument --class-names: ',' holds an empty name"),
    ('a,' + 'b' * 100000 + ',c',
     'argument --class-names: a name of 100000 characters; a title shows '
     'at most %d' % MOST_NAME),
])
def test_class_names_that_name_nothing_are_refused(tmp_path, names, says):
    model = small_model(tmp_path / 'm.npz', 3)
    out = run_here('plot', 'weights', '--model', model, '--class-names',
                   names, cwd=tmp_path)
    assert one_error(out, 'plot weights', status=2) == (
        says + ' (see --help)')
    assert not (tmp_path / 'weights.png').exists()


def test_class_names_are_drawn_as_they_are_written(tmp_path):
    # (matplotlib reads text between two $ as a formula, and fails on
    # most of them)
    model = small_model(tmp_path / 'm.npz', 3)
    out = run_here('plot', 'weights', '--model', model, '--class-names',
                   r'$\nothing$,$x^$,c', cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    fig = plot.weights_figure(numpy.ones((16, 3)),
                              [r'$\nothing$', '$x^$', 'c'])
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == [
        r'$\nothing$', '$x^$', 'c']


###############################################
# Histories: values a plot can place, or refused
###############################################

def history_row(**values):
    row = dict(epoch=1, minibatch=10, iteration=10, validation_error=0.5,
               test_error=0.25, training_cost=1.5, patience=34)
    row.update(values)
    return ','.join(str(row[k]) for k in HEADER.strip().split(',')) + '\n'


BIG = '1' + '0' * 399   # 10**399: float() overflows on it


@pytest.mark.parametrize('row, says', [
    (history_row(epoch=BIG), 'epoch %s: a count of 2**53 or more, which a '
                             'plot cannot place' % quoted(BIG)),
    (history_row(patience=BIG), 'patience %s: a count of 2**53 or more, '
                                'which a plot cannot place' % quoted(BIG)),
    (history_row(iteration=MOST_COUNT),
     "iteration '%d': a count of 2**53 or more, which a plot cannot place"
     % MOST_COUNT),
    (history_row(minibatch='1e3'), "minibatch '1e3': not a whole number"),
    (history_row(minibatch='-4'), "minibatch '-4': counts start at 1"),
    (history_row(epoch='x' * 100000),
     'epoch %s: not a whole number' % quoted('x' * 100000)),
    (history_row(test_error='y' * 100000),
     'test_error %s: not a number' % quoted('y' * 100000)),
    (history_row(training_cost='1.7e308'),
     "training_cost '1.7e308': a training cost above 1e+300, which a plot "
     "cannot place"),
    (history_row(training_cost='-inf'),
     "training_cost '-inf': a training cost that is negative or not "
     "finite"),
    (history_row(validation_error='nan'),
     "validation_error 'nan': an error rate outside 0..1"),
    ('1,10\n', 'no iteration'),
])
def test_history_values_a_plot_cannot_place_are_one_line(tmp_path, row,
                                                         says):
    (tmp_path / 'h.csv').write_text(HEADER + history_row() + row)
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    message = one_error(out, status=1)
    assert message == 'h.csv is not a training history (line 3: %s)' % says
    assert len(message) < 400   # (at most 200 characters of the file)
    assert not (tmp_path / 'curve.png').exists()


@pytest.mark.parametrize('rows', [
    # every validation the same (a flat curve), one validation, the
    # largest values read
    history_row() + history_row(epoch=2, iteration=20),
    history_row(),
    history_row(epoch=MOST_COUNT - 1, minibatch=MOST_COUNT - 1,
                iteration=MOST_COUNT - 1, patience=MOST_COUNT - 1,
                training_cost='1e300', validation_error=1, test_error=1),
])
def test_histories_at_the_edges_still_plot(tmp_path, rows):
    (tmp_path / 'h.csv').write_text(HEADER + rows)
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == 'wrote curve.png\n'


def test_a_history_longer_than_a_plot_is_refused(tmp_path):
    rows = ''.join('%d,10,%d,0.5,0.25,1.5,34\n' % (i, 10 * i)
                   for i in range(1, MOST_ROWS + 2))
    (tmp_path / 'h.csv').write_text(HEADER + rows)
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert one_error(out, status=1) == (
        'h.csv holds more than %d validation rows, more than a learning '
        'curve can show' % MOST_ROWS)


#######################################################
# Empty names: refused as they are given, not defaulted
#######################################################

@pytest.mark.parametrize('command', [
    ['train', '--n-epochs', 1], ['cg', '--n-epochs', 1],
    ['plot', 'samples'], ['plot', 'predictions'], ['predict'],
    ['benchmark']])
def test_an_empty_dataset_name_is_refused(tmp_path, command):
    out = run_here(*command, '--dataset', '', cwd=tmp_path)
    prog = ' '.join(map(str, command[:2 if command[0] == 'plot' else 1]))
    assert one_error(out, prog, status=2) == (
        "argument --dataset: '' names no dataset (see --help)")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('flag', ['--history', '--model'])
def test_an_empty_history_or_model_name_is_refused(tmp_path, flag):
    (tmp_path / 'best_model.history.csv').write_text(HEADER + history_row())
    out = run_here('plot', 'curve', flag, '', cwd=tmp_path)
    assert one_error(out, 'plot curve', status=2) == (
        "argument %s: '' names no file (see --help)" % flag)
    assert not (tmp_path / 'curve.png').exists()


###############################################
# Pictures: as many images as a picture can show
###############################################

@pytest.mark.parametrize('picture, n, says', [
    ('samples', 100000, 'at most %d images fit a picture, got 100000'),
    ('predictions', MOST_PANELS + 1,
     'at most %%d images fit a picture, got %d' % (MOST_PANELS + 1)),
    ('samples', 0, "expected a positive int, got '0'"),
])
def test_more_images_than_a_picture_shows_are_refused(tmp_path, dataset,
                                                      picture, n, says):
    extra = ['--model', small_model(tmp_path / 'm.npz', 10)] \
        if picture == 'predictions' else []
    out = run_here('plot', picture, '--dataset', dataset, '-n', n, *extra,
                   cwd=tmp_path)
    says = says % MOST_PANELS if '%d' in says else says
    assert one_error(out, 'plot ' + picture, status=2) == (
        'argument -n: %s (see --help)' % says)
    assert not (tmp_path / (picture + '.png')).exists()


def test_a_model_of_more_classes_than_a_picture_shows(tmp_path):
    model = small_model(tmp_path / 'm.npz', MOST_PANELS + 1, n_in=1)
    out = run_here('plot', 'weights', '--model', model, cwd=tmp_path)
    assert one_error(out, status=1) == (
        'the model has %d classes; a picture shows the weights of at most '
        '%d' % (MOST_PANELS + 1, MOST_PANELS))


def test_an_empty_split_is_one_line(tmp_path):
    path = tmp_path / 'd.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump((images(30), images(0), images(20)), f)
    out = run_here('plot', 'samples', '--dataset', path, '--split', 'valid',
                   cwd=tmp_path)
    assert one_error(out, status=1) == (
        '%s holds no images in its valid split' % path)
    assert not (tmp_path / 'samples.png').exists()


def test_images_of_no_pixels_are_one_line(tmp_path):
    path = tmp_path / 'd.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump(tuple(images(5, pixels=0) for _ in range(3)), f)
    out = run_here('plot', 'samples', '--dataset', path, cwd=tmp_path)
    assert one_error(out, status=1) == (
        '%s (train split): images of no pixels' % path)
    assert not (tmp_path / 'samples.png').exists()


###################################################
# A closed stdout: the run says so, like a full one
###################################################

def run_without_stdout(*args, cwd):
    """``python -m logreg_mnist.<args> >&-``: file descriptor 1 not open."""
    return subprocess.run(
        [sys.executable, '-m', 'logreg_mnist.' + args[0]] +
        [str(a) for a in args[1:]], cwd=cwd, stderr=subprocess.PIPE,
        text=True, timeout=300, preexec_fn=lambda: os.close(1))


@pytest.mark.parametrize('command', ['train --help', 'plot samples'])
def test_a_closed_stdout_is_one_line(tmp_path, dataset, command):
    module, *args = command.split()
    if module == 'plot':
        args += ['--dataset', dataset, '--out', tmp_path / 's.png']
    out = run_without_stdout(module, *args, cwd=tmp_path)
    assert one_error(out, module, status=1) == (
        'standard output: Bad file descriptor')
    # the picture is written before the line that says so
    assert sorted(os.listdir(tmp_path)) == (
        ['s.png', 'small.pkl.gz'] if module == 'plot' else ['small.pkl.gz'])


###########################################################
# Weights at the ends of their types: drawn, or one line
###########################################################

def npz_model(path, W):
    n_in, n_out = W.shape
    numpy.savez(path, W=W, b=numpy.zeros(n_out), n_in=n_in, n_out=n_out,
                floatX='float64')
    return path


def test_int8_weights_at_their_most_negative_plot(tmp_path):
    # (numpy.abs of int8 -128 is -128: a colour scale from 128 to -128)
    W = numpy.full((16, 3), -128, numpy.int8)
    out = run_here('plot', 'weights', '--model',
                   npz_model(tmp_path / 'm.npz', W), cwd=tmp_path)
    assert (out.returncode, out.stderr) == (0, ''), out.stderr[-2000:]
    assert (tmp_path / 'weights.png').stat().st_size > 0
    image = plot.weights_figure(W).axes[0].images[0]
    assert image.get_clim() == (-128, 128)


@pytest.mark.parametrize('top', [1e308, numpy.finfo(numpy.float64).max])
def test_weights_near_the_largest_float_are_drawn(tmp_path, top):
    # (the colour scale's range, 2 * top, is infinite in floats)
    W = numpy.zeros((16, 3))
    W[0], W[1] = top, -top
    fig = plot.weights_figure(W)
    fig.savefig(io.BytesIO(), format='png')
    out = run_here('plot', 'weights', '--model',
                   npz_model(tmp_path / 'm.npz', W), cwd=tmp_path)
    if out.returncode:   # (the model reader may refuse such weights)
        one_error(out, status=1)
        assert not (tmp_path / 'weights.png').exists()
    else:
        assert out.stderr == '' and out.stdout == 'wrote weights.png\n'


###########################################################
# Class names the font cannot draw: refused, not drawn as boxes
###########################################################

@pytest.mark.parametrize('names, bad', [
    ('\x01,b,c', '\x01'), ('a,b\x7f,c', '\x7f'), ('a\nb,c,d', '\n'),
    ('a,\x9b,c', '\x9b')])
def test_class_names_with_control_characters_are_refused(tmp_path, names,
                                                         bad):
    model = small_model(tmp_path / 'm.npz', 3)
    out = run_here('plot', 'weights', '--model', model, '--class-names',
                   names, cwd=tmp_path)
    assert one_error(out, 'plot weights', status=2) == (
        'argument --class-names: %s holds %s, a control character '
        '(see --help)' % (quoted(names), quoted(bad)))
    assert not (tmp_path / 'weights.png').exists()


@pytest.mark.parametrize('picture', ['weights', 'samples'])
def test_class_names_the_font_cannot_draw_are_one_line(tmp_path, dataset,
                                                       picture):
    names = ','.join('零一二三四五六七八九')
    extra = (['--model', small_model(tmp_path / 'm.npz', 10)]
             if picture == 'weights' else ['--dataset', dataset])
    for _ in range(2):   # (a second picture in one process as well)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            out = run_here('plot', picture, *extra, '--class-names', names,
                           cwd=tmp_path)
        assert [str(w.message) for w in caught] == []
        assert one_error(out, status=2) == (
            "--class-names: the font has no glyph for '零' of the name '零': "
            "give names the font can draw")
        assert not (tmp_path / (picture + '.png')).exists()


def test_a_picture_that_draws_no_missing_glyph_is_written(tmp_path):
    fig = plot.weights_figure(numpy.ones((16, 3)), ['a', 'é', 'Ω'])
    plot.save(fig, str(tmp_path / 'w.png'))
    assert (tmp_path / 'w.png').stat().st_size > 0


###########################################################
# Histories: small files, read in bounded time and memory
###########################################################

def test_a_history_of_a_million_columns_is_one_line(tmp_path):
    extra = ''.join(',x%d' % i for i in range(1000000))
    (tmp_path / 'h.csv').write_text(HEADER.strip() + extra + '\n' +
                                    history_row() * 20)
    started = time.monotonic()
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert one_error(out, status=1) == (
        'h.csv is not a training history (line 1: 1000007 columns, '
        'more than the 32 a history may have)')
    assert time.monotonic() - started < 20
    assert not (tmp_path / 'curve.png').exists()


def test_a_history_of_32_columns_still_plots(tmp_path):
    extra = ''.join(',x%d' % i for i in range(32 - 7))
    (tmp_path / 'h.csv').write_text(HEADER.strip() + extra + '\n' +
                                    history_row() * 3)
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert (out.returncode, out.stdout) == (0, 'wrote curve.png\n'), \
        out.stderr[-2000:]


def test_a_history_larger_than_16_mb_is_one_line(tmp_path):
    # blank lines, which a CSV reader skips: a history that would plot
    (tmp_path / 'h.csv').write_text(HEADER + history_row() +
                                    '\n' * (16 << 20))
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert one_error(out, status=1) == (
        'h.csv holds more than 16 MB, more than a training history does')
    assert not (tmp_path / 'curve.png').exists()


def test_a_lower_input_limit_still_applies_to_histories(tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '1')
    (tmp_path / 'h.csv').write_text(HEADER + history_row() + '\n' * (2 << 20))
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert one_error(out, status=1) == (
        'h.csv holds more than 1 MB (the limit for an input file; set '
        'LOGREG_MNIST_MAX_MB to raise it)')


@pytest.mark.skipif(not os.path.isfile('/proc/self/pagemap'),
                    reason='no /proc/self/pagemap here')
def test_a_history_of_size_0_and_endless_content_is_read_in_16_mb(tmp_path):
    # a regular file whose size says 0 and whose content goes on and on
    tracemalloc.start()
    try:
        out = run_here('plot', 'curve', '--history', '/proc/self/pagemap',
                       cwd=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert one_error(out, status=1) == (
        '/proc/self/pagemap holds more than 16 MB, more than a training '
        'history does')
    assert peak < 64 << 20
    assert not (tmp_path / 'curve.png').exists()


###########################################################
# Predictions: the images as the engine computes with them
###########################################################

def test_predictions_refuse_a_pixel_the_float32_cast_makes_infinite(
        tmp_path):
    x, y = images(20)
    big = x.astype(numpy.float64)
    big[3, 5] = 1e300   # finite in float64, infinite in float32
    path = tmp_path / 'd.pkl.gz'
    with gzip.open(path, 'wb') as f:
        pickle.dump(((x, y), (x, y), (big, y)), f)
    model = small_model(tmp_path / 'm.npz', 10)
    out = run_module('plot', 'predictions', '--model', model, '--dataset',
                     path, cwd=tmp_path,
                     env={'THEANO_FLAGS': 'floatX=float32'})
    assert one_error(out, status=1) == (
        '%s (test split): images contain NaN or infinite values' % path)
    assert not (tmp_path / 'predictions.png').exists()
