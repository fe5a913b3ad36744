"""``python -m logreg_mnist.plot``: the pictures a reader of the tutorial wants.

* ``weights``: each class's column of ``W`` as an image (red pixels vote for
  the class, blue ones against it);
* ``samples``: the first images of a split with their labels;
* ``predictions``: test images titled with the predicted label and its
  probability, mistakes in red with the true label;
* ``curve``: the training cost, the validation error, the test error of
  each new best and where patience ran out, over a training run, from the
  history file training writes beside the model.

Every picture is a PNG written with matplotlib's Agg backend (no display
needed).  Images are drawn as squares: a model or dataset whose number of
pixels is not a square number is refused with a clear message.  A picture
shows at most ``MOST_PANELS`` images (or classes), each titled with class
names of at most ``MOST_NAME`` characters, drawn as written; there must be
a name for every class the model has and every label the images have.
"""
import argparse
import math
import re
import unicodedata
import warnings

import numpy

from . import cli
from .data import N_CLASSES
from .defaults import DATASET, MODEL
from .errors import DataError, UsageError, cut, quoted
from .files.writing import refuse_overwrite

DIGITS = [str(d) for d in range(N_CLASSES)]

#: The most images (``samples``, ``predictions``) or classes (``weights``)
#: one picture shows: a 10 x 10 grid, a few seconds to draw.  (A hundred
#: thousand took two minutes and 400 MB, for images too small to see.)
MOST_PANELS = 100

#: The most characters of a class name: a title over one image.
MOST_NAME = 40

#: The largest weight drawn as it is: above it, matplotlib's arithmetic
#: on the colour scale (its range, its ticks) overflows, so the weights are
#: drawn in units of a power of ten, which the colour bar's label gives.
MOST_WEIGHT = 1e300


def _figure(width, height):
    from matplotlib.figure import Figure   # Agg, no pyplot, no display
    return Figure(figsize=(width, height), dpi=100, layout='constrained')


def image_side(n_in, what):
    """The side of the square images of ``n_in`` pixels, or DataError."""
    if n_in < 1:
        raise DataError('%s has no pixels per image: there is nothing to '
                        'draw' % what)
    side = int(round(math.sqrt(n_in)))
    if side * side != n_in:
        raise DataError('%s has %d pixels per image, which is not a square '
                        'number: it cannot be drawn as a square image'
                        % (what, n_in))
    return side


def weights_figure(W, class_names=DIGITS):
    """The columns of W as images in a 2 x 5 grid (for 10 classes)."""
    n_in, n_out = W.shape
    side = image_side(n_in, 'the model')
    cols = min(5, n_out)
    rows = int(math.ceil(n_out / cols))
    fig = _figure(2.1 * cols + 0.8, 2.3 * rows)
    axes = numpy.atleast_1d(fig.subplots(rows, cols)).ravel()
    # one colour scale for all classes, centred on 0, computed in float64
    # (numpy.abs of int8 -128 is -128)
    W = numpy.asarray(W, dtype=numpy.float64)
    limit = float(numpy.abs(W).max()) or 1.0
    label = 'weight'
    if limit > MOST_WEIGHT:
        power = int(math.floor(math.log10(limit)))
        W, limit = W / 10.0 ** power, limit / 10.0 ** power
        label = 'weight (in units of 1e%d)' % power
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k < n_out:
            shown = ax.imshow(W[:, k].reshape(side, side), cmap='RdBu_r',
                              vmin=-limit, vmax=limit)
            ax.set_title(class_names[k] if k < len(class_names) else str(k),
                         parse_math=False)   # a name as it is written
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label=label)
    fig.suptitle('Weights W of each class')
    return fig


def _grid(images, titles, colors=None, frames=None, ncols=10):
    n = len(images)
    side = image_side(images.shape[1], 'the dataset')
    ncols = min(ncols, n)
    nrows = int(math.ceil(n / ncols))
    fig = _figure(1.2 * ncols, 1.45 * nrows)
    axes = numpy.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i].reshape(side, side), cmap='gray_r')
        color = colors[i] if colors else 'black'
        ax.set_title(titles[i], color=color, fontsize=9,
                     parse_math=False)   # names as they are written
        for spine in ax.spines.values():
            spine.set_color(frames[i] if frames else '#999999')
            spine.set_linewidth(2 if frames and frames[i] != '#999999' else 1)
    return fig


