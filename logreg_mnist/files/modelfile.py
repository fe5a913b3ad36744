"""Model files: saving a ``LogisticRegression``, and reading one back.

Training writes every new best model twice:

* ``best_model.pkl``: the tutorial's format, a pickle of the whole
  ``LogisticRegression`` with its symbolic graph.  Unpickling a file runs
  whatever code the file asks for, so this package never unpickles one.
* ``best_model.npz``: the format every command reads -- plain arrays ``W``
  and ``b`` with ``n_in``, ``n_out``, ``floatX`` and provenance (dataset,
  epoch, errors, engine, package version).  ``numpy.load(...,
  allow_pickle=False)`` reads it without running anything, on any machine.

Asked for ``best_model.pkl``, the commands read the ``best_model.npz``
beside it, which holds the same weights (both are written together).
Every file is read through ``reading``.  Reading a model's arrays
(``read_model``) needs no engine; only building a model from them
(``load_model``) and saving one do.
"""
import io
import math
import os
import pickle
import zipfile

import numpy

from . import reading
from ..errors import DataError, ModelError, cut, quoted
from ..cli.signals import deferred_interrupts
from .writing import atomic_writes

#: How every zip archive, and so every ``.npz``, begins.
ZIP_MAGIC = b'PK\x03\x04'

#: The most arrays a ``.npz`` model may hold (``save_model`` writes about
#: 15), and the most classes a model may have: ``plot`` draws one panel
#: per class and ``predict`` one probability each.
MAX_MEMBERS = 64
MAX_CLASSES = 1000


#: How a model set's history is named after the set's stem.
HISTORY_SUFFIX = '.history.csv'


def npz_path(path):
    """The ``.npz`` that goes with a model path (``best_model.pkl`` ->
    ``best_model.npz``)."""
    return os.path.splitext(path)[0] + '.npz'


def history_path(path):
    """The history that goes with a model path (``best_model.pkl`` ->
    ``best_model.history.csv``)."""
    return os.path.splitext(path)[0] + HISTORY_SUFFIX


def model_set(path):
    """Every file saved for the model ``path``, each once, history last:
    the model itself, its ``.npz`` (the same file when ``path`` is one)
    and its history."""
    return list(dict.fromkeys([path, npz_path(path), history_path(path)]))


def started_model(cls):
    """A bare ``cls`` once the engine has started: what loading a pickled
    model calls first, so that the engine's shared variables that follow
    in the pickle load into a configured engine."""
    from ..engine import start
    start()
    return cls.__new__(cls)


class _ModelPickler(pickle.Pickler):
    """Pickles a model so that a plain ``pickle.load`` of it, anywhere,
    starts the engine first (see ``started_model``)."""

    def reducer_override(self, obj):
        from ..model import LogisticRegression
        if type(obj) is LogisticRegression:
            return started_model, (LogisticRegression,), obj.__dict__
        return NotImplemented


def save_model(classifier, path, beside=(), **provenance):
    """Write ``classifier`` to ``path`` (pickle) and beside it as ``.npz``.

    The ``.npz`` records the engine, device and package version with the
    ``provenance`` given.  The two files, and the ``(path, bytes)`` pairs
    of ``beside`` (the history that goes with the model), replace the
    previous ones together (see ``writing.atomic_writes``: a full disk
    leaves those as they were), and Ctrl-C waits for them.  With a
    ``path`` ending in ``.npz`` only the ``.npz`` is written.
    """
    from .. import __version__
    from ..engine import ENGINE, device, values_on_host
    paths = model_set(path)[:-1]   # (the history comes in ``beside``)
    with values_on_host(classifier.params) as (W, b), \
            deferred_interrupts(), \
            atomic_writes(paths + [p for p, _ in beside]) as files:
        fields = dict(W=W, b=b, n_in=W.shape[0], n_out=W.shape[1],
                      floatX=str(W.dtype), package_version=__version__,
                      engine=ENGINE, device=device())
        fields.update(provenance)
        if len(paths) == 2:
            _ModelPickler(files[0]).dump(classifier)
        # (made in memory: a zip archive cut short by a full disk would
        # complain again when it is collected)
        archive = io.BytesIO()
        numpy.savez(archive, **{k: numpy.asarray(v)
                                for k, v in fields.items()})
        files[len(paths) - 1].write(archive.getvalue())
        for f, (_, content) in zip(files[len(paths):], beside):
            f.write(content)


