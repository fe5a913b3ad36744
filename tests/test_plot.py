"""Pictures: PNG files a person can read, drawn from real models and data."""
import subprocess
import sys

import numpy
import pytest
from PIL import Image

import helpers
from helpers import run_here, run_ok
from logreg_mnist import plot
from logreg_mnist.errors import DataError
from logreg_mnist.files.history import read_history


@pytest.fixture(scope='module')
def trained(small_pkl, tmp_path_factory):
    folder = tmp_path_factory.mktemp('plot')
    run_ok('train', '--dataset', small_pkl, '--n-epochs', 30,
           '--model-out', folder / 'best_model.pkl')
    return folder


def pixels(path):
    return numpy.asarray(Image.open(path).convert('RGB'), dtype=float)


def assert_picture(path, size):
    image = Image.open(path)
    assert image.format == 'PNG'
    # inches x 100 dpi, give or take the rounding of a pixel
    assert abs(image.size[0] - size[0]) <= 1
    assert abs(image.size[1] - size[1]) <= 1
    rgb = pixels(path)
    assert rgb.std() > 20           # not blank
    assert (rgb.mean(axis=2) < 128).mean() > 0.01   # ink, not just frame


@pytest.mark.parametrize('picture, args, size', [
    ('weights', ['--model', 'best_model.npz'], (1130, 460)),
    ('weights', ['--model', 'best_model.pkl'], (1130, 460)),
    ('predictions', ['--model', 'best_model.npz', '-n', 20], (1200, 290)),
    ('curve', ['--model', 'best_model.pkl'], (700, 600)),
])
def test_pictures_of_a_trained_model(trained, small_pkl, picture, args,
                                     size):
    out_png = trained / (picture + '.png')
    extra = ['--dataset', small_pkl] if picture == 'predictions' else []
    out = run_here('plot', picture, *args, *extra, '--out', out_png,
                   cwd=trained)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'wrote %s' % out_png
    assert_picture(out_png, size)


def test_weights_use_a_diverging_map_centred_on_zero(trained):
    out = run_here('plot', 'weights', '--model', 'best_model.npz',
                   '--out', 'w.png', cwd=trained)
    assert out.returncode == 0, out.stderr
    rgb = pixels(trained / 'w.png')
    reds = ((rgb[..., 0] > 150) & (rgb[..., 2] < 100)).sum()
    blues = ((rgb[..., 2] > 150) & (rgb[..., 0] < 100)).sum()
    assert reds > 500 and blues > 500


def test_samples(small_pkl, tmp_path):
    out = run_here('plot', 'samples', '--dataset', small_pkl, '-n', 30,
                   '--split', 'valid', '--out', tmp_path / 's.png')
    assert out.returncode == 0, out.stderr
    assert_picture(tmp_path / 's.png', (1200, 435))


def test_predictions_titles_name_label_probability_and_mistakes(digits):
    rng = numpy.random.RandomState(0)
    images = digits[0][:12].reshape(12, -1) / 255.0
    labels = digits[1][:12]
    probs = rng.dirichlet(numpy.ones(10), size=12)
    fig = plot.predictions_figure(images, labels, probs)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 12
    for ax, p, label in zip(axes, probs, labels):
        title = ax.get_title()
        assert title.startswith('%d (%.0f%%)' % (p.argmax(), 100 * p.max()))
        wrong = p.argmax() != label
        assert ('true %d' % label in title) == wrong
        assert ax.title.get_color() == ('#c00000' if wrong else '#006000')
    n_wrong = int((probs.argmax(axis=1) != labels).sum())
    assert fig.get_suptitle().endswith(': %d wrong (red)' % n_wrong)


HEADER = 'epoch,minibatch,iteration,validation_error,test_error'


def curve_of(tmp_path, text):
    """The figure ``plot curve`` draws from a history of this text."""
    (tmp_path / 'h.csv').write_text(text)
    return plot.curve_figure(read_history(str(tmp_path / 'h.csv')))


def test_curve_shows_cost_errors_and_where_patience_ran_out(tmp_path):
    # 10 minibatches an epoch; patience ran out after step 35 of epoch 4
    fig = curve_of(tmp_path, HEADER + ',training_cost,patience\n'
                   '1,10,10,0.5,0.45,2.0,34\n'
                   '2,10,20,0.25,0.3,1.0,34\n'
                   '3,10,30,0.375,,0.75,34\n')
    top, bottom = fig.axes
    cost, run_out = top.get_lines()
    assert list(cost.get_xdata()) == [1, 2, 3]
    assert list(cost.get_ydata()) == [2.0, 1.0, 0.75]
    assert list(run_out.get_xdata()) == [3.5, 3.5]
    assert run_out.get_label() == 'patience ran out (iteration 35)'
    validation, tests, run_out = bottom.get_lines()
    assert list(validation.get_ydata()) == [50, 25, 37.5]
    assert list(tests.get_xdata()) == [1, 2]
    assert list(tests.get_ydata()) == [45, 30]
    assert list(run_out.get_xdata()) == [3.5, 3.5]
    assert bottom.get_xlabel() == 'epoch'
    fig.canvas.draw()   # the ticks are whole epochs
    ticks = bottom.get_xticks()
    assert len(ticks) >= 2 and all(t == int(t) for t in ticks)


def test_curve_marks_no_run_out_while_patience_lasts(tmp_path):
    fig = curve_of(tmp_path, HEADER + ',training_cost,patience\n'
                   '1,10,10,0.5,0.45,2.0,5000\n'
                   '2,10,20,0.25,0.3,1.0,5000\n')
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 2]


