"""What the command lines share: argument checks and one-line errors.

Every ``python -m logreg_mnist.*`` command parses its arguments first (so
``--help`` answers at once, without importing Theano), then runs.  Problems
the user can fix -- a missing file, a bad flag -- end the run with one line on
stderr and exit status 1; ``--debug`` shows the full traceback instead.
"""
import argparse
import sys

from .errors import LogregError


def new_parser(prog, description):
    parser = argparse.ArgumentParser(
        prog='python -m logreg_mnist.' + prog, description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--debug', action='store_true',
                        help='show full tracebacks instead of one-line errors')
    return parser


def run(parser, action, argv=None):
    """Parse ``argv`` with ``parser`` and call ``action(args)``."""
    args = parser.parse_args(argv)
    try:
        return action(args)
    except LogregError as e:
        if args.debug:
            raise
        parser.exit(1, '%s: error: %s\n' % (parser.prog, e))