def load_model(path):
    """A new ``LogisticRegression`` holding the weights of a model file
    (see ``read_model``)."""
    from ..engine import theano, T
    from ..model import LogisticRegression
    info = read_model(path)
    # what the weights take once cast to floatX, and once more in the model
    reading.Budget(path, error=ModelError).charge(
        2 * (info['W'].size + info['b'].size) *
        numpy.dtype(theano.config.floatX).itemsize)
    classifier = LogisticRegression(input=T.matrix('x'),
                                    n_in=int(info['n_in']),
                                    n_out=int(info['n_out']))
    classifier.W.set_value(info['W'].astype(theano.config.floatX))
    classifier.b.set_value(info['b'].astype(theano.config.floatX))
    return classifier


def read_model(path):
    """The arrays of a model file as a dict: ``W``, ``b``, ``n_in``,
    ``n_out`` and the provenance.

    A ``.npz`` (or any zip archive) is read as it is; for a pickle
    (``best_model.pkl``), the ``.npz`` beside it.
    """
    if path.endswith('.npz') or (os.path.lexists(path) and reading.head(
            path, len(ZIP_MAGIC), error=ModelError) == ZIP_MAGIC):
        return model_info(path)
    portable = npz_path(path)
    if not os.path.exists(portable):
        raise ModelError(
            '%s: a .pkl model is a pickle, which can run code when it is '
            'loaded, so the .npz that training writes beside it is read '
            'instead, but %s does not exist; keep the two together, or '
            'train again' % (path, portable))
    return model_info(portable)


def model_info(path):
    """The arrays and provenance stored in a ``.npz`` model, as a dict.

    The archive is checked from its headers first -- sizes within the
    limit of ``reading``, every member a ``.npy`` of numbers or text --
    so that nothing large is allocated for a file that lies about its
    content; then ``numpy.load`` reads it without pickle.
    """
    raw = reading.read_bytes(path, error=ModelError)
    if not raw.startswith(ZIP_MAGIC):
        raise ModelError('%s is not a .npz model (not a zip archive)' % path)
    try:
        _check_npz_headers(raw, path)
        with numpy.load(io.BytesIO(raw), allow_pickle=False) as z:
            info = {k: z[k] for k in z.files}
    except ModelError:
        raise
    except Exception as e:
        raise ModelError('%s is not a readable .npz model (%s: %s)'
                         % (path, type(e).__name__, cut(str(e)))) from None
    return _checked(info, path)


#: The largest directory of a model's archive: MAX_MEMBERS entries of
#: names far longer than a model's.
MAX_DIRECTORY = MAX_MEMBERS * 1024


def _zip_directory(raw):
    """``(members, directory bytes)`` that a zip archive's end record
    announces, read before the directory is parsed (which takes time and
    memory in proportion to it); (0, 0) when it has no such record."""
    end = raw.rfind(b'PK\x05\x06', max(0, len(raw) - (1 << 16) - 22))
    if end < 0 or len(raw) < end + 22:
        return 0, 0
    return (int.from_bytes(raw[end + 10:end + 12], 'little'),
            int.from_bytes(raw[end + 12:end + 16], 'little'))


