"""Helpers for the tests: IDX files, small splits, running the CLIs."""
import functools
import gzip
import http.server
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy


def write_idx(path, array):
    """Write ``array`` (uint8) as an IDX file; gzip'd when path ends in .gz."""
    array = numpy.ascontiguousarray(array, dtype=numpy.uint8)
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim) + b''.join(
        struct.pack('>I', n) for n in array.shape)
    opener = gzip.open if str(path).endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(header + array.tobytes())


def read_idx_independently(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    shape = struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim])
    return numpy.frombuffer(raw[4 + 4 * ndim:], numpy.uint8).reshape(shape)


def split_6_2_2(digits):
    """6,000 / 2,000 / 2,000 real digits, as mnist.pkl.gz stores them."""
    images, labels = digits
    x = images.reshape(len(images), -1).astype(numpy.float32) / 256
    y = labels.astype(numpy.int64)
    return [(x[:6000], y[:6000]), (x[6000:8000], y[6000:8000]),
            (x[8000:], y[8000:])]


def run_module(module, *args, cwd=None, env=None, timeout=900, **popen):
    """Run ``python -m logreg_mnist.<module> args`` and capture its output
    (in a new empty folder unless ``cwd`` is given: nothing lands here)."""
    if cwd is None:
        with tempfile.TemporaryDirectory(prefix='logreg-test-') as empty:
            return run_module(module, *args, cwd=empty, env=env,
                              timeout=timeout, **popen)
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, '-m', 'logreg_mnist.' + module] + [str(a) for a in args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        **popen)


def run_here(module, *args, cwd=None):
    """``run_module`` in this process, for tests of what a command prints
    and its exit status where starting a new Python is not what is tested
    (the engine is imported once, not once a call): the same
    ``CompletedProcess``, whose ``args`` are the command line's."""
    import contextlib
    import importlib
    import io
    import signal
    if cwd is None:
        with tempfile.TemporaryDirectory(prefix='logreg-test-') as empty:
            return run_here(module, *args, cwd=empty)
    main = importlib.import_module('logreg_mnist.' + module).main
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    terminate = signal.getsignal(signal.SIGTERM)   # (cli.run sets its own)
    before = os.getcwd()
    status = 0
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else int(
                    e.code is not None)
    finally:
        os.chdir(before)
        signal.signal(signal.SIGTERM, terminate)
    return subprocess.CompletedProcess(
        ['python', '-m', 'logreg_mnist.' + module] + argv, status,
        out.getvalue(), err.getvalue())


@functools.lru_cache()
def gpu_usable():
    """True when THEANO_FLAGS=device=cuda really computes on a GPU here
    (asked of the engine in a fresh process, as a user's run would)."""
    out = subprocess.run(
        [sys.executable, '-c', 'import logreg_mnist.engine as e; '
                               'print(e.device())'],
        env=dict(os.environ, THEANO_FLAGS='device=cuda'),
        capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.split()[-1:] != ['cpu']


def run_ok(module, *args, **kwargs):
    """``run_module`` that must succeed."""
    out = run_module(module, *args, **kwargs)
    assert out.returncode == 0, out.stderr
    return out


def trace_lines(stdout):
    """The tutorial's result lines, without the '...' progress lines."""
    return [line for line in stdout.splitlines()
            if line.startswith(('epoch ', '     epoch ', 'Optimization'))]



def synthetic(seed=0, n_in=20, sizes=(400, 200, 200), noise=2.5):
    """Ten noisy Gaussian clusters: learnable, but not perfectly."""
    rng = numpy.random.RandomState(seed)
    centers = rng.randn(10, n_in)
    sets = []
    for n in sizes:
        y = rng.randint(0, 10, n)
        x = centers[y] + noise * rng.randn(n, n_in)
        sets.append((x, y))
    return sets


def synthetic_pkl(path, **kwargs):
    """Write ``synthetic(**kwargs)`` as a mnist.pkl.gz-style file."""
    with gzip.open(path, 'wb') as f:
        pickle.dump(tuple(synthetic(**kwargs)), f)
    return path


class Mirror:
    """A loopback HTTP server that serves ``files`` ({name: bytes}) by
    name and answers 404 for anything else; with ``trickle``, it sends
    one byte every ``trickle`` seconds (40 at most) instead."""

    def __init__(self, files, trickle=None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path.rsplit('/', 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if trickle is None:
                    self.wfile.write(body)
                    return
                for byte in body[:40]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(trickle)

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d/' % self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def build(W=None, b=None, n_in=13, n_out=5):
    """A LogisticRegression of a new input ``x``, holding W and b if
    given: ``(x, model)``."""
    from logreg_mnist.engine import T
    from logreg_mnist.model import LogisticRegression
    x = T.matrix('x')
    model = LogisticRegression(input=x, n_in=n_in, n_out=n_out)
    if W is not None:
        model.W.set_value(W)
        model.b.set_value(b)
    return x, model
