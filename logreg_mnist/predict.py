"""``python -m logreg_mnist.predict``: labels from a saved model.

This is the tutorial's ``predict()``, reachable from the command line: it
loads the best model that training saved, compiles a function from the
model's input to its ``y_pred`` and prints the labels it gives the first
examples of the test set.  It reads both model formats: the portable
``.npz`` (no code runs when it loads) and the tutorial's pickle.
"""

from . import cli


def predict(model='best_model.pkl', dataset='mnist.pkl.gz', n=10):
    """Print and return the predicted labels of the first ``n`` test images."""
    from .data import load_data
    from .engine import theano
    from .model import load_model, model_input

    # load the saved model
    classifier = load_model(model)

    # compile a predictor function
    predict_model = theano.function(
        inputs=[classifier.input],
        outputs=classifier.y_pred)

    # We can test it on some examples from test test
    datasets = load_data(dataset)
    test_set_x, test_set_y = datasets[2]
    test_set_x = test_set_x.get_value()

    predicted_values = predict_model(
        model_input(classifier, test_set_x[:n], model, dataset))
    print('Predicted values for the first %d examples in test set:' % n)
    print(predicted_values)
    return predicted_values


def build_parser():
    parser = cli.new_parser(
        'predict',
        'Print the labels a trained model predicts for the first N images '
        'of the test set. The model can be the tutorial\'s pickle or the '
        'portable .npz that training writes beside it.')
    parser.add_argument('--model', default='best_model.pkl',
                        help='model file written by logreg_mnist.train '
                             '(.pkl or .npz)')
    parser.add_argument('--dataset', default='mnist.pkl.gz',
                        help='dataset whose test split is predicted (same '
                             'forms as for training)')
    parser.add_argument('-n', type=cli.positive(int), default=10,
                        help='how many test examples to predict')
    return parser


def main(argv=None):
    cli.run(build_parser(), lambda args: predict(args.model, args.dataset,
                                                 args.n), argv)


if __name__ == '__main__':
    main()
