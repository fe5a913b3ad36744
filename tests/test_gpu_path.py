"""THEANO_FLAGS=device=cuda from end to end, and the benchmark's GPU rows.

On a GPU machine this runs on the GPU.  Elsewhere ``standin_gpu/`` is put
on ``PYTHONPATH``: its ``sitecustomize`` makes ``jax.devices('gpu')``
answer with JAX's CPU, so PyTensor's JAX mode takes the whole GPU path --
device arrays, the deferred NaN check, saving from the device -- and the
printed trace must still be the CPU's, digit for digit; so do the JAX
peers of the benchmark.  Theano 1.0.5 has no JAX path: there device=cuda
needs pygpu, and without it the run says so in one line and computes the
same trace on the CPU.
"""
import importlib.util
import json
import os
import re
from pathlib import Path

import numpy
import pytest

from helpers import gpu_usable, run_module, run_ok, trace_lines
from logreg_mnist import engine

#: the same on every Python: run once per engine (see conftest.py)
pytestmark = pytest.mark.slow

STANDIN = Path(__file__).resolve().parent / 'standin_gpu'


def cuda(floatx='float64'):
    """The environment of a device=cuda run: on the GPU where there is
    one, else with the stand-in."""
    path = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
            if p]
    if not gpu_usable():
        path.insert(0, str(STANDIN))
    return {'PYTHONPATH': os.pathsep.join(path),
            'THEANO_FLAGS': 'device=cuda,floatX=' + floatx}


def expected_device():
    """What the fourth line must say of a device=cuda run here."""
    if engine.NAME == 'pytensor' or gpu_usable():
        return 'cuda0'
    return 'cpu'


def only_timing(stderr, program='sgd.py'):
    """stderr holds the timing line and nothing else (no warning)."""
    lines = stderr.strip().splitlines()
    if expected_device() == 'cpu':   # Theano without pygpu: one warning
        assert lines[0].startswith('WARNING: THEANO_FLAGS asks for '
                                   'device=cuda but pygpu'), stderr
        lines = lines[1:]
    assert len(lines) == 1, stderr
    assert re.fullmatch(r'The code for file %s ran for \d+\.\ds' % program,
                        lines[0]), stderr


@pytest.fixture(scope='module')
def runs(small_idx_dir, tmp_path_factory):
    """Training on real digits in both precisions, on the CPU and with
    device=cuda: {(device, floatX): (output, folder)}."""
    out = {}
    for floatx in ('float64', 'float32'):
        for where, env in (('cpu', {'THEANO_FLAGS': 'floatX=' + floatx}),
                           ('cuda', cuda(floatx))):
            folder = tmp_path_factory.mktemp(where + floatx)
            out[where, floatx] = (run_ok(
                'train', '--dataset', small_idx_dir, '--n-epochs', 40,
                cwd=folder, env=env), folder)
    return out


@pytest.mark.parametrize('floatx', ['float64', 'float32'])
def test_cuda_prints_the_cpu_trace(runs, floatx):
    cpu, _ = runs['cpu', floatx]
    gpu, _ = runs['cuda', floatx]
    assert '... using %s on device %s with floatX=%s' % (
        engine.ENGINE.replace('(Numba)', '(JAX)'), expected_device(),
        floatx) in gpu.stdout
    only_timing(gpu.stderr)
    assert len(trace_lines(gpu.stdout)) > 40
    assert trace_lines(gpu.stdout) == trace_lines(cpu.stdout)


@pytest.mark.parametrize('floatx', ['float64', 'float32'])
def test_models_trained_with_cuda_are_plain_and_agree(runs, small_idx_dir,
                                                      floatx):
    cpu, cpu_folder = runs['cpu', floatx]
    gpu, folder = runs['cuda', floatx]
    info = numpy.load(folder / 'best_model.npz', allow_pickle=False)
    assert str(info['device']) == expected_device()
    assert info['W'].dtype == numpy.dtype(floatx)
    reference = numpy.load(cpu_folder / 'best_model.npz')
    numpy.testing.assert_allclose(info['W'], reference['W'], rtol=1e-4,
                                  atol=1e-6)
    # predict reads the .npz for the .pkl, on either device
    outputs = []
    for model, env in (
            ('best_model.pkl', cuda(floatx)),
            ('best_model.npz', {'THEANO_FLAGS': 'floatX=' + floatx})):
        out = run_ok('predict', '--model', folder / model, '--dataset',
                     small_idx_dir, env=env)
        outputs.append(out.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].splitlines()[-1].startswith('[')