def samples_figure(images, labels, split, class_names=DIGITS):
    fig = _grid(images, [class_names[int(l)] for l in labels])
    fig.suptitle('The first %d images of the %s split, with their labels'
                 % (len(images), split))
    return fig


def predictions_figure(images, labels, probabilities, class_names=DIGITS):
    predicted = probabilities.argmax(axis=1)
    titles, colors, frames = [], [], []
    for p, label, probs in zip(predicted, labels, probabilities):
        title = '%s (%.0f%%)' % (class_names[p], 100 * probs[p])
        wrong = p != label
        if wrong:
            title += '\ntrue %s' % class_names[int(label)]
        titles.append(title)
        colors.append('#c00000' if wrong else '#006000')
        frames.append('#c00000' if wrong else '#999999')
    fig = _grid(images, titles, colors, frames)
    fig.suptitle('Predictions on the first %d test images: %d wrong (red)'
                 % (len(images), int((predicted != labels).sum())))
    return fig


def patience_ran_out(rows):
    """The iteration at which patience ran out, or None: when the last
    validation's patience came before the next validation would have."""
    last = rows[-1]
    per_epoch = max(r['minibatch'] for r in rows)
    if last['patience'] is None:
        return None
    stop = last['patience'] + 1   # steps taken when the loop ends
    return stop if stop <= last['iteration'] + per_epoch else None


def curve_figure(rows):
    """The training cost (when the history has it) above the validation
    error, the test error of each new best, and where patience ran out."""
    from matplotlib.ticker import MaxNLocator
    per_epoch = max(r['minibatch'] for r in rows)
    x = [r['epoch'] - 1 + r['minibatch'] / float(per_epoch) for r in rows]
    cg = all(r['iteration'] == r['epoch'] and r['patience'] is None
             for r in rows)
    costs = [(xi, r['training_cost']) for xi, r in zip(x, rows)
             if r['training_cost'] is not None]
    fig = _figure(7, 6 if costs else 4)
    if costs:
        top, ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 3])
        top.plot(*zip(*costs), color='#7b3294', marker='.',
                 label='training cost')
        top.set_ylabel('cost (mean NLL)')
        top.set_title('Training cost (mean negative log-likelihood %s)'
                      % ('over the training set' if cg
                         else 'of the epoch\'s minibatches'))
        panels = [top, ax]
    else:
        ax = fig.subplots()
        panels = [ax]
    ax.plot(x, [100 * r['validation_error'] for r in rows],
            label='validation error')
    best = [(xi, r) for xi, r in zip(x, rows) if r['test_error'] is not None]
    ax.plot([xi for xi, _ in best], [100 * r['test_error'] for _, r in best],
            'o', markersize=3, label='test error of each new best')
    final_x, final = best[-1] if best else (x[-1], rows[-1])
    ax.annotate('best: %.2f %% validation, %.2f %% test'
                % (100 * final['validation_error'],
                   100 * (final['test_error'] or 0)),
                (final_x, 100 * final['validation_error']),
                xytext=(0.35, 0.55), textcoords='axes fraction',
                arrowprops={'arrowstyle': '->'})
    stop = patience_ran_out(rows)
    for panel in panels:
        if stop is not None:
            panel.axvline(stop / float(per_epoch), color='#d7191c',
                          linestyle='--', linewidth=1,
                          label='patience ran out (iteration %d)' % stop)
        panel.grid(alpha=0.3)
        panel.legend(loc='upper right')
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('CG iteration' if cg else 'epoch')
    ax.set_ylabel('error (%)')
    ax.set_title('Validation error, and test error of each new best')
    fig.suptitle('Learning curve (%s)' % ('conjugate gradient' if cg else
                                          'minibatch SGD, early stopping'))
    return fig


