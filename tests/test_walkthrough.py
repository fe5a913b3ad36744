"""docs/walkthrough.ipynb runs top to bottom, offline, under this Python's
engine, and the outputs committed with it are the ones it gives.

Its own check cell compares its trace with ``python -m logreg_mnist.train``
run for the same epochs.  ``python tests/test_walkthrough.py`` executes the
notebook and writes its outputs back in place (after an edit).
"""
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / 'docs' / 'walkthrough.ipynb'
#: cells whose printed output is the same under Theano and PyTensor (the
#: others print symbolic variables, which each engine names its own way)
SAME = 'same-on-every-engine'
#: the same on every Python: run once per engine (see conftest.py)
pytestmark = pytest.mark.slow


def execute(notebook, jupyter_dir):
    """The notebook with every cell run in a kernel of this Python (not of
    whichever ``python`` comes first on PATH); ``jupyter_dir`` gets the
    kernel's description and must be named by ``$JUPYTER_PATH``."""
    spec = Path(jupyter_dir) / 'kernels' / 'python3'
    spec.mkdir(parents=True, exist_ok=True)
    (spec / 'kernel.json').write_text(json.dumps({
        'argv': [sys.executable, '-m', 'ipykernel_launcher',
                 '-f', '{connection_file}'],
        'display_name': 'Python 3', 'language': 'python'}))
    nb = nbformat.read(str(notebook), as_version=4)
    folder = str(Path(notebook).parent)   # the cells run from there
    NotebookClient(nb, timeout=600, startup_timeout=300, kernel_name='python3',
                   resources={'metadata': {'path': folder}}).execute()
    return nb


def printed(nb):
    """The text each engine-independent cell printed."""
    return [''.join(out.get('text', '') for out in cell.get('outputs', [])
                    if out.get('name') == 'stdout')
            for cell in nb.cells if SAME in cell.metadata.get('tags', [])]


def test_walkthrough_runs_and_its_committed_outputs_are_current(
        tmp_path, monkeypatch):
    from conftest import MNIST_DIR
    monkeypatch.setenv('LOGREG_MNIST_DATA', str(MNIST_DIR))   # offline
    monkeypatch.setenv('JUPYTER_PATH', str(tmp_path / 'jupyter'))
    ran = execute(NOTEBOOK, tmp_path / 'jupyter')   # a failing cell raises
    committed = nbformat.read(str(NOTEBOOK), as_version=4)

    outputs = printed(ran)
    assert len(outputs) == 7
    check = [o for o in outputs if 'printed the same' in o]
    assert len(check) == 1
    assert 'epoch 5, minibatch 83/83, validation error' in check[0]
    assert outputs == printed(committed)
    # every picture is drawn
    pictures = [out for cell in ran.cells for out in cell.get('outputs', [])
                if 'image/png' in out.get('data', {})]
    assert len(pictures) == 4


if __name__ == '__main__':
    with tempfile.TemporaryDirectory() as folder:
        os.environ['JUPYTER_PATH'] = folder
        nb = execute(NOTEBOOK, folder)
    nbformat.write(nb, str(NOTEBOOK))
    print('wrote %s' % NOTEBOOK)
