"""Model files: saved and read back, the pickle allowlist rebuilt from
freshly saved models, and files that are not what they say refused in one
line."""
import importlib.util
import os
import pickle

import numpy
import pytest

import helpers
from logreg_mnist.engine import NAME, theano, T
from logreg_mnist.modelfile import load_model
from helpers import build


def test_save_and_load_both_formats(problem, tmp_path):
    from logreg_mnist.modelfile import load_model, save_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    save_model(model, str(tmp_path / 'm.pkl'), epoch=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.npz', 'm.pkl']
    loaded = [load_model(str(tmp_path / 'm.pkl')),     # reads m.npz
              load_model(str(tmp_path / 'm.npz')),
              load_model(str(tmp_path / 'm.pkl'), allow_pickle=True)]
    for classifier in loaded:
        predict = theano.function([classifier.input], classifier.y_pred)
        numpy.testing.assert_array_equal(predict(xv),
                                         numpy.argmax(xv @ W + b, axis=1))
    # a path ending in .npz writes the portable file alone
    save_model(model, str(tmp_path / 'only.npz'))
    assert not (tmp_path / 'only.pkl').exists()
    assert int(numpy.load(tmp_path / 'm.npz')['epoch']) == 3


def test_a_pickle_is_read_only_when_allowed(problem, tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.modelfile import load_model, save_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    save_model(model, str(tmp_path / 'm.pkl'))
    (tmp_path / 'm.npz').unlink()
    with pytest.raises(ModelError) as e:
        load_model(str(tmp_path / 'm.pkl'))
    assert str(e.value) == (
        '%s: a .pkl model is a pickle, which can run code when it is loaded; '
        'the .npz that training writes beside it (%s) is read instead, but '
        'it does not exist (pass `allow_pickle` to read a pickle you trust)'
        % (tmp_path / 'm.pkl', tmp_path / 'm.npz'))
    loaded = load_model(str(tmp_path / 'm.pkl'), allow_pickle=True)
    numpy.testing.assert_array_equal(loaded.W.get_value(), W)


def test_npz_loads_without_unpickling(problem, tmp_path, monkeypatch):
    from logreg_mnist.modelfile import load_model, save_model
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


def test_pickle_of_something_else_is_refused(tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.modelfile import load_model
    x = T.matrix('x')
    path = tmp_path / 'graph.pkl'
    with open(path, 'wb') as f:
        pickle.dump(T.nnet.softmax(x), f)   # engine objects, but no model
    with pytest.raises(ModelError, match='holds a TensorVariable, not a '
                                         'logreg_mnist LogisticRegression'):
        load_model(str(path), allow_pickle=True)


##############################################################
# Files a user is handed: a model file must not be able to run
# code, and one that is not what it says is refused in one line
##############################################################

def graph_ops(variable, found=None):
    found = [] if found is None else found
    if variable.owner:
        found.append(variable.owner.op)
        for parent in variable.owner.inputs:
            graph_ops(parent, found)
    return found


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
        b'\x8c\x13logreg_mnist.engine\x94\x8c\x09os.system')
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
    from logreg_mnist.modelfile import load_model
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
                load_model(str(target), allow_pickle=True)
        assert not (tmp_path / 'ran').exists(), name


def test_op_code_in_a_genuine_model_pickle_never_compiles(problem,
                                                          tmp_path):
    """A pickle made only of a real model's classes can carry C code in a
    Theano op (the code sections of DimShuffle, a COp), which Theano
    compiles and runs when a plainly unpickled graph is compiled (unless
    its cache already holds that op).  The loader keeps the weights only:
    no op of the pickle is in the model it returns."""
    from logreg_mnist.modelfile import load_model
    xv, yv, W, b = problem
    x, model = build(W, b)
    marker = tmp_path / 'ran'
    for op in graph_ops(model.p_y_given_x):
        if 'support_code_apply' in getattr(op, 'code_sections', {}):
            op.code_sections = dict(op.code_sections, support_code_apply=(
                op.code_sections['support_code_apply'] +
                '\nstatic int planted = system("touch %s");\n' % marker))
    path = tmp_path / 'm.pkl'
    path.write_bytes(pickle.dumps(model))
    assert (b'planted' in path.read_bytes()) == (NAME == 'theano')

    loaded = load_model(str(path), allow_pickle=True)
    assert not any('planted' in str(getattr(op, 'code_sections', ''))
                   for op in graph_ops(loaded.p_y_given_x))
    predict = theano.function([loaded.input], loaded.y_pred)
    numpy.testing.assert_array_equal(predict(xv),
                                     numpy.argmax(xv @ W + b, axis=1))
    assert not marker.exists()


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
    from logreg_mnist.modelfile import load_model
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
    from logreg_mnist.modelfile import load_model
    xv, yv, W, b = problem
    path = tmp_path / 'big.npz'
    numpy.savez_compressed(path, W=numpy.zeros((3000, 1000)), b=b,
                           n_in=3000, n_out=1000)   # 24 MB, zipped to 24 kB
    monkeypatch.setenv('LOGREG_MNIST_MAX_MB', '2')
    with pytest.raises(ModelError, match='unpacks to more than the limit '
                                         'of 2 MB'):
        load_model(str(path))


def test_a_pickled_model_whose_array_has_no_data_is_one_error(tmp_path):
    from logreg_mnist.errors import ModelError
    from logreg_mnist.modelfile import load_model
    path = tmp_path / 'hollow.pkl'
    path.write_bytes(   # LogisticRegression with W = _reconstruct(...) only
        b'\x80\x03clogreg_mnist.model\nLogisticRegression\n)\x81}'
        b'X\x01\x00\x00\x00Wcnumpy.core.multiarray\n_reconstruct\n'
        b'cnumpy\nndarray\nK\x00\x85C\x01b\x87Rsb.')
    with pytest.raises(ModelError, match='an array without its data'):
        load_model(str(path), allow_pickle=True)


##################################################################
# The allowlist is what the running engine really writes: rebuilt
# from models that both optimisers save, in float64 and float32
##################################################################

def pickled_classes(path):
    """The (module, name) pairs a pickle of ours names, as unpickled."""
    found = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.add((module, name))
            return super().find_class(module, name)
    with open(path, 'rb') as f:
        Recorder(f).load()
    return found


def ours(classes):
    """The classes of the running engine and of this package."""
    return {c for c in classes
            if c[0].split('.')[0] in (NAME, 'logreg_mnist')}


RUNS = [(command, flags) for command in ('train', 'cg')
        for flags in ('floatX=float64', 'floatX=float32')]
if NAME == 'pytensor' and importlib.util.find_spec('jax'):
    RUNS += [('train', 'floatX=float64,mode=JAX')]


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_the_allowlist_is_what_saved_models_hold(tmp_path):
    from logreg_mnist.modelfile import MODEL_PICKLE_CLASSES
    data = helpers.synthetic_pkl(tmp_path / 'synthetic.pkl.gz')
    found = set()
    for i, (command, flags) in enumerate(RUNS):
        folder = tmp_path / str(i)
        folder.mkdir()
        helpers.run_ok(command, '--dataset', data, '--batch-size', 20,
                       '--n-epochs', 2, cwd=folder,
                       env={'THEANO_FLAGS': flags})
        found |= pickled_classes(folder / 'best_model.pkl')
        # read as data, the pickle gives the weights of the .npz
        model = load_model(str(folder / 'best_model.pkl'), allow_pickle=True)
        npz = numpy.load(folder / 'best_model.npz')
        numpy.testing.assert_array_equal(model.W.get_value(),
                                         npz['W'].astype(model.W.dtype))
    assert ('logreg_mnist.model', 'LogisticRegression') in found
    assert ours(found) == ours(MODEL_PICKLE_CLASSES)


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