def save(fig, path, class_names=()):
    """Write ``fig`` to ``path`` as a PNG; UsageError (DataError when the
    character is not of ``class_names``), and no file, when its text holds
    a character the font has no glyph for: a picture would show a box."""
    from .files.writing import atomic_write
    with atomic_write(path) as f:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            fig.savefig(f, format='png')
        missing = [w for w in caught if 'missing from' in str(w.message)]
        for w in caught:
            if w not in missing:   # (someone else's: as it would be)
                warnings.warn_explicit(w.message, w.category, w.filename,
                                       w.lineno)
        if missing:
            raise _no_glyph(str(missing[0].message), class_names)
    print('wrote %s' % path)


def _no_glyph(message, class_names):
    """The error for matplotlib's warning ``message`` of a missing glyph
    ("Glyph 38646 (...) missing from font(s) DejaVu Sans.")."""
    found = re.match(r'Glyph (\d+)', message)
    char = chr(int(found.group(1))) if found and int(
        found.group(1)) <= 0x10ffff else None
    for name in class_names:
        if char is not None and char in name:
            return UsageError('`class_names`: the font has no glyph for %s '
                              'of the name %s: give names the font can draw'
                              % (quoted(char), quoted(name)))
    return DataError('the picture holds a character the font cannot draw '
                     '(%s)' % cut(message))


###############################################
# Command line: one subcommand for each picture
###############################################

def class_name_list(text):
    """An argparse type: comma-separated class names, none of them empty
    (an empty ``--class-names`` is refused, not read as the default) or
    longer than a title can show."""
    names = text.split(',')
    if not text:
        raise argparse.ArgumentTypeError("'' names no class")
    if not all(name.strip() for name in names):
        raise argparse.ArgumentTypeError('%s holds an empty name'
                                         % quoted(text))
    longest = max(len(name) for name in names)
    if longest > MOST_NAME:
        raise argparse.ArgumentTypeError(
            'a name of %d characters; a title shows at most %d'
            % (longest, MOST_NAME))
    for char in text:
        kind = unicodedata.category(char)
        if kind in ('Cc', 'Cs'):   # (Cs: a byte that is not text, from argv)
            raise argparse.ArgumentTypeError('%s holds %s, a %s' % (
                quoted(text), quoted(char), 'control character'
                if kind == 'Cc' else 'byte that is not text'))
    return names


def image_count(text):
    """An argparse type: how many images, 1 to ``MOST_PANELS``."""
    n = cli.positive(int)(text)
    if n > MOST_PANELS:
        raise argparse.ArgumentTypeError(
            'at most %d images fit a picture, got %d' % (MOST_PANELS, n))
    return n


def _names(given, n_classes=0, labels=(), source=None):
    """The names a picture titles its images with: ``given`` (by
    ``--class-names``) or the digits, which must name each of a model's
    ``n_classes`` and every label in ``labels`` (those of ``source``)."""
    names = given or DIGITS
    if len(names) < n_classes:
        if given is None:
            raise UsageError('the model has %d classes and only the %d '
                             'digits name them by default: give '
                             '`class_names` with %d names'
                             % (n_classes, len(DIGITS), n_classes))
        raise UsageError('`class_names` gives %d name(s), but there are %d '
                         'classes' % (len(names), n_classes))
    top = int(numpy.max(labels)) if len(labels) else -1
    if len(names) <= top:
        raise UsageError('`class_names` gives %d name(s), but the labels of '
                         '%s go up to %d: give at least %d'
                         % (len(names), source, top, top + 1))
    return names


def _split(args, split, dtype=None):
    """The first ``args.n`` images of a split of ``args.dataset`` and their
    labels (the images cast to ``dtype`` if given, and checked after the
    cast); DataError when it holds none."""
    from .data import SPLITS, read_dataset, resolve_dataset
    x, y = read_dataset(resolve_dataset(args.dataset),
                        dtype=dtype)[SPLITS.index(split)]
    if not len(x):
        raise DataError('%s holds no images in its %s split'
                        % (args.dataset, split))
    return x[:args.n], y[:args.n]