def test_a_diverging_run_on_cuda_ends_in_one_line_and_saves_nothing(
        small_idx_dir, tmp_path):
    out = run_module('train', '--dataset', small_idx_dir, '--learning-rate',
                     '1e308', cwd=tmp_path, env=cuda())
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        'python -m logreg_mnist.train: error: the cost became nan at epoch 1, '
        'minibatch 2/11: the learning rate 1e+308 is too large; no model was '
        'saved')
    assert not (tmp_path / 'best_model.npz').exists()


def test_cg_and_pictures_on_cuda(small_pkl, tmp_path):
    # batches of 500 divide every split: under JAX a last, partial
    # minibatch is left out (see engine.graph.minibatch), on the CPU it counts
    out = run_ok('cg', '--dataset', small_pkl, '--n-epochs', 5,
                 '--batch-size', 500, cwd=tmp_path, env=cuda())
    only_timing(out.stderr, 'cg.py')
    cpu = run_ok('cg', '--dataset', small_pkl, '--n-epochs', 5,
                 '--batch-size', 500, '--model-out', 'cpu.pkl', cwd=tmp_path)
    assert [l for l in out.stdout.splitlines() if 'error' in l] == \
        [l for l in cpu.stdout.splitlines() if 'error' in l]
    for picture, args in (('weights', []),
                          ('predictions', ['--dataset', small_pkl])):
        drawn = run_ok('plot', picture, *args, cwd=tmp_path, env=cuda())
        assert drawn.stdout.strip() == 'wrote %s.png' % picture


def test_benchmark_times_the_port_and_the_peers_on_the_gpu(tmp_path):
    saved = tmp_path / 'runs.json'
    out = run_ok('benchmark', '--compare', '--markdown', '--save-json', saved,
                 '--train-size', 1200, '--epochs', 1, '--rounds', 1,
                 '--configs', 'port-cpu-float32,port-cuda-float32,'
                 'jax-step-cuda-float32,jax-scan-cuda-float32,'
                 'torch-cuda-float32', env=cuda())
    rows = {r['config']: r for r in json.loads(saved.read_text())['runs']}
    jax = importlib.util.find_spec('jax') is not None
    port = rows['port-cuda-float32']
    if expected_device() == 'cuda0':
        assert port['info']['device'] == 'cuda0'
        assert port['info']['library'] == engine.ENGINE.replace(
            '(Numba)', '(JAX)')
    else:   # Theano without pygpu
        assert port['error'].startswith('THEANO_FLAGS asks for device=cuda '
                                        'but pygpu')
    for name in ('jax-step-cuda-float32', 'jax-scan-cuda-float32'):
        if not jax:
            assert rows[name]['error'].startswith('jax is not installed in ')
            continue
        info = rows[name]['info']
        assert info['device'] == 'cuda0' and info['floatX'] == 'float32'
        assert info['library'].startswith('JAX ')
        assert rows[name]['epochs_per_sec'] > 0
        if 'error' not in port:   # against the port on the same GPU
            assert rows[name]['port_speedup'] == pytest.approx(
                port['epochs_per_sec'] / rows[name]['epochs_per_sec'])
    torch = rows['torch-cuda-float32']
    if importlib.util.find_spec('torch') is None:
        assert torch['error'].startswith('torch is not installed in ')
    elif not gpu_usable():
        assert re.fullmatch(r'PyTorch \S+ finds no CUDA GPU', torch['error'])
    # the Markdown: the port on the CPU and the GPU, then every run
    lines = out.stdout.splitlines()
    cpu = rows['port-cpu-float32']['epochs_per_sec']
    gpu = port.get('epochs_per_sec')
    assert lines[2].startswith('limit: float32 ')   # (the CPU's)
    assert lines[4:7] == [
        '| the port, epochs/sec | CPU | GPU | GPU / CPU |',
        '|---|---:|---:|---:|', '| float64 | - | - | - |']
    assert lines[7] == ('| float32 | %.2f | %.2f | %.2fx |' % (
        cpu, gpu, gpu / cpu) if gpu else '| float32 | %.2f | - | - |' % cpu)
    for name, row in rows.items():
        expected = '| %s | unavailable: %s |' % (name, row.get('error'))
        if 'error' not in row:
            expected = '| %s | %s | %s' % (
                name, row['info']['library'], row['info']['device'])
        assert sum(l.startswith(expected) for l in lines) == 1, expected