def test_curve_of_cg_says_iterations(tmp_path):
    fig = curve_of(tmp_path, HEADER + ',training_cost,patience\n'
                   '1,84,1,0.3,0.32,1.2,\n'
                   '2,84,2,0.24,0.26,0.9,\n')
    assert fig.axes[1].get_xlabel() == 'CG iteration'
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2]


def test_old_history_without_cost_or_patience_still_plots(tmp_path):
    (tmp_path / 'h.csv').write_text(HEADER + '\n1,10,10,0.5,0.45\n'
                                    '2,10,20,0.25,\n')
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert_picture(tmp_path / 'curve.png', (700, 400))
    (ax,) = curve_of(tmp_path, (tmp_path / 'h.csv').read_text()).axes
    assert [list(l.get_ydata()) for l in ax.get_lines()] == [[50, 25], [45]]
    assert ax.get_xlabel() == 'epoch'


def test_square_models_of_other_sizes_draw(tmp_path):
    W = numpy.random.RandomState(0).randn(16 * 16, 10)
    fig = plot.weights_figure(W)
    assert fig.axes[0].images[0].get_array().shape == (16, 16)


def test_non_square_pixels_are_refused(tmp_path):
    path = helpers.synthetic_pkl(tmp_path / 'syn.pkl.gz')   # 20 pixels
    out = run_here('train', '--dataset', path, '--batch-size', 20,
                   '--n-epochs', 2, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_here('plot', 'weights', cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'python -m logreg_mnist.plot: error: the model has 20 pixels per '
        'image, which is not a square number: it cannot be drawn as a '
        'square image')
    with pytest.raises(DataError, match='not a square number'):
        plot.image_side(783, 'the dataset')


def test_missing_history_is_one_line(tmp_path):
    out = run_here('plot', 'curve', '--model', tmp_path / 'none.pkl')
    assert out.returncode == 1
    assert out.stderr.strip().endswith(
        '%s: No such file or directory' % (tmp_path / 'none.history.csv'))


def test_predictions_refuse_data_of_another_width(trained, tmp_path):
    narrow = helpers.synthetic_pkl(tmp_path / 'syn.pkl.gz')   # 20 pixels
    model = trained / 'best_model.npz'
    out = run_here('plot', 'predictions', '--model', model,
                   '--dataset', narrow, '--out', tmp_path / 'p.png')
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'python -m logreg_mnist.plot: error: %s has 20 pixels per image, '
        'but the model in %s expects 784' % (narrow, model))
    assert not (tmp_path / 'p.png').exists()


def test_too_few_class_names_is_one_line(trained):
    out = run_here('plot', 'weights', '--model', 'best_model.npz',
                   '--class-names', 'a,b,c', '--out', 'w.png', cwd=trained)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        'python -m logreg_mnist.plot: error: --class-names gives 3 name(s), '
        'but there are 10 classes')


@pytest.mark.parametrize('content, says', [
    (b'epoch,minibatch,iteration,validation_error,test_error\n'
     b'1,0,1,0.5,\n', 'counts start at 1'),
    (b'epoch,minibatch,iteration,validation_error,test_error\n'
     b'1,1,1,1.5,\n', 'an error rate outside 0..1'),
    (b'\x00\xff' * 100, 'is not a training history'),
    (b'epoch,minibatch,iteration,validation_error,test_error\n',
     'holds no validation rows'),
    (b'epoch,minibatch,iteration,validation_error,test_error,training_cost,'
     b'patience\n1,1,1,0.5,,nan,\n', 'negative or not finite'),
    (b'epoch,minibatch,iteration,validation_error,test_error,training_cost,'
     b'patience\n1,1,1,0.5,,1.0,0\n', 'a patience below 1'),
])
def test_bad_history_files_are_one_line(tmp_path, content, says):
    (tmp_path / 'h.csv').write_bytes(content)
    out = run_here('plot', 'curve', '--history', 'h.csv', cwd=tmp_path)
    assert out.returncode == 1
    (line,) = out.stderr.strip().splitlines()
    assert 'h.csv' in line and says in line
    assert not (tmp_path / 'curve.png').exists()


#: Python run with the engines unimportable: importing any of these fails.
WITHOUT_ENGINE = (
    'import sys; sys.modules.update(dict.fromkeys(["theano", "pytensor", '
    '"logreg_mnist.engine"])); from logreg_mnist.plot import main; '
    'main(sys.argv[1:])')


def test_pictures_of_files_alone_need_no_engine(trained, small_pkl,
                                                tmp_path):
    for picture, source in (
            ('curve', ['--history', trained / 'best_model.history.csv']),
            ('samples', ['--dataset', small_pkl]),
            ('weights', ['--model', trained / 'best_model.npz'])):
        out_png = tmp_path / (picture + '.png')
        out = subprocess.run(
            [sys.executable, '-c', WITHOUT_ENGINE, picture, *map(str, source),
             '--out', str(out_png)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout == 'wrote %s\n' % out_png
        assert Image.open(out_png).format == 'PNG'
    # (the same way, a picture that needs the engine fails)
    out = subprocess.run(
        [sys.executable, '-c', WITHOUT_ENGINE, 'predictions', '--model',
         str(trained / 'best_model.npz'), '--dataset', str(small_pkl),
         '--out', str(tmp_path / 'p.png')], capture_output=True, text=True)
    assert out.returncode != 0
    assert 'import of logreg_mnist.engine halted' in out.stderr
