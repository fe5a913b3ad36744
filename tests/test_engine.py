"""The engine module: THEANO_FLAGS are the user's interface under both
engines, the user's own settings win, and the device a run reports is the
one it really uses."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import gpu_usable, run_module
from logreg_mnist import engine

SHOW = ('import logreg_mnist.engine as e; t = e.theano; '
        'print(repr(e.blas_ldflags())); print(t.config.floatX); '
        'print(e.describe())')


def python(code, env=None, cwd=None):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, '-c', code], env=full, cwd=cwd,
                          capture_output=True, text=True)


def clean(tmp_path, **flags):
    """No THEANO_FLAGS/PYTENSOR_FLAGS/.theanorc but those given."""
    env = {'THEANO_FLAGS': '', 'PYTENSOR_FLAGS': '',
           'THEANORC': str(tmp_path / 'none')}
    env.update(flags)
    return env


def line(floatx='float64', device='cpu'):
    return '... using %s on device %s with floatX=%s' % (engine.ENGINE,
                                                         device, floatx)


def test_why_the_engine_module_exists(tmp_path):
    """Alone, Theano 1.0.5 crashes on import on today's numpy, and PyTensor
    ignores THEANO_FLAGS; through the engine both work as flagged."""
    if engine.NAME == 'theano':
        out = python('import theano', env=clean(tmp_path))
        assert out.returncode != 0 and 'blas_opt_info' in out.stderr
    else:
        out = python('import pytensor; print(pytensor.config.floatX)',
                     env=clean(tmp_path, THEANO_FLAGS='floatX=float32'))
        assert out.stdout.split()[-1] == 'float64'
    out = python(SHOW, env=clean(tmp_path, THEANO_FLAGS='floatX=float32'))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1:] == ['float32', line('float32')]


def test_engine_supplies_a_working_blas(tmp_path):
    # (compiled in C: PyTensor's default backend, Numba, links no BLAS)
    out = python(SHOW + '; import numpy; x = e.T.matrix(); '
                 'f = e.theano.function([x], e.T.dot(x, x), mode=e.C_MODE); '
                 'print(f(numpy.eye(3) * 2).sum())', env=clean(tmp_path))
    assert out.returncode == 0, out.stderr
    ldflags, floatx, described, total = out.stdout.splitlines()
    assert '-lscipy_openblas' in ldflags
    assert (floatx, described, total) == ('float64', line(), '12.0')


def test_users_theano_flags_win(tmp_path):
    out = python(SHOW, env=clean(tmp_path,
                                 THEANO_FLAGS='blas.ldflags=,floatX=float32'))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == ["''", 'float32']


def test_users_theanorc_wins(tmp_path):
    rc = tmp_path / 'theanorc'
    rc.write_text('[global]\nfloatX = float32\n\n[blas]\nldflags =\n')
    out = python(SHOW, env=clean(tmp_path, THEANORC=str(rc)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["''", 'float32', line('float32')]


def test_theano_flags_win_over_theanorc(tmp_path):
    rc = tmp_path / 'theanorc'
    rc.write_text('[global]\nfloatX = float32\n')
    out = python(SHOW, env=clean(tmp_path, THEANORC=str(rc),
                                 THEANO_FLAGS='floatX=float64'))
    assert out.stdout.splitlines()[1] == 'float64', out.stderr


def test_theanorc_example_is_a_valid_configuration(tmp_path):
    rc = Path(__file__).resolve().parents[1] / 'theanorc.example'
    out = python(SHOW, env=clean(tmp_path, THEANORC=str(rc)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == 'float64'


def test_engine_flags_do_not_leak_into_child_processes(tmp_path):
    code = SHOW + '; import os; print(repr(os.environ.get("THEANO_FLAGS")),' \
                  ' repr(os.environ.get("PYTENSOR_FLAGS")))'
    out = python(code, env=clean(tmp_path, THEANO_FLAGS='floatX=float32'))
    assert out.stdout.splitlines()[-1] == "'floatX=float32' ''"


GPU_REASON = {'theano': 'pygpu, the GPU backend of Theano 1.0.5 (Debian '
                        'package python3-pygpu), is not installed',
              'pytensor': 'JAX'}


def test_cuda_without_a_gpu_warns_once_and_runs_on_cpu(tmp_path):
    out = python(SHOW, env=clean(tmp_path, THEANO_FLAGS='device=cuda'))
    assert out.returncode == 0, out.stderr
    if gpu_usable():   # a GPU machine: the run is on it, and says so
        assert out.stdout.splitlines()[-1] == line(device='cuda0').replace(
            '(Numba)', '(JAX)')
        return
    assert out.stdout.splitlines()[-1] == line()
    warning = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(warning) == 1, out.stderr
    assert warning[0].startswith(
        'WARNING: THEANO_FLAGS asks for device=cuda but ')
    assert GPU_REASON[engine.NAME] in warning[0]
    assert warning[0].endswith('; running on the CPU.')


def test_cuda_with_force_device_exits_nonzero(small_pkl, tmp_path):
    out = run_module('train', '--dataset', small_pkl, '--n-epochs', 1,
                     env=clean(tmp_path, THEANO_FLAGS='device=cuda,'
                                                      'force_device=True'))
    if gpu_usable():
        assert out.returncode == 0, out.stderr
        assert 'on device cuda0 with' in out.stdout
        return
    assert out.returncode == 1
    (message,) = out.stderr.strip().splitlines()
    assert message.startswith('python -m logreg_mnist.train: error: '
                              'THEANO_FLAGS asks for device=cuda but ')
    assert GPU_REASON[engine.NAME] in message
    assert message.endswith(' and force_device=True')


@pytest.mark.parametrize('flags, says', [
    ('device=tpu', 'Invalid value ("tpu") for configuration variable '
                   '"device"'),
    ('floatX=float16x', 'float16x'),
])
def test_bad_flags_are_one_line_errors(small_pkl, tmp_path, flags, says):
    out = run_module('train', '--dataset', small_pkl,
                     env=clean(tmp_path, THEANO_FLAGS=flags))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr
    assert lines[0].startswith('python -m logreg_mnist.train: error: '
                               'THEANO_FLAGS=%s: ' % flags)


@pytest.mark.parametrize('flags, says', [
    ('floatx=float32', 'unknown flag floatx (did you mean floatX?)'),
    ('floatX=float32,gcc.cxxflag=-O2', 'unknown flag gcc.cxxflag (did you '
                                       'mean gcc.cxxflags?)'),
    ('floatX=float16', 'the model runs in float32 or float64, not float16'),
])
def test_unknown_flags_and_float16_are_refused(tmp_path, flags, says):
    out = run_module('train', '--dataset', tmp_path / 'never-read',
                     env=clean(tmp_path, THEANO_FLAGS=flags))
    assert (out.returncode, out.stdout) == (1, '')
    assert out.stderr == ('python -m logreg_mnist.train: error: '
                          'THEANO_FLAGS=%s: %s\n' % (flags, says))


@pytest.mark.parametrize('content, says', [
    (b'floatX = float32\n', ', line 1: a flag before any section header; '
                            'put [global] above the first one'),
    (b'[global]\nfloatX float32\n', ", line 2: cannot read 'floatX "
                                     "float32' as a flag or a [section]"),
    (b'\x7fELF\x02\x01\x01\x00\xff\xfe', ' is not a text file: a flag file '
                                    'holds lines such as floatX = float32 '
                                    'under [global]'),
    (b'[global]\nfloatx = float32\n', ': unknown flag floatx (did you mean '
                                      'floatX?)'),
    (b'[global]\nfloatX = float16\n', ': the model runs in float32 or '
                                      'float64, not float16'),
    (None, ': Is a directory'),
])
def test_a_theanorc_it_cannot_use_is_one_line(tmp_path, content, says):
    rc = tmp_path / 'theanorc'
    if content is None:
        rc.mkdir()
    else:
        rc.write_bytes(content)
    out = run_module('train', '--dataset', tmp_path / 'never-read',
                     env=clean(tmp_path, THEANORC=str(rc)))
    assert (out.returncode, out.stdout) == (1, '')
    assert out.stderr == 'python -m logreg_mnist.train: error: %s%s\n' % (
        rc, says)


@pytest.mark.parametrize('choice, says', [
    ('tensorflow', 'logreg_mnist_engine=tensorflow: choose theano, pytensor '
                   'or auto'),
    ({'theano': 'pytensor', 'pytensor': 'theano'}[engine.NAME],
     'theano' if engine.NAME == 'pytensor' else 'pytensor'),
])
def test_engine_choice(small_pkl, tmp_path, choice, says):
    out = run_module('train', '--dataset', small_pkl, '--n-epochs', 1,
                     env=clean(tmp_path, LOGREG_MNIST_ENGINE=choice))
    # the other engine is not installed beside this one
    assert out.returncode == 1
    (message,) = out.stderr.strip().splitlines()
    assert says in message.lower()


#: Every module of the library imported; then the engines' modules that
#: came with them (none: importing starts nothing).
IMPORT_ALL = (
    'import logreg_mnist.sgd, logreg_mnist.model, logreg_mnist.data, '
    'logreg_mnist.training, logreg_mnist.engine, logreg_mnist.plot, '
    'logreg_mnist.benchmark, logreg_mnist.conjugate_gradient, '
    'logreg_mnist.files.modelfile, logreg_mnist.predict, logreg_mnist.train, '
    'logreg_mnist.cg, logreg_mnist.engine.kernel; import sys; '
    'print([m for m in sys.modules if m.split(".")[0] in '
    '("theano", "pytensor", "jax")])')


def test_importing_the_library_starts_no_engine(tmp_path):
    # (flags and a choice that would stop any start)
    out = python(IMPORT_ALL, env=clean(tmp_path, THEANO_FLAGS='floatX="x',
                                       LOGREG_MNIST_ENGINE='tensorflow',
                                       LOGREG_MNIST_KERNEL='blas'))
    assert (out.returncode, out.stderr) == (0, ''), out.stderr
    assert out.stdout == '[]\n'


def test_theano_and_T_start_the_engine_when_first_used(tmp_path):
    code = ('import sys; from logreg_mnist.engine import theano, T; '
            'print("theano" in sys.modules or "pytensor" in sys.modules); '
            'print(T.matrix("x").ndim, theano.config.floatX); '
            'from logreg_mnist.engine import NAME, C_MODE; print(NAME)')
    out = python(code, env=clean(tmp_path, THEANO_FLAGS='floatX=float32'))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['False', '2 float32', engine.NAME]


def test_start_runs_once_and_refuses_another_engine():
    engine.start()
    engine.start(engine.NAME)
    engine.start('auto')
    other = {'theano': 'pytensor', 'pytensor': 'theano'}[engine.NAME]
    with pytest.raises(engine.EngineError, match='already runs'):
        engine.start(other)
    assert engine.started()


def test_the_engine_option_chooses_the_engine(small_pkl, tmp_path):
    """``--engine`` wins over $LOGREG_MNIST_ENGINE, whatever that says."""
    other = {'theano': 'pytensor', 'pytensor': 'theano'}[engine.NAME]
    out = run_module('train', '--engine', other, '--dataset', small_pkl,
                     '--n-epochs', 1, cwd=tmp_path,
                     env=clean(tmp_path, LOGREG_MNIST_ENGINE=engine.NAME))
    assert out.returncode == 1
    (message,) = out.stderr.strip().splitlines()
    assert other in message.lower()
    out = run_module('train', '--engine', engine.NAME, '--dataset',
                     small_pkl, '--n-epochs', 1, cwd=tmp_path,
                     env=clean(tmp_path, LOGREG_MNIST_ENGINE='tensorflow'))
    assert out.returncode == 0, out.stderr
    assert line() in out.stdout


def test_auto_picks_theano_up_to_python_3_11():
    expected = 'theano' if sys.version_info < (3, 12) else 'pytensor'
    assert engine.NAME == expected
    assert engine.choose_engine() == expected


def test_blas_choice_degrades_gracefully(monkeypatch):
    from logreg_mnist.engine import blas
    found = {'scipy_openblas32': ['/site/scipy_openblas32/lib/'
                                  'libscipy_openblas.so'],
             'scipy': ['/site/scipy.libs/libopenblasp-r0-abc.3.21.so']}
    monkeypatch.setattr(blas, 'site_files', lambda package, pattern:
                        found.get(package, []))
    flags = blas.default_ldflags().split()
    assert flags[:2] == ['-L/site/scipy_openblas32/lib', '-lscipy_openblas']
    assert '-Dsgemm_=scipy_sgemm_' in flags and '-Dddot_=scipy_ddot_' in flags
    del found['scipy_openblas32']
    assert blas.default_ldflags() == \
        '-L/site/scipy.libs -lopenblasp-r0-abc.3.21'
    del found['scipy']
    assert blas.default_ldflags() == ''


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_jax_mode_reproduces_the_trace_with_data_on_the_device(tmp_path):
    """PyTensor's JAX mode is what device=cuda uses on a GPU; on the CPU it
    runs the same code: minibatches by reshape-and-index, shared data kept
    as JAX arrays, float64 kept float64."""
    import helpers
    import reference
    path = helpers.synthetic_pkl(tmp_path / 'syn.pkl.gz')
    env = clean(tmp_path, THEANO_FLAGS='mode=JAX')
    out = run_module('train', '--dataset', path, '--batch-size', 20,
                     '--n-epochs', 30, cwd=tmp_path, env=env)
    if engine.NAME == 'theano':   # Theano has no JAX mode: said in one line
        assert out.returncode == 1
        (message,) = out.stderr.strip().splitlines()
        assert 'error: THEANO_FLAGS=mode=JAX: ' in message
        return
    assert out.returncode == 0, out.stderr
    assert ('... using PyTensor %s (JAX) on device cpu with floatX=float64'
            % engine.theano.__version__) in out.stdout
    expected, _, _ = reference.sgd_trace(helpers.synthetic(), batch_size=20,
                                         n_epochs=30)
    assert helpers.trace_lines(out.stdout) == expected
    code = ('from logreg_mnist.data import load_data; '
            'sets = load_data("%s"); '
            'print(type(sets[0][0].container.storage[0]).__module__)' % path)
    out = python(code, env=env)
    assert out.stdout.splitlines()[-1].startswith('jax'), out.stderr


@pytest.mark.slow   # (the same on every Python: see conftest.py)
@pytest.mark.skipif(
    not os.environ.get('LOGREG_MNIST_OTHER_PYTHON'),
    reason='needs the Python of an installation with the other engine in '
           'LOGREG_MNIST_OTHER_PYTHON (.ci/run sets it)')
def test_both_engines_give_the_same_float64_trace(small_idx_dir, tmp_path):
    other = os.environ['LOGREG_MNIST_OTHER_PYTHON']
    args = ['-m', 'logreg_mnist.train', '--dataset', str(small_idx_dir),
            '--n-epochs', '60']
    env = dict(os.environ, **clean(tmp_path, THEANO_FLAGS='floatX=float64'))
    env.pop('LOGREG_MNIST_ENGINE', None)
    runs = [subprocess.run([python_, *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
            for python_ in (sys.executable, other)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    import helpers
    mine, theirs = (helpers.trace_lines(run.stdout) for run in runs)
    engines = [run.stdout.splitlines()[2] for run in runs]
    assert {e.split()[2] for e in engines} == {'Theano', 'PyTensor'}, engines
    assert len(mine) > 60 and mine == theirs


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_a_damaged_compile_cache_names_the_folder_to_remove(tmp_path):
    from helpers import synthetic_pkl
    data = synthetic_pkl(tmp_path / 'clusters.pkl.gz')
    flags = 'floatX=float32,base_compiledir=%s' % (tmp_path / 'cache')
    args = ('train', '--dataset', data, '--batch-size', 20, '--n-epochs', 1,
            '--model-out', tmp_path / 'm.pkl')
    assert run_module(*args, env={'THEANO_FLAGS': flags}).returncode == 0
    modules = list((tmp_path / 'cache').rglob('*.so'))
    assert modules
    for module in modules:   # cut short, as by a full disk or a crash
        module.write_bytes(b'')
    out = run_module(*args, env={'THEANO_FLAGS': flags})
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    folder = re.search(r'the compile cache in (\S+) cannot be used \(file '
                       r'too short\); remove that folder, and it is rebuilt '
                       r'on the next run$', line).group(1)
    assert Path(folder).parent == tmp_path / 'cache'
    shutil.rmtree(folder)
    assert run_module(*args, env={'THEANO_FLAGS': flags}).returncode == 0


#######################################################
# A compiler, BLAS or compile folder the engine can't use
#######################################################

def train_line(tmp_path, **env):
    """What `train` says when it stops before reading any data."""
    out = run_module('train', '--dataset', tmp_path / 'never-read',
                     cwd=tmp_path, env=clean(tmp_path, **env))
    assert (out.returncode, out.stdout) == (1, ''), out.stderr
    assert not (tmp_path / 'best_model.pkl').exists()
    return out.stderr


@pytest.mark.parametrize('floatX', ['float64', 'float32'])
def test_a_missing_compiler_is_one_line(tmp_path, floatX):
    flags = 'floatX=%s,cxx=%s' % (floatX, tmp_path / 'g++')
    assert train_line(tmp_path, THEANO_FLAGS=flags) == (
        'python -m logreg_mnist.train: error: THEANO_FLAGS=%s: there is no '
        'compiler %s (install it, or set cxx= to run without compiled C)\n'
        % (flags, tmp_path / 'g++'))


def test_a_blas_library_the_linker_cannot_find_is_one_line(tmp_path):
    flags = 'blas.ldflags=-L%s -lnosuchblas' % tmp_path
    said = train_line(tmp_path, THEANO_FLAGS=flags)
    assert said.startswith('python -m logreg_mnist.train: error: '
                           'THEANO_FLAGS=%s: the linker cannot use '
                           'blas.ldflags: ' % flags)
    assert len(said.splitlines()) == 1 and 'nosuchblas' in said


def test_a_compile_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / 'file').write_text('')
    home = tmp_path / 'home'
    home.mkdir()
    for name in ('.theano', '.pytensor'):   # where the folders go by default
        (home / name).write_text('')
    said = train_line(tmp_path, HOME=str(home))
    found = re.fullmatch(
        r'python -m logreg_mnist.train: error: the compile cache folder '
        r'(\S+) cannot be made \(Not a directory\); point base_compiledir '
        r'in THEANO_FLAGS at a folder you can write\n', said)
    assert found and Path(found.group(1)).parent == home / ('.' + engine.NAME)
    flags = 'base_compiledir=%s' % (tmp_path / 'file')
    said = train_line(tmp_path, THEANO_FLAGS=flags)
    assert said.startswith('python -m logreg_mnist.train: error: '
                           'THEANO_FLAGS=%s: the compile cache folder %s/'
                           % (flags, tmp_path / 'file'))
    assert len(said.splitlines()) == 1
    flags = 'compiledir=%s' % (tmp_path / 'file')
    assert train_line(tmp_path, THEANO_FLAGS=flags) == (
        'python -m logreg_mnist.train: error: THEANO_FLAGS=%s: the compile '
        'cache folder %s cannot be made (a file has that name); point '
        'compiledir in THEANO_FLAGS at a folder you can write\n'
        % (flags, tmp_path / 'file'))


# (PyTensor runs float64 through Numba, which needs no C compiler)
@pytest.mark.parametrize('floatX', ['float32'] + (
    ['float64'] if engine.NAME == 'theano' else []))
def test_a_failing_compiler_ends_in_one_line_that_says_why(tmp_path, floatX):
    """A compiler that runs and fails: the engine's own report of it may
    come first, the last line is ours and quotes the compiler."""
    from helpers import synthetic_pkl
    compiler = tmp_path / 'cc'
    compiler.write_text('#!/bin/sh\necho "mod.cpp:1:1: error: out of '
                        'licences" >&2\nexit 1\n')
    compiler.chmod(0o755)
    flags = 'floatX=%s,cxx=%s,base_compiledir=%s' % (floatX, compiler,
                                                     tmp_path / 'cache')
    data = synthetic_pkl(tmp_path / 'd.pkl.gz')
    out = run_module('train', '--dataset', data, '--batch-size', 20,
                     '--n-epochs', 1, cwd=tmp_path,
                     env=clean(tmp_path, THEANO_FLAGS=flags))
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == (
        'python -m logreg_mnist.train: error: the C compiler %s failed: '
        'mod.cpp:1:1: error: out of licences' % compiler)
    assert 'Traceback' not in out.stderr
    assert not (tmp_path / 'best_model.pkl').exists()


############################################
# Another process compiling in the same cache
############################################

def compiledir(flags):
    out = python('import logreg_mnist.engine as e; '
                 'print(e.theano.config.compiledir)',
                 env={'THEANO_FLAGS': flags})
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def hold_compile_lock(folder, pid):
    """Take the engine's compile lock of ``folder`` for the process ``pid``
    (Theano's lock is a folder naming its owner, PyTensor's a file lock
    held by the owner); return what releases it."""
    import socket
    if engine.NAME == 'theano':
        lock = folder / 'lock_dir'
        lock.mkdir(parents=True)
        (lock / 'lock').write_text('%d_held_%s\n'
                                   % (pid, socket.gethostname()))
        return lambda: shutil.rmtree(lock)
    from filelock import FileLock
    lock = FileLock(str(folder / '.lock'))
    if pid == os.getpid():
        lock.acquire()
    else:   # a lock file left by a process that died holds nothing
        (folder / '.lock').touch()
    return lock.release


def training_with_stderr(stderr, tmp_path, flags):
    from helpers import synthetic_pkl
    return subprocess.Popen(
        [sys.executable, '-m', 'logreg_mnist.train', '--dataset',
         str(synthetic_pkl(tmp_path / 'd.pkl.gz')), '--batch-size', '20',
         '--n-epochs', '1', '--model-out', str(tmp_path / 'm.pkl')],
        env=dict(os.environ, **clean(tmp_path, THEANO_FLAGS=flags)),
        stdout=subprocess.PIPE, stderr=stderr, text=True)


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_waiting_for_another_compile_says_so_on_a_terminal_only(tmp_path):
    import pty
    import select
    waiting = ('... waiting for another process to finish compiling (they '
               'share the compile cache)')
    for terminal in (True, False):
        # a cache of its own: under Theano, a run that finds all its code
        # compiled takes no lock
        flags = 'floatX=float32,compile.wait=1,base_compiledir=%s' % (
            tmp_path / ('cache-%s' % terminal))
        release = hold_compile_lock(compiledir(flags), os.getpid())
        if terminal:
            parent, child = pty.openpty()
            proc = training_with_stderr(child, tmp_path, flags)
            os.close(child)
            seen = b''
            while waiting.encode() not in seen:
                ready, _, _ = select.select([parent], [], [], 300)
                assert ready, seen   # nothing new for five minutes
                seen += os.read(parent, 4096)
        else:
            proc = training_with_stderr(subprocess.PIPE, tmp_path, flags)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=5)   # waiting for the lock, not done
        release()
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert out.splitlines()[-1].startswith('The code run for 1 epochs')
        if terminal:
            while select.select([parent], [], [], 0.1)[0]:
                try:
                    seen += os.read(parent, 4096)
                except OSError:   # the other end closed
                    break
            os.close(parent)
            err = seen.decode()
            assert err.count(waiting) == 1, err
            # (and training's status line: "epoch 1: minibatch ...")
            err = re.sub(r'\x1b\[K(epoch 1: [^\r]*)?', '',
                         err.replace(waiting, ''))
        assert re.fullmatch(r'\s*The code for file sgd.py ran for \S+\s*',
                            err), err


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_a_lock_left_by_a_process_that_died_is_taken_quietly(tmp_path):
    flags = 'floatX=float32,base_compiledir=%s' % (tmp_path / 'cache')
    folder = compiledir(flags)
    dead = subprocess.run([sys.executable, '-c', 'import os; '
                           'print(os.getpid())'], capture_output=True,
                          text=True)
    hold_compile_lock(folder, int(dead.stdout))
    proc = training_with_stderr(subprocess.PIPE, tmp_path, flags)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    (line,) = err.splitlines()
    assert line.startswith('The code for file sgd.py ran for ')


#: Build the tutorial's compiled functions, then say how many modules of
#: C the engine compiled for them (not found in its cache).
COMPILED = """
import logreg_mnist.engine as e
from logreg_mnist.data import load_data
from logreg_mnist.sgd import chosen_build
chosen_build()(load_data(%r), batch_size=20)
if e.NAME == 'theano':
    from theano.gof.cc import get_module_cache
else:
    from pytensor.link.c.basic import get_module_cache
print(get_module_cache().stats[2])
"""


@pytest.mark.parametrize('floatX', ['float64', 'float32'])
def test_a_second_run_compiles_nothing(tmp_path, floatX):
    """What a run compiled is found in the cache by the next one: Theano
    1.0.5 alone compiles five modules of the float64 graph again in every
    process (see engine._keep_compiled_modules)."""
    from helpers import synthetic_pkl
    data = str(synthetic_pkl(tmp_path / 'd.pkl.gz'))
    runs = [python(COMPILED % data, cwd=tmp_path,
                   env={'THEANO_FLAGS': 'floatX=' + floatX}) for _ in '12']
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert int(runs[1].stdout.split()[-1]) == 0
