"""logreg-mnist: the Theano tutorial's logistic regression on MNIST, packaged.

Two engines run the same graph, chosen by the Python version:

* Python 3.10 and 3.11: Theano 1.0.5, frozen since 2020.  It needs numpy < 1.24 (it
  still uses ``np.bool``) and a SciPy built for that numpy; the pins below are
  a set that installs and runs together.
* Python >= 3.12, where Theano cannot be installed: PyTensor, its maintained
  successor, with the NumPy and SciPy it was tested with here.

scipy-openblas32 brings a recent OpenBLAS that the engines' C code is linked
against (see logreg_mnist/engine/blas.py): the tutorial's epoch runs about 1.5x
faster with it.  The ``cuda`` extra adds JAX with CUDA 13, which PyTensor uses
for ``THEANO_FLAGS=device=cuda``.
"""
from setuptools import find_packages, setup

THEANO = 'python_version < "3.12"'
PYTENSOR = 'python_version >= "3.12"'
# ipykernel 7.3 is the last release for Python 3.10
NOTEBOOK = ['ipykernel==7.3.0', 'nbclient==0.11.0', 'nbformat==5.11.1']

setup(
    name='logreg-mnist',
    version='1.0.0',
    description='The Theano tutorial "Classifying MNIST digits using '
                'Logistic Regression", as installable, tested software',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='BSD-3-Clause',
    packages=find_packages(include=['logreg_mnist', 'logreg_mnist.*']),
    package_data={'logreg_mnist.engine': ['kernel.c', 'vector.h'],   # compiled
                  'logreg_mnist.bench': ['limit.c']},   # at run time
    python_requires='>=3.10,<3.14',
    install_requires=[
        'Theano==1.0.5; ' + THEANO,
        'numpy==1.23.5; ' + THEANO,
        'scipy==1.11.4; ' + THEANO,
        'six==1.17.0; ' + THEANO,
        # Theano's GPU module imports pkg_resources, gone from setuptools 82+
        'setuptools>=65,<81; ' + THEANO,
        'pytensor==3.3.7; ' + PYTENSOR,
        'numpy==2.5.5; ' + PYTENSOR,
        'scipy==1.18.1; ' + PYTENSOR,
        'scipy-openblas32==0.3.34.481.3',
        'matplotlib==3.10.9',
    ],
    extras_require={
        # pytest-xdist runs the tests on several cores; JAX on the CPU lets them
        # run PyTensor's JAX mode, the GPU path;
        # the notebook's packages let them run docs/walkthrough.ipynb
        'test': ['pytest==9.2.0', 'pytest-xdist==3.8.0',
                 'jax==0.10.2; ' + PYTENSOR] + NOTEBOOK,
        # running docs/walkthrough.ipynb (Jupyter itself is not needed)
        'notebook': NOTEBOOK,
        # PyTensor's JAX mode: on a CUDA 13 GPU, or ('jax') on the CPU
        'cuda': ['jax[cuda13]==0.10.2; ' + PYTENSOR],
        'jax': ['jax==0.10.2; ' + PYTENSOR],
    },
    entry_points={
        'console_scripts': [
            'logreg-mnist-train=logreg_mnist.train:main',
            'logreg-mnist-predict=logreg_mnist.predict:main',
            'logreg-mnist-benchmark=logreg_mnist.benchmark:main',
            'logreg-mnist-cg=logreg_mnist.cg:main',
            'logreg-mnist-plot=logreg_mnist.plot:main',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Programming Language :: Python :: 3.13',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
