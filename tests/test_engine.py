"""The engine module: Theano imports on today's numpy, the user's flags win,
and the device a run reports is the one it really uses."""
import subprocess
import sys

import pytest

from helpers import run_module

SHOW = ('import logreg_mnist.engine as e; t = e.theano; '
        'print(repr(t.config.blas.ldflags)); print(t.config.floatX); '
        'print(e.describe())')


def python(code, env=None, cwd=None):
    import os
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, '-c', code], env=full, cwd=cwd,
                          capture_output=True, text=True)


def test_bare_theano_import_crashes_without_blas_ldflags(tmp_path):
    # The reason the engine module exists: this is what users hit.
    out = python('import theano', env={'THEANO_FLAGS': '',
                                       'THEANORC': str(tmp_path / 'none')})
    assert out.returncode != 0
    assert 'blas_opt_info' in out.stderr


def test_engine_supplies_a_working_blas_ldflags(tmp_path):
    out = python(SHOW + '; import numpy; x = e.T.matrix(); '
                 'f = e.theano.function([x], e.T.dot(x, x)); '
                 'print(f(numpy.eye(3) * 2).sum())',
                 env={'THEANO_FLAGS': '', 'THEANORC': str(tmp_path / 'none')})
    assert out.returncode == 0, out.stderr
    ldflags, floatx, line, total = out.stdout.splitlines()
    assert 'openblas' in ldflags
    assert floatx == 'float64'
    assert line == '... using Theano 1.0.5 on device cpu with floatX=float64'
    assert total == '12.0'


def test_users_theano_flags_win(tmp_path):
    out = python(SHOW, env={'THEANO_FLAGS': 'blas.ldflags=,floatX=float32',
                            'THEANORC': str(tmp_path / 'none')})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == ["''", 'float32']


def test_users_theanorc_wins(tmp_path):
    rc = tmp_path / 'theanorc'
    rc.write_text('[global]\nfloatX = float32\n\n[blas]\nldflags =\n')
    out = python(SHOW, env={'THEANO_FLAGS': '', 'THEANORC': str(rc)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "''", 'float32',
        '... using Theano 1.0.5 on device cpu with floatX=float32']


def test_theanorc_example_is_a_valid_configuration(tmp_path):
    import pathlib
    rc = pathlib.Path(__file__).resolve().parents[1] / 'theanorc.example'
    out = python(SHOW, env={'THEANO_FLAGS': '', 'THEANORC': str(rc)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == 'float64'


def test_cuda_without_pygpu_warns_once_and_runs_on_cpu():
    out = python(SHOW, env={'THEANO_FLAGS': 'device=cuda'})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == \
        '... using Theano 1.0.5 on device cpu with floatX=float64'
    warning = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(warning) == 1
    assert warning[0].startswith('WARNING: THEANO_FLAGS asks for device=cuda')
    assert 'pygpu' in warning[0] and 'running on the CPU' in warning[0]


def test_cuda_with_force_device_exits_nonzero(small_pkl):
    out = run_module('train', '--dataset', small_pkl, '--n-epochs', 1,
                     env={'THEANO_FLAGS': 'device=cuda,force_device=True'})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        'python -m logreg_mnist.train: error: THEANO_FLAGS asks for '
        'device=cuda but pygpu, the GPU backend of Theano 1.0.5 (Debian '
        'package python3-pygpu), is not installed and force_device=True']


@pytest.mark.parametrize('flags, says', [
    ('device=tpu', 'Invalid value ("tpu") for configuration variable '
                   '"device"'),
    ('floatX=float16x', 'Invalid value ("float16x")'),
])
def test_bad_flags_are_one_line_errors(small_pkl, flags, says):
    out = run_module('train', '--dataset', small_pkl,
                     env={'THEANO_FLAGS': flags})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr
    assert lines[0].startswith('python -m logreg_mnist.train: error: '
                               'THEANO_FLAGS: ')


def test_blas_choice_degrades_gracefully(monkeypatch):
    import logreg_mnist.engine as engine
    assert '-lscipy_openblas' in engine.default_blas_ldflags()
    assert '-Dsgemm_=scipy_sgemm_' in engine.default_blas_ldflags()
    real = engine._site_file

    def without(*packages):
        return lambda package, pattern: ([] if package in packages
                                         else real(package, pattern))
    monkeypatch.setattr(engine, '_site_file', without('scipy_openblas32'))
    assert engine.default_blas_ldflags().split()[1].startswith('-lopenblas')
    monkeypatch.setattr(engine, '_site_file',
                        without('scipy_openblas32', 'scipy'))
    assert engine.default_blas_ldflags() == ''
