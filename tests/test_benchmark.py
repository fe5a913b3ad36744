"""The benchmark: its peers do the tutorial's work, and --compare reports
every configuration with ratios computed from its own measurements."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy
import pytest

import helpers
import reference
from helpers import run_module
from logreg_mnist import engine
from logreg_mnist.bench import peers
from logreg_mnist.bench.measure import CONFIGS

#: the peers that have a GPU row
GPU_PEERS = sorted({kind for kind, where, _, _ in CONFIGS.values()
                    if kind != 'port' and where == 'cuda'})


def first_validation_error(sets, batch_size):
    lines, _, _ = reference.sgd_trace(sets, batch_size=batch_size, n_epochs=1)
    return float(lines[0].split()[-2]) / 100


def standin_gpu(monkeypatch, jax):
    """JAX's CPU answers when a GPU is asked for, in this process (what
    standin_gpu/sitecustomize.py does in a subprocess)."""
    real = jax.devices
    monkeypatch.setattr(jax, 'devices', lambda backend=None: real(
        'cpu' if backend in ('gpu', 'cuda') else backend))


@pytest.mark.parametrize('peer,device', [(p, 'cpu') for p in peers.PEERS]
                         + [(p, 'cuda') for p in GPU_PEERS])
def test_peers_compute_the_tutorials_epoch(peer, device, monkeypatch):
    """Each peer on the CPU and, where it has a GPU row, on the GPU: a
    real one where there is one; else JAX's CPU stands in for it, and
    PyTorch runs the same code on its CPU device after saying why it
    cannot use CUDA."""
    sets = helpers.synthetic(sizes=(400, 200, 200))
    if importlib.util.find_spec(peers.NEEDS[peer]) is None:
        # an optional library: without it the peer is missing, not broken
        with pytest.raises(ImportError):
            peers.PEERS[peer](sets[0], sets[1], 'float64', 20, device=device)
        return
    if device == 'cuda' and peer.startswith('jax'):
        import jax
        if not helpers.gpu_usable():
            standin_gpu(monkeypatch, jax)
    if device == 'cuda' and peer == 'torch':
        import torch
        if not torch.cuda.is_available():
            with pytest.raises(RuntimeError) as error:
                peers.torch_epoch(sets[0], sets[1], 'float64', 20,
                                  device=device)
            assert str(error.value) == 'PyTorch %s finds no CUDA GPU' % (
                torch.__version__)
            device = 'cpu'
    epoch, info = peers.PEERS[peer](sets[0], sets[1], 'float64',
                                    batch_size=20, device=device)
    # after one epoch, the validation error is the reference's first line
    assert epoch() == pytest.approx(first_validation_error(sets, 20),
                                    abs=1e-12)
    assert info['library'].split()[0] in ('NumPy', 'JAX', 'PyTorch')
    assert info['device'] == ('cuda0' if device == 'cuda' else 'cpu')


def test_numpy_runs_on_the_cpu_only():
    sets = helpers.synthetic(sizes=(40, 20, 20))
    with pytest.raises(ValueError) as error:
        peers.numpy_epoch(sets[0], sets[1], device='cuda')
    assert str(error.value) == "device='cuda': NumPy runs on the CPU only"


def test_peers_run_as_a_script_in_another_python(tmp_path):
    """The benchmark runs peers.py as a plain script (in --peer-python):
    it must work without the package around it."""
    import json
    import subprocess
    import sys
    sets = helpers.synthetic(sizes=(400, 200, 200))
    for split, (x, y) in zip(('train', 'valid'), sets):
        numpy.save(tmp_path / (split + '_x.npy'), x)
        numpy.save(tmp_path / (split + '_y.npy'), y)
    script = tmp_path / 'alone' / 'peers.py'
    script.parent.mkdir()
    script.write_bytes(Path(peers.__file__).read_bytes())
    out = subprocess.run(
        [sys.executable, str(script), '--worker', 'numpy', 'float64',
         str(tmp_path), '20', 'cpu'], input='1\n\n', capture_output=True,
        text=True, cwd=tmp_path, timeout=300)
    ready, timed = [json.loads(l) for l in out.stdout.splitlines()]
    assert ready['info']['library'].startswith('NumPy ')
    assert ready['info']['python'].count('.') == 2
    assert len(timed['times']) == 1


@pytest.fixture(scope='module')
def compared():
    out = run_module('benchmark', '--compare', '--json', '--train-size',
                     3000, '--epochs', 1, '--rounds', 2)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_compare_runs_every_configuration(compared):
    rows = {r['config']: r for r in compared['runs']}
    assert sorted(rows) == sorted(
        ['port-cpu-float64', 'port-cpu-float32', 'port-cpu-float32-graph',
         'port-cuda-float64', 'port-cuda-float32',
         'port-jax-cpu-float32', 'numpy-float64', 'numpy-float32',
         'jax-step-float32', 'jax-scan-float32', 'torch-float32',
         'jax-step-cuda-float32', 'jax-scan-cuda-float32',
         'torch-cuda-float32'])
    for name in ('port-cpu-float64', 'port-cpu-float32', 'numpy-float64',
                 'numpy-float32'):
        row = rows[name]
        assert len(row['times']) == 2 and all(t > 0 for t in row['times'])
        assert row['epochs_per_sec'] == pytest.approx(
            1 / numpy.median(row['times']))
        assert row['info']['floatX'] == name.split('-')[-1]
    # float32 on the CPU: the kernel, and the graph's BLAS products beside it
    assert rows['port-cpu-float32']['info']['library'] == \
        engine.C_ENGINE + ' + kernel.c'
    assert re.fullmatch(r'none in the loop: kernel\.c, \d+ OpenMP threads',
                        rows['port-cpu-float32']['info']['blas'])
    graph = rows['port-cpu-float32-graph']
    assert graph['info']['library'] == engine.ENGINE
    assert graph['info']['floatX'] == 'float32'
    assert 'openblas' in graph['info']['blas']
    assert graph['port_speedup'] == pytest.approx(
        rows['port-cpu-float32']['epochs_per_sec'] / graph['epochs_per_sec'])
    for name in ('port-cuda-float64', 'port-cuda-float32'):
        if helpers.gpu_usable():
            assert rows[name]['info']['device'] == 'cuda0'
            assert rows[name]['port_speedup'] == 1.0
        else:   # no GPU here: said plainly
            assert rows[name]['error'].startswith(
                'THEANO_FLAGS asks for device=cuda but ')
    jax = rows['port-jax-cpu-float32']
    if engine.NAME == 'theano':   # Theano has no JAX mode
        assert jax['error'].startswith('THEANO_FLAGS=')
        assert jax['error'].endswith(
            'device=cpu,mode=JAX,floatX=float32: mode=JAX is a PyTensor '
            'mode, which Theano 1.0.5 does not have (use Python 3.12+ or '
            '--engine pytensor)')
    else:
        assert jax['info']['library'].endswith('(JAX)')
        assert jax['epochs_per_sec'] > 0
    for name, (kind, where, _, _) in CONFIGS.items():
        if kind == 'port' or name not in rows:
            continue
        module = peers.NEEDS[kind]
        if importlib.util.find_spec(module) is None:
            assert rows[name]['error'] == '%s is not installed in %s' % (
                module, sys.executable)
        elif where == 'cuda' and not helpers.gpu_usable():
            assert re.fullmatch(
                r'(JAX \S+ finds no GPU \(.+\)|PyTorch \S+ finds no CUDA GPU)',
                rows[name]['error']), rows[name]['error']
        else:
            assert rows[name]['epochs_per_sec'] > 0
            assert rows[name]['info']['device'] == (
                'cuda0' if where == 'cuda' else 'cpu')


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_ratios_compare_each_run_with_the_port_at_its_precision(compared):
    rows = {r['config']: r for r in compared['runs']}
    for precision in ('float64', 'float32'):
        port = rows['port-cpu-' + precision]['epochs_per_sec']
        assert rows['port-cpu-' + precision]['port_speedup'] == 1.0
        peer = rows['numpy-' + precision]
        assert peer['port_speedup'] == pytest.approx(
            port / peer['epochs_per_sec'])


@pytest.mark.slow   # (the same on every Python: see conftest.py)
def test_table_output(small_pkl):
    out = run_module('benchmark', '--compare', '--dataset', small_pkl,
                     '--epochs', 1, '--rounds', 1, '--configs',
                     'port-cpu-float32,numpy-float32,port-cuda-float32')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert 'data: %s' % small_pkl in lines[0]
    assert lines[2].split() == ['run', 'library', 'device', 'floatX',
                                'compile', 's', 'first', 'epoch', 's',
                                'epochs/sec', 'port', 'is']
    assert re.match(r'port-cpu-float32 +%s \+ kernel\.c ' % re.escape(
        engine.C_ENGINE), lines[4]), lines[4]
    assert lines[4].endswith('1.00x')
    assert lines[5].startswith('numpy-float32')
    if helpers.gpu_usable():
        assert lines[6].startswith('port-cuda-float32  ' + engine.ENGINE
                                   .replace('(Numba)', '(JAX)'))
    else:
        assert lines[6].startswith('port-cuda-float32  unavailable: ')


def test_single_run_measures_the_current_flags():
    out = run_module('benchmark', '--json', '--train-size', 1200,
                     '--epochs', 1, '--rounds', 1,
                     env={'THEANO_FLAGS': 'floatX=float32'})
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)['runs']
    assert row['config'] == 'port' and row['info']['floatX'] == 'float32'
    assert row['compile'] > 0 and row['first'] > 0


@pytest.mark.parametrize('args', [['--compare'], []])
def test_unknown_config_is_a_usage_error(args):
    out = run_module('benchmark', *args, '--configs', 'numpy-float32,port-tpu')
    assert out.returncode == 2
    assert out.stderr == (
        "python -m logreg_mnist.benchmark: error: argument --configs: "
        "unknown 'port-tpu'; choose from port, port-cpu-float64, "
        "port-cpu-float32, port-cpu-float32-graph, port-cuda-float64, "
        "port-cuda-float32, port-jax-cpu-float32, numpy-float64, "
        "numpy-float32, jax-step-float32, jax-scan-float32, torch-float32, "
        "jax-step-cuda-float32, jax-scan-cuda-float32, torch-cuda-float32 "
        "(see --help)\n")
