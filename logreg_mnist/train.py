"""``python -m logreg_mnist.train``: train the tutorial's model with SGD."""
from . import cli
from .cli import phases
from .defaults import LEARNING_RATE, N_EPOCHS


def build_parser():
    parser = cli.new_parser(
        'train',
        'Train a logistic regression classifier on MNIST with minibatch SGD '
        'and early stopping, exactly as the Theano tutorial logistic_sgd.py '
        'does. The best model so far is saved to --model-out on every '
        'improvement. Choose the device and precision with THEANO_FLAGS, '
        'e.g. THEANO_FLAGS=floatX=float32 or THEANO_FLAGS=device=cuda.')
    cli.add_training_arguments(parser, N_EPOCHS,
                               'maximal number of epochs to run')
    parser.add_argument('--learning-rate', type=cli.positive(float),
                        default=LEARNING_RATE, help='SGD step size')
    parser.add_argument('--profile', action='store_true',
                        help='at the end, say on stderr where the seconds '
                             'of the run went: import, load (the data), '
                             'build (compiling), train, save, other, and '
                             'the total since the process started')
    return parser


def train(args):
    # Imported here so that --help answers without loading Theano.
    with phases.phase('import'):
        from .sgd import sgd_optimization_mnist
    result = sgd_optimization_mnist(learning_rate=args.learning_rate,
                                    n_epochs=args.n_epochs,
                                    dataset=args.dataset,
                                    batch_size=args.batch_size,
                                    model_out=args.model_out)
    if args.profile:
        phases.report()
    return result


def main(argv=None):
    cli.run(build_parser(), train, argv)


if __name__ == '__main__':
    main()
    cli.end_now()
