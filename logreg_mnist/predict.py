"""``python -m logreg_mnist.predict``: labels from a saved model.

The tutorial's ``predict()`` as a command: the saved best model's
``y_pred`` is compiled into a function and applied to the first test
images.  Asked for ``best_model.pkl``, it reads the ``best_model.npz`` that
training writes beside it, which cannot run code (see ``modelfile``).
"""

import numpy

from . import cli
from .defaults import DATASET, MODEL


def predict(model=MODEL, dataset=DATASET, n=10):
    """Print and return the labels ``model`` gives the first ``n`` test
    images of ``dataset``."""
    from .data import read_data
    from .engine import theano
    from .errors import DataError
    from .files.modelfile import load_model, model_input

    classifier = load_model(model)
    test_images = read_data(dataset, theano.config.floatX)[2][0][:n]
    if not len(test_images):
        raise DataError('%s: the test split holds no images' % dataset)
    labels_of = theano.function([classifier.input], classifier.y_pred)
    predicted_values = numpy.asarray(labels_of(
        model_input(classifier, test_images, model, dataset)))
    shown = len(test_images)
    if shown < n:   # the test split is smaller than asked for
        print('Predicted values for all %d examples in test set (%d asked '
              'for):' % (shown, n))
    else:
        print('Predicted values for the first %d examples in test set:' % n)
    print(predicted_values)
    return predicted_values


def build_parser():
    parser = cli.new_parser(
        'predict',
        'Print the labels a trained model predicts for the first N images '
        'of the test set. The model can be the tutorial\'s pickle or the '
        'portable .npz that training writes beside it.')
    parser.add_argument('--model', default=MODEL,
                        type=cli.input_file,
                        help='model written by logreg_mnist.train: a .npz, '
                             'or a .pkl, for which the .npz beside it is '
                             'read')
    parser.add_argument('--dataset', default=DATASET,
                        type=cli.dataset_name,
                        help='dataset whose test split is predicted (same '
                             'forms as for training)')
    parser.add_argument('-n', type=cli.positive(int), default=10,
                        help='how many test examples to predict')
    return parser


def main(argv=None):
    cli.run(build_parser(), lambda args: predict(
        args.model, args.dataset, args.n), argv)


if __name__ == '__main__':
    main()
