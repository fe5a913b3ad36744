"""Which BLAS the engines' C code links with (the ``blas.ldflags`` flag).

Theano 1.0.5 asks ``numpy.distutils`` for NumPy's BLAS, which modern NumPy
wheels no longer describe, so it crashes on import unless ``blas.ldflags``
is set.  When the user sets none, ``engine`` supplies the fastest BLAS
found here, in this order:

1. the OpenBLAS of the ``scipy-openblas32`` wheel: recent (0.3.30+), with
   kernels for today's CPUs.  Its symbols carry a ``scipy_`` prefix, so
   ``-D`` flags rename the routines Theano's C code calls (the non-library
   parts of ``blas.ldflags`` are passed to the compiler of every BLAS op);
2. the OpenBLAS inside SciPy's wheel (``scipy.libs/``), whose plain Fortran
   names (``sgemm_``...) Theano links directly -- NumPy's own copy has
   64-bit-integer symbols with a ``64_`` suffix, which it cannot use;
3. nothing (''): Theano then calls BLAS through NumPy's C API, slowly.
"""
import glob
import importlib.util
import os
import re

#: The BLAS routines Theano's C code declares (``sgemm_``, ``dgemv_``...).
BLAS_ROUTINES = ['%s%s_' % (p, r) for p in 'sdcz'
                 for r in ('gemm', 'gemv', 'ger', 'dot', 'copy', 'axpy',
                           'scal', 'swap', 'symm', 'syrk', 'trmm', 'trsm')]


def site_files(package, pattern):
    """Files matching ``pattern`` in the site folder of an installed
    ``package``, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return []
    site = os.path.dirname(os.path.dirname(spec.origin))
    return sorted(glob.glob(os.path.join(site, pattern)))


def openblas_wheel_ldflags():
    """Link flags for the ``scipy-openblas32`` wheel's OpenBLAS, or None."""
    for path in site_files('scipy_openblas32',
                           'scipy_openblas32/lib/libscipy_openblas.so'):
        return '-L%s -lscipy_openblas %s' % (
            os.path.dirname(path),
            ' '.join('-D%s=scipy_%s' % (r, r) for r in BLAS_ROUTINES))
    return None


def scipy_openblas_ldflags():
    """``-L<dir> -l<name>`` for the OpenBLAS in SciPy's wheel, or None."""
    for path in site_files('scipy', 'scipy.libs/libopenblas*.so'):
        name = re.sub(r'^lib|\.so$', '', os.path.basename(path))
        return '-L%s -l%s' % (os.path.dirname(path), name)
    return None


def default_ldflags():
    """The ``blas.ldflags`` to use when the user gives none."""
    return openblas_wheel_ldflags() or scipy_openblas_ldflags() or ''
