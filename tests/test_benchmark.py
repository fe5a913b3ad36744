"""The benchmark: its peers do the tutorial's work, --compare reports
every configuration with ratios computed from its own measurements, and
every CPU run is set against the machine's limit."""
import argparse
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import numpy
import pytest

import helpers
import reference
from helpers import run_module
from logreg_mnist import engine
from logreg_mnist.bench import limit, peers, report
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
        ['port-cpu-float64', 'port-cpu-float32', 'port-cpu-float64-graph',
         'port-cpu-float32-graph', 'port-cuda-float64', 'port-cuda-float32',
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
    # on the CPU: the kernel, and the graph's BLAS products beside it
    for floatx in ('float64', 'float32'):
        port = rows['port-cpu-' + floatx]
        assert port['info']['library'] == engine.C_ENGINE + ' + kernel.c'
        assert re.fullmatch(r'none in the loop: kernel\.c, \d+ OpenMP '
                            r'threads', port['info']['blas'])
        graph = rows['port-cpu-%s-graph' % floatx]
        assert graph['info']['library'] == engine.ENGINE
        assert graph['info']['floatX'] == floatx
        assert 'openblas' in graph['info']['blas']
        assert graph['port_speedup'] == pytest.approx(
            port['epochs_per_sec'] / graph['epochs_per_sec'])
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
    assert lines[1].startswith('limit: float32 ')
    assert lines[3].split() == ['run', 'library', 'device', 'floatX',
                                'compile', 's', 'first', 'epoch', 's',
                                'epochs/sec', 'port', 'is', 'floor', 'ms',
                                '%', 'of', 'limit']
    assert re.match(r'port-cpu-float32 +%s \+ kernel\.c ' % re.escape(
        engine.C_ENGINE), lines[5]), lines[5]
    assert re.search(r' 1\.00x +[0-9.]+ +[0-9.]+$', lines[5]), lines[5]
    assert lines[6].startswith('numpy-float32')
    if helpers.gpu_usable():
        assert lines[7].startswith('port-cuda-float32  ' + engine.ENGINE
                                   .replace('(Numba)', '(JAX)'))
    else:
        assert lines[7].startswith('port-cuda-float32  unavailable: ')


def test_single_run_measures_the_current_flags():
    out = run_module('benchmark', '--json', '--train-size', 1200,
                     '--epochs', 1, '--rounds', 1,
                     env={'THEANO_FLAGS': 'floatX=float32'})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    (row,) = result['runs']
    assert row['config'] == 'port' and row['info']['floatX'] == 'float32'
    assert row['compile'] > 0 and row['first'] > 0
    # the machine's limit, measured, and the run set against it
    measured = result['limit']
    assert sorted(measured['gflops']) == ['float32', 'float64']
    for rate in list(measured['gflops'].values()) + [measured['read_gbs']]:
        assert math.isfinite(rate) and rate > 0
    assert measured['vector_bits'] in (128, 256, 512)
    assert measured['threads'] >= 1
    images = 1200 + 9600   # (10,000 validation images: 16 minibatches)
    floor = max(2 * 784 * 10 * (2 * 1200 + 9600)
                / (measured['gflops']['float32'] * 1e9),
                images * 784 * 4 / (measured['read_gbs'] * 1e9))
    assert result['epoch']['floor_ms']['float32'] == pytest.approx(
        1000 * floor)
    assert row['floor_ms'] == pytest.approx(1000 * floor)
    assert row['percent_of_limit'] == pytest.approx(
        100 * floor * row['epochs_per_sec'])


#: the limit of a made-up machine
LIMIT = {'gflops': {'float32': 400.0, 'float64': 200.0}, 'read_gbs': 20.0,
         'read_mib': 520.0, 'threads': 2, 'vector_bits': 512,
         'openmp': True, 'compiler': 'g++', 'load': 0.5}
#: MNIST's epoch at batch 600: 83 training and 16 validation minibatches
N_TRAIN, N_VALID = 83 * 600, 16 * 600


def test_an_epoch_runs_whole_minibatches():
    assert limit.epoch_images(50000, 10000, 600) == (N_TRAIN, N_VALID)
    assert limit.epoch_images(1200, 500, 600) == (1200, 0)


def test_an_epochs_operations_and_bytes():
    """Counted from the products an epoch computes and the arrays it
    reads."""
    n_train, n_valid = 1200, 600
    products = [(n_train, 784, 10),   # scores x . W
                (784, n_train, 10),   # gradient x^T . delta
                (n_valid, 784, 10)]   # validation scores
    assert limit.epoch_flops(n_train, n_valid) == sum(
        2 * rows * inner * columns for rows, inner, columns in products)
    for floatx in ('float32', 'float64'):
        images = [numpy.zeros((n, 784), floatx) for n in (n_train, n_valid)]
        assert limit.epoch_bytes(n_train, n_valid, floatx) == sum(
            x.nbytes for x in images)


@pytest.mark.parametrize('read_gbs,bound', [(20.0, 'reading'),
                                            (10000.0, 'computing')])
def test_the_floor_is_the_slower_of_computing_and_reading(read_gbs, bound):
    rates = dict(LIMIT, read_gbs=read_gbs)
    for floatx, gflops, itemsize in (('float32', 400, 4),
                                     ('float64', 200, 8)):
        computing = 1712256000 / (gflops * 1e9)   # 2 x 7840 x 109,200
        reading = 59400 * 784 * itemsize / (read_gbs * 1e9)
        floor = limit.epoch_floor(rates, N_TRAIN, N_VALID, floatx)
        assert floor == pytest.approx(
            computing if bound == 'computing' else reading)
        assert floor == pytest.approx(max(computing, reading))


def test_percent_of_limit():
    assert limit.percent_of_limit(0.010, 50) == pytest.approx(50)
    assert limit.percent_of_limit(0.004, 250) == pytest.approx(100)


def fixed_result(measured):
    """Results as the benchmark makes them, of runs with fixed times, set
    against the limit ``measured``."""
    def run(config, library, device, floatx, epochs_per_sec):
        return {'config': config, 'compile': 1.0, 'first': 0.1,
                'epochs_per_sec': epochs_per_sec,
                'info': {'library': library, 'device': device,
                         'floatX': floatx, 'python': '3.11.7',
                         'blas': 'some'}}
    rows = [run('port-cpu-float32', 'Theano + kernel.c', 'cpu', 'float32',
                40.0),
            run('numpy-float64', 'NumPy', 'cpu', 'float64', 10.0),
            run('numpy-float32', 'NumPy', 'cpu', 'float32', 20.0),
            run('torch-cuda-float32', 'PyTorch', 'cuda0', 'float32', 100.0),
            {'config': 'port-cuda-float32', 'error': 'no GPU here'}]
    report.add_ratios(rows)
    epoch = report.add_floors(rows, measured, N_TRAIN, N_VALID)
    return {'system': {'cpu': 'A CPU', 'cores': 2, 'python': '3.11.7',
                       'numpy': '1.23.5'},
            'data': 'synthetic', 'batch_size': 600, 'timed_epochs': 10,
            'limit': measured, 'epoch': epoch, 'runs': rows}


#: the made-up machine reads more slowly than it computes: the floor is
#: the bytes of MNIST's epoch at 20 GB/s, in ms
FLOOR_MS = {'float32': 59400 * 784 * 4 / 20e6,    # 9.31 ms
            'float64': 59400 * 784 * 8 / 20e6}    # 18.63 ms


def test_cpu_runs_are_set_against_the_limit():
    result = fixed_result(LIMIT)
    rows = {r['config']: r for r in result['runs']}
    assert result['epoch'] == {
        'images': [N_TRAIN, N_VALID], 'flops': 1712256000,
        'bytes': {'float32': 186278400, 'float64': 372556800},
        'floor_ms': pytest.approx(FLOOR_MS)}
    for config, floatx, epoch_ms in (('port-cpu-float32', 'float32', 25),
                                     ('numpy-float64', 'float64', 100),
                                     ('numpy-float32', 'float32', 50)):
        assert rows[config]['floor_ms'] == pytest.approx(FLOOR_MS[floatx])
        assert rows[config]['percent_of_limit'] == pytest.approx(
            100 * FLOOR_MS[floatx] / epoch_ms)
    # a GPU's run is not the CPU's to measure
    assert 'floor_ms' not in rows['torch-cuda-float32']
    assert 'percent_of_limit' not in rows['torch-cuda-float32']
    # ... and the JSON carries them
    assert json.loads(json.dumps(result))['runs'][0]['percent_of_limit'] \
        == pytest.approx(37.25568)


LIMIT_LINE = ('limit: float32 400 GFLOP/s, float64 200 GFLOP/s (512-bit '
              'vectors, 2 threads), reads 20.0 GB/s (load 0.50); epoch floor '
              'float32 9.31 ms, float64 18.63 ms')


def test_the_table_shows_the_limit(capsys):
    report.print_report(fixed_result(LIMIT))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == LIMIT_LINE
    assert lines[3].split()[-5:] == ['floor', 'ms', '%', 'of', 'limit']
    cells = {line.split()[0]: line.split()[-3:] for line in lines[5:9]}
    assert cells == {'port-cpu-float32': ['1.00x', '9.31', '37.3'],
                     'numpy-float64': ['10.00', '18.63', '18.6'],
                     'numpy-float32': ['2.00x', '9.31', '18.6'],
                     # (no floor, no port to compare with)
                     'torch-cuda-float32': ['1.00', '0.100', '100.00']}
    assert re.fullmatch('port-cuda-float32 +unavailable: no GPU here',
                        lines[9])


def test_markdown_shows_the_limit():
    lines = report.markdown(fixed_result(LIMIT)).splitlines()
    assert LIMIT_LINE + '.' in lines
    header = next(l for l in lines if l.startswith('| run |'))
    assert header.endswith('| port is | floor ms | % of limit |')
    row = next(l for l in lines if l.startswith('| port-cpu-float32 |'))
    assert row.endswith('| 1.00x | 9.31 | 37.3 |')
    row = next(l for l in lines if l.startswith('| torch-cuda-float32 |'))
    assert row.endswith('| 100.00 |  |  |  |')
    row = next(l for l in lines if l.startswith('| port-cuda-float32 |'))
    assert row.count('|') == len(report.COLUMNS) + 1


def test_a_limit_without_openmp_or_load():
    measured = dict(LIMIT, threads=1, openmp=False, compiler='clang++',
                    load=None)
    assert report.limit_line(fixed_result(measured)).startswith(
        'limit: float32 400 GFLOP/s, float64 200 GFLOP/s (512-bit vectors, '
        '1 thread: clang++ has no OpenMP), reads 20.0 GB/s; epoch floor ')


def test_a_limit_not_measured_leaves_the_cells_empty(capsys):
    result = fixed_result({'error': 'the engine has no C compiler'})
    assert result['epoch']['floor_ms'] == {}
    assert all('floor_ms' not in r for r in result['runs'])
    report.print_report(result)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == 'limit: not measured (the engine has no C compiler)'
    assert lines[5].split()[-1] == '1.00x'


def test_the_limit_needs_the_engines_compiler():
    """Measured in a process of its own, which says why it cannot."""
    assert limit.measure_limit(argparse.Namespace(flags='cxx=',
                                                  engine=None)) == {
        'error': 'the engine has no C compiler (cxx is empty)'}


def test_memory_is_read_beyond_the_caches():
    assert limit.read_size() >= max([256 << 20] + [
        2 * size for size in limit.cache_sizes()])


@pytest.mark.parametrize('args', [['--compare'], []])
def test_unknown_config_is_a_usage_error(args):
    out = run_module('benchmark', *args, '--configs', 'numpy-float32,port-tpu')
    assert out.returncode == 2
    assert out.stderr == (
        "python -m logreg_mnist.benchmark: error: argument --configs: "
        "unknown 'port-tpu'; choose from port, port-cpu-float64, "
        "port-cpu-float32, port-cpu-float64-graph, port-cpu-float32-graph, "
        "port-cuda-float64, "
        "port-cuda-float32, port-jax-cpu-float32, numpy-float64, "
        "numpy-float32, jax-step-float32, jax-scan-float32, torch-float32, "
        "jax-step-cuda-float32, jax-scan-cuda-float32, torch-cuda-float32 "
        "(see --help)\n")
