"""Fuzzing the files a user is handed: a dataset pickle, an IDX folder, a
.npz model and a history CSV.

Each file is damaged in seeded, repeatable ways -- cut short, bits
flipped, header fields and declared sizes changed -- and read.  Reading
either works or ends in the package's one-line error; in the command
lines, run under a memory cap and a time limit, it never shows a
traceback, never takes the memory a lying header asks for, never hangs.
"""
import gzip
import os
import pickle
import struct
import subprocess

import numpy
import pytest

from helpers import run_module, write_idx
from logreg_mnist import data
from logreg_mnist.errors import LogregError
from logreg_mnist.files.history import read_history
from logreg_mnist.files.modelfile import load_model

#: Address space of each command run: a few times what a run on this
#: small data needs (about 1.3 GB, most of it the engine's libraries).
MEMORY_CAP = 3 << 30


def damaged(content, rng, header=16):
    """Ways to damage ``content``: (what was done, the damaged bytes)."""
    out = []
    for _ in range(3):
        cut = rng.randint(0, len(content))
        out.append(('cut at %d' % cut, content[:cut]))
    for n in (1, 4, 32):
        flipped = bytearray(content)
        for i in rng.randint(0, len(content), n):
            flipped[i] ^= 1 << rng.randint(0, 8)
        out.append(('%d bits flipped' % n, bytes(flipped)))
    for value in (0, 1, 0x7fffffff, 0xffffffff):   # header words
        at = 4 * rng.randint(0, header // 4)
        changed = content[:at] + struct.pack('>I', value) + content[at + 4:]
        out.append(('word %d set to %d' % (at, value), changed))
    return out


def gz(raw):
    return gzip.compress(raw, compresslevel=1)


@pytest.fixture(scope='module')
def originals(digits, tmp_path_factory):
    """One small, valid file of each kind."""
    folder = tmp_path_factory.mktemp('originals')
    images, labels = digits[0][:1200], digits[1][:1200]
    x = images.reshape(1200, -1).astype(numpy.float32) / 256
    sets = ((x[:800], labels[:800]), (x[800:1000], labels[800:1000]),
            (x[1000:], labels[1000:]))
    out = run_module('train', '--dataset', _write_pkl(folder, sets),
                     '--batch-size', 20, '--n-epochs', 2, cwd=folder)
    assert out.returncode == 0, out.stderr
    idx = {}
    for stem, array in (('train-images-idx3-ubyte', images[:1000]),
                        ('train-labels-idx1-ubyte', labels[:1000]),
                        ('t10k-images-idx3-ubyte', images[1000:]),
                        ('t10k-labels-idx1-ubyte', labels[1000:])):
        write_idx(folder / stem, array)
        idx[stem] = (folder / stem).read_bytes()
    return {'dataset': pickle.dumps(sets, protocol=2),
            'npz': (folder / 'best_model.npz').read_bytes(),
            'history': (folder / 'best_model.history.csv').read_bytes(),
            'idx': idx}


def _write_pkl(folder, sets):
    path = folder / 'small.pkl.gz'
    path.write_bytes(gz(pickle.dumps(sets, protocol=2)))
    return path


def readers(folder, originals):
    """(kind, file content, how to write it and read it) for each kind."""
    def dataset(content):
        (folder / 'd.pkl.gz').write_bytes(gz(content))
        data.read_dataset(str(folder / 'd.pkl.gz'))

    def idx(content):
        for stem, raw in originals['idx'].items():
            (folder / stem).write_bytes(raw)
        (folder / 'train-images-idx3-ubyte').write_bytes(content)
        data.read_dataset(str(folder))

    def npz(content):
        (folder / 'm.npz').write_bytes(content)
        load_model(str(folder / 'm.npz'))

    def history(content):
        (folder / 'h.csv').write_bytes(content)
        read_history(str(folder / 'h.csv'))
    return [('dataset', originals['dataset'], dataset),
            ('idx', originals['idx']['train-images-idx3-ubyte'], idx),
            ('npz', originals['npz'], npz),
            ('history', originals['history'], history)]


def test_damaged_files_are_read_or_refused_in_one_line(originals, tmp_path):
    rng = numpy.random.RandomState(2024)
    for kind, content, read in readers(tmp_path, originals):
        cases = damaged(content, rng)
        assert len(cases) == 10
        for what, bad in cases:
            try:
                read(bad)
            except LogregError as e:   # DataError, ModelError
                assert '\n' not in str(e), (kind, what, e)
            # anything else (a traceback in a command) fails the test


def capped(*args):
    """A command line run under the memory cap: the child sets its own
    limit before it starts the module (no preexec_fn: forking a process
    that has loaded JAX's threads can deadlock)."""
    import sys
    code = ('import resource, runpy, sys; '
            'resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); '
            'sys.argv = sys.argv[1:]; '
            'runpy.run_module(sys.argv[0], run_name="__main__", '
            'alter_sys=True)' % (MEMORY_CAP, MEMORY_CAP))
    return [sys.executable, '-c', code, 'logreg_mnist.' + args[0]] + [
        str(a) for a in args[1:]]


@pytest.mark.parametrize('kind', ['dataset', 'idx', 'npz', 'history'])
def test_commands_on_damaged_files_stay_small_fast_and_clean(
        kind, originals, tmp_path):
    rng = numpy.random.RandomState(7)
    content = dict((k, c) for k, c, _ in readers(tmp_path, originals))[kind]
    cases = damaged(content, rng)[::3]   # a cut, flips, header changes
    # and a bomb: far more data than the limit once decompressed
    if kind == 'npz':
        bomb = tmp_path / 'bomb.npz'
        numpy.savez_compressed(bomb, W=numpy.zeros((200 << 20) // 8),
                               b=numpy.zeros(10), n_in=1, n_out=10)
        cases.append(('bomb', bomb.read_bytes()))
    else:   # (the dataset is gzip'd when it is written)
        bomb = content[:16] + b'\0' * (200 << 20)
        cases.append(('bomb', bomb if kind == 'dataset' else gz(bomb)))
    for what, bad in cases:
        if kind == 'dataset':
            (tmp_path / 'd.pkl.gz').write_bytes(gz(bad))
            args = ['train', '--dataset', 'd.pkl.gz', '--batch-size', 20,
                    '--n-epochs', 1]
        elif kind == 'idx':
            for stem, raw in originals['idx'].items():
                (tmp_path / stem).write_bytes(raw)
            (tmp_path / 'train-images-idx3-ubyte').write_bytes(bad)
            args = ['train', '--dataset', '.', '--batch-size', 20,
                    '--n-epochs', 1]
        elif kind == 'history':
            (tmp_path / 'h.csv').write_bytes(bad)
            args = ['plot', 'curve', '--history', 'h.csv']
        else:
            (tmp_path / ('m.' + kind)).write_bytes(bad)
            for stem, raw in originals['idx'].items():
                (tmp_path / stem).write_bytes(raw)
            args = ['predict', '--model', 'm.' + kind, '--dataset', '.']
        out = subprocess.run(capped(*args), cwd=tmp_path, timeout=300,
                             env=dict(os.environ, LOGREG_MNIST_MAX_MB='64'),
                             capture_output=True, text=True)
        assert 'Traceback' not in out.stderr, (kind, what, out.stderr)
        assert 'Warning' not in out.stderr, (kind, what, out.stderr)
        if out.returncode != 0:
            assert out.returncode == 1, (kind, what, out.stderr)
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 or (
                len(lines) == 2 and 'ran for' in lines[0]), (kind, what,
                                                             out.stderr)
    limit = '16 MB' if kind == 'history' else '64 MB'   # (a history's own)
    assert what == 'bomb' and limit in out.stderr, out.stderr
