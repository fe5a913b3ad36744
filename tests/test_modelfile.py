"""Model files: saved and read back, never unpickled, and files that are
not what they say refused in one line."""
import os
import pickle

import numpy
import pytest

import helpers
from logreg_mnist.engine import theano
from logreg_mnist.files.modelfile import load_model
from helpers import build


def test_save_and_load_both_formats(problem, tmp_path):
    from logreg_mnist.files.modelfile import load_model, save_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    save_model(model, str(tmp_path / 'm.pkl'), epoch=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.npz', 'm.pkl']
    with open(tmp_path / 'm.pkl', 'rb') as f:   # the tutorial's format
        pickled = pickle.load(f)
    loaded = [load_model(str(tmp_path / 'm.pkl')),     # reads m.npz
              load_model(str(tmp_path / 'm.npz')), pickled]
    for classifier in loaded:
        predict = theano.function([classifier.input], classifier.y_pred)
        numpy.testing.assert_array_equal(predict(xv),
                                         numpy.argmax(xv @ W + b, axis=1))
    # a path ending in .npz writes the portable file alone
    save_model(model, str(tmp_path / 'only.npz'))
    assert not (tmp_path / 'only.pkl').exists()
    assert int(numpy.load(tmp_path / 'm.npz')['epoch']) == 3


def test_a_pickle_alone_is_not_read(problem, tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.files.modelfile import load_model, save_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    save_model(model, str(tmp_path / 'm.pkl'))
    (tmp_path / 'm.npz').unlink()
    with pytest.raises(ModelError) as e:
        load_model(str(tmp_path / 'm.pkl'))
    assert str(e.value) == (
        '%s: a .pkl model is a pickle, which can run code when it is loaded, '
        'so the .npz that training writes beside it is read instead, but %s '
        'does not exist; keep the two together, or train again'
        % (tmp_path / 'm.pkl', tmp_path / 'm.npz'))


def test_npz_loads_without_unpickling(problem, tmp_path, monkeypatch):
    from logreg_mnist.files.modelfile import load_model, save_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    save_model(model, str(tmp_path / 'm.npz'))

    def refuse(*args, **kwargs):
        raise AssertionError('a .npz model must load without pickle')
    monkeypatch.setattr(pickle, 'load', refuse)
    monkeypatch.setattr(pickle, 'loads', refuse)
    monkeypatch.setattr(pickle, 'Unpickler', refuse)
    loaded = load_model(str(tmp_path / 'm.npz'))
    numpy.testing.assert_array_equal(loaded.W.get_value(), W)


##############################################################
# Files a user is handed: a model file must not be able to run
# code, and one that is not what it says is refused in one line
##############################################################

class Command:
    """Unpickles as a call of os.system: the classic pickle gadget."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def gadget_pickles(marker, model):
    """(name, pickle bytes) of files that run ``touch marker`` when a
    plain ``pickle.load`` reads them."""
    touch = 'touch %s' % marker
    dotted = pickle.dumps(Command(touch), protocol=4).replace(
        b'\x8c\x05posix\x94\x8c\x06system',
        b'\x8c\x19logreg_mnist.engine.flags\x94\x8c\x09os.system')
    trojan = pickle.loads(pickle.dumps(model))
    trojan.note = Command(touch)       # a real model with a passenger
    helper = pickle.dumps(Command(touch), protocol=4).replace(
        b'\x8c\x05posix\x94\x8c\x06system',
        b'\x8c\x15numpy.lib._datasource\x94\x8c\x09os.system')
    return [('dotted', dotted), ('numpy_dotted', helper),
            ('trojan', pickle.dumps(trojan)),
            ('plain', pickle.dumps(Command(touch)))]


def test_gadget_pickles_never_run(problem, tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.files.modelfile import load_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    for name, content in gadget_pickles(tmp_path / 'ran', model):
        path = tmp_path / (name + '.pkl')
        path.write_bytes(content)
        if name != 'trojan':   # each gadget is live for a plain load
            pickle.loads(content)
            assert (tmp_path / 'ran').exists(), name
            (tmp_path / 'ran').unlink()
        for target in (path, path.with_suffix('.npz')):   # renamed too
            target.write_bytes(content)
            with pytest.raises(ModelError):
                load_model(str(target))
        assert not (tmp_path / 'ran').exists(), name


def npz_cases(W, b):
    good = dict(W=W, b=b, n_in=13, n_out=5)
    return [
        ('n_in_text', dict(good, n_in='13'), 'n_in and n_out must be '
                                             'positive whole numbers'),
        ('n_in_vector', dict(good, n_in=[13, 13]), 'must be positive whole'),
        ('n_out_zero', dict(good, n_out=0, W=W[:, :0], b=b[:0]),
         'must be positive whole'),
        ('string_weights', dict(good, W=W.astype(str)), 'must be real numbers'),
        ('complex_weights', dict(good, W=W * 1j), 'holds complex128'),
        ('object_weights', dict(good, W=W.astype(object)), 'holds object'),
        ('nan', dict(good, b=b * numpy.nan), 'not all finite'),
        ('misshapen', dict(good, b=b[:3]), 'do not fit n_in=13, n_out=5'),
    ]


def test_npz_fields_of_the_wrong_kind_are_refused(problem, tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.files.modelfile import load_model
    xv, yv, W, b = problem
    for name, fields, says in npz_cases(W, b):
        path = tmp_path / (name + '.npz')
        try:
            numpy.savez(path, **fields)
        except ValueError:   # object arrays: numpy writes them pickled
            numpy.savez(path, **dict(fields, W=numpy.asarray(fields['W'])))
        with pytest.raises(ModelError) as e:
            load_model(str(path))
        assert str(path) in str(e.value) and says in str(e.value), name


def test_a_npz_that_lies_about_its_size_is_refused(problem, tmp_path,
                                                   monkeypatch):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.files.modelfile import load_model
    xv, yv, W, b = problem
    path = tmp_path / 'big.npz'
    numpy.savez_compressed(path, W=numpy.zeros((3000, 1000)), b=b,
                           n_in=3000, n_out=1000)   # 24 MB, zipped to 24 kB
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '2')
    with pytest.raises(ModelError, match='unpacks to more than the limit '
                                         'of 2 MB'):
        load_model(str(path))


@pytest.mark.parametrize('kind', ['fifo.pkl', 'fifo.npz', 'folder.pkl',
                                  '/dev/zero'])
def test_a_model_that_is_no_regular_file_is_one_line_at_once(kind,
                                                             tmp_path):
    path = tmp_path / kind
    if kind.startswith('fifo'):
        os.mkfifo(path)   # a reader that opened it would wait for a writer
    elif kind.startswith('folder'):
        path.mkdir()
    out = helpers.run_module('predict', '--model', path, timeout=120)
    assert out.returncode == 1
    assert out.stderr == ('python -m logreg_mnist.predict: error: %s is not '
                          'a regular file\n' % path)
    assert out.stdout == ''