def _model_and_data(args):
    """The first test images, their labels and the probabilities the
    model gives them."""
    from .engine import theano
    from .files.modelfile import load_model, model_input
    classifier = load_model(args.model)
    # as the engine computes with them: a pixel of 1e300 is finite in
    # float64 and infinite in float32
    test_x, test_y = _split(args, 'test', dtype=theano.config.floatX)
    probabilities = theano.function([classifier.input],
                                    classifier.p_y_given_x)(
        model_input(classifier, test_x, args.model, args.dataset))
    return test_x, test_y, probabilities


def _inputs(args):
    """The files this picture is drawn from: --out must be none of them."""
    from .files.modelfile import model_set
    from .data import dataset_files
    dataset = getattr(args, 'dataset', None)
    inputs = [('`history`', getattr(args, 'history', None))]
    if dataset:
        inputs += [('`dataset`', p) for p in dataset_files(dataset)]
    model = getattr(args, 'model', None)
    if model:
        inputs += [('`model`', path) for path in model_set(model)]
    return [(flag, path) for flag, path in inputs if path]


def plot(args):
    out = args.out or args.picture + '.png'
    refuse_overwrite([('`out`', out)], _inputs(args))
    if args.picture == 'weights':
        from .files.modelfile import read_model
        W = read_model(args.model)['W']
        if W.shape[1] > MOST_PANELS:
            raise DataError('the model has %d classes; a picture shows the '
                            'weights of at most %d'
                            % (W.shape[1], MOST_PANELS))
        names = _names(args.class_names, W.shape[1])
        fig = weights_figure(W, names)
    elif args.picture == 'samples':
        x, y = _split(args, args.split)
        names = _names(args.class_names, labels=y, source='%s (%s split)'
                       % (args.dataset, args.split))
        fig = samples_figure(x, y, args.split, names)
    elif args.picture == 'predictions':
        images, labels, probabilities = _model_and_data(args)
        names = _names(args.class_names, probabilities.shape[1], labels,
                       '%s (test split)' % args.dataset)
        fig = predictions_figure(images, labels, probabilities, names)
    else:
        from .files.history import read_history
        from .files.modelfile import history_path
        names = ()
        fig = curve_figure(read_history(args.history or
                                        history_path(args.model)))
    save(fig, out, names)


def build_parser():
    parser = cli.new_parser(
        'plot',
        'Draw a picture as a PNG file: the learned weights, sample images, '
        'predictions on test images, or the learning curve of a run.')
    sub = parser.add_subparsers(dest='picture', required=True,
                                metavar='PICTURE')
    helps = {'weights': 'the 10 columns of W as 28x28 images',
             'samples': 'the first N images of a split with their labels',
             'predictions': 'test images titled with the predicted label and '
                            'its probability, mistakes in red',
             'curve': 'training cost, validation and test error over a '
                      'training run, and where patience ran out'}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text,
                           formatter_class=parser.formatter_class)
        p.add_argument('--out', type=cli.output_file,
                       help='PNG file to write (default: '
                                     '%s.png)' % name)
        if name in ('weights', 'predictions', 'curve'):
            p.add_argument('--model', type=cli.input_file,
                           default=MODEL,
                           help='model file (a .npz, or a .pkl for which '
                                'the .npz beside it is read); for curve, '
                                'its history file is used')
        if name in ('samples', 'predictions'):
            p.add_argument('--dataset', type=cli.dataset_name,
                           default=DATASET,
                           help='same forms as for logreg_mnist.train')
            p.add_argument('-n', type=image_count, default=20,
                           help='how many images (at most %d)'
                                % MOST_PANELS)
        if name == 'samples':
            p.add_argument('--split', choices=['train', 'valid', 'test'],
                           default='train')
        if name == 'curve':
            p.add_argument('--history', type=cli.input_file,
                           help='history CSV (default: the one beside '
                                '--model)')
        if name != 'curve':
            p.add_argument('--class-names', type=class_name_list,
                           help='comma-separated names of the classes, at '
                                'most %d characters each (default: the '
                                'digits 0-9)' % MOST_NAME)
        p.set_defaults(class_names=None)
    return parser


def main(argv=None):
    # (only the predictions are computed: the other pictures are drawn
    # from files alone)
    cli.run(build_parser(), plot, argv,
            engine=lambda args: args.picture == 'predictions')


if __name__ == '__main__':
    main()
