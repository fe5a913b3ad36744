"""``python -m logreg_mnist.cg``: train the same model with conjugate
gradient (see ``conjugate_gradient``)."""
from . import cli
from .defaults import CG_ITERATIONS


def build_parser():
    parser = cli.new_parser(
        'cg',
        'Train the same logistic regression with SciPy\'s conjugate '
        'gradient (fmin_cg) on the whole training set, as the Theano '
        'tutorial logistic_cg.py does: each iteration validates, and the '
        'best model is saved like logreg_mnist.train saves it.')
    cli.add_training_arguments(parser, CG_ITERATIONS,
                               'maximal number of CG iterations')
    return parser


def train(args):
    # Imported here so that --help answers at once (``cli.run`` starts the
    # engine after parsing, as --engine says).
    from .conjugate_gradient import cg_optimization_mnist
    return cg_optimization_mnist(n_epochs=args.n_epochs, dataset=args.dataset,
                                 batch_size=args.batch_size,
                                 model_out=args.model_out)


def main(argv=None):
    cli.run(build_parser(), train, argv)


if __name__ == '__main__':
    main()
