"""logreg-mnist: the Theano tutorial's logistic regression on MNIST, packaged.

The engine is Theano 1.0.5, frozen since 2020.  It needs Python <= 3.11,
numpy < 1.24 (it still uses ``np.bool``) and a SciPy built for that numpy;
the pins below are a set that installs and runs together.  scipy-openblas32
brings a recent OpenBLAS that Theano's C code is linked against (see
logreg_mnist/engine.py): the tutorial's epoch runs about 1.5x faster with it.
"""
from setuptools import find_packages, setup

setup(
    name='logreg-mnist',
    version='1.0.0',
    description='The Theano tutorial "Classifying MNIST digits using '
                'Logistic Regression", as installable, tested software',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='BSD-3-Clause',
    packages=find_packages(include=['logreg_mnist', 'logreg_mnist.*']),
    python_requires='>=3.9,<3.12',
    install_requires=[
        'Theano==1.0.5',
        'numpy==1.23.5',
        'scipy==1.11.4',
        'scipy-openblas32==0.3.34.481.3',
        'six==1.17.0',
        'matplotlib==3.10.9',
        # Theano's GPU module imports pkg_resources, gone from setuptools 82+
        'setuptools>=65,<81',
    ],
    extras_require={
        'test': ['pytest==9.2.0'],
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
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