def _check_npz_headers(raw, path):
    limit = reading.limit_bytes()
    entries, directory = _zip_directory(raw)
    if entries > MAX_MEMBERS:
        raise ModelError('%s holds %d arrays; a model has at most %d'
                         % (path, entries, MAX_MEMBERS))
    if directory > MAX_DIRECTORY:
        raise ModelError('%s has a directory of %d bytes; a model\'s takes at '
                         'most %d' % (path, directory, MAX_DIRECTORY))
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ModelError('%s holds %d arrays; a model has at most %d'
                             % (path, len(members), MAX_MEMBERS))
        if sum(m.file_size for m in members) > limit:
            raise ModelError('%s unpacks to more than the limit of %d MB for '
                             'an input file' % (path, limit >> 20))
        for member in members:
            if member.compress_type not in (zipfile.ZIP_STORED,
                                            zipfile.ZIP_DEFLATED):
                # (zipfile unpacks bzip2 and LZMA with no bound: a member
                # of 1 KB can ask for gigabytes; numpy writes neither)
                raise ModelError('%s: %s is compressed by method %d; a model '
                                 'is stored or deflated' % (
                                     path, quoted(member.filename),
                                     member.compress_type))
            with archive.open(member) as f:
                read_header = _NPY_HEADERS.get(
                    numpy.lib.format.read_magic(f))
                if read_header is None:
                    raise ModelError('%s: %s is not a .npy array of a '
                                     'version numpy writes' % (
                                         path, quoted(member.filename)))
                shape, _, dtype = read_header(f)
            if dtype.kind not in reading.REAL_KINDS + 'U' or (
                    dtype.kind != 'U' and dtype.itemsize > 8) or any(
                    n >= reading.MAX_DIMENSION for n in shape) or \
                    math.prod(shape) * dtype.itemsize > member.file_size:
                raise ModelError('%s: %s holds %s of shape %s, not what a '
                                 'model holds' % (path,
                                                  quoted(member.filename),
                                                  dtype, quoted(shape)))


_NPY_HEADERS = {(1, 0): numpy.lib.format.read_array_header_1_0,
                (2, 0): numpy.lib.format.read_array_header_2_0}


def _checked(info, path):
    """``info`` if it describes a usable model, else a ModelError."""
    missing = {'W', 'b', 'n_in', 'n_out'} - set(info)
    if missing:
        raise ModelError('%s is not a logreg_mnist model: it has no %s'
                         % (path, ', '.join(sorted(missing))))
    sizes = [info[k] for k in ('n_in', 'n_out')]
    if not all(s.shape == () and s.dtype.kind in 'iu' and s > 0
               for s in sizes):
        raise ModelError('%s: n_in and n_out must be positive whole numbers, '
                         'got %s and %s' % (path, quoted(info['n_in']),
                                            quoted(info['n_out'])))
    n_in, n_out = int(sizes[0]), int(sizes[1])
    if n_out > MAX_CLASSES:
        raise ModelError('%s: a model of %d classes; at most %d can be shown '
                         'and predicted' % (path, n_out, MAX_CLASSES))
    W, b = info['W'], info['b']
    if W.dtype.kind not in 'iuf' or b.dtype.kind not in 'iuf':
        raise ModelError('%s: the weights must be real numbers, got %s and '
                         '%s' % (path, W.dtype, b.dtype))
    if W.shape != (n_in, n_out) or b.shape != (n_out,):
        raise ModelError('%s: W %s and b %s do not fit n_in=%d, n_out=%d'
                         % (path, quoted(W.shape), quoted(b.shape), n_in,
                            n_out))
    if not (numpy.isfinite(W).all() and numpy.isfinite(b).all()):
        raise ModelError('%s: the weights are not all finite' % path)
    return info


def model_input(classifier, images, model, dataset):
    """``images`` as ``classifier``'s input (its dtype), or DataError when
    they are not as wide as the model (``model`` and ``dataset`` name the
    files in the message)."""
    n_in = classifier.W.get_value(borrow=True).shape[0]
    if images.shape[1] != n_in:
        raise DataError('%s has %d pixels per image, but the model in %s '
                        'expects %d' % (dataset, images.shape[1], model, n_in))
    return numpy.asarray(images, dtype=classifier.input.dtype)
