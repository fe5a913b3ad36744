"""What a benchmark ran on: the machine, and the BLAS and OpenMP libraries
loaded in a worker (read from ``/proc``, so known on Linux only)."""
import ctypes
import os
import platform


def system_info():
    """The CPU, its cores, this Python's and NumPy's versions."""
    import numpy
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(l.split(':', 1)[1].strip() for l in f
                       if l.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(),
            'python': platform.python_version(), 'numpy': numpy.__version__}


def loaded_libraries():
    """The paths of the shared libraries loaded in this process (read from
    /proc/self/maps; Linux only), or None."""
    try:
        with open('/proc/self/maps') as f:
            return {line.split()[-1] for line in f if '.so' in line}
    except OSError:
        return None


def openmp_threads():
    """How many threads the loaded OpenMP runtime (kernel.c's) uses, or
    '?'."""
    gomp = [p for p in loaded_libraries() or () if 'libgomp' in p]
    try:
        return ctypes.CDLL(gomp[0]).omp_get_max_threads()
    except (IndexError, OSError, AttributeError):
        return '?'


def blas_in_use(names=None):
    """The BLAS libraries loaded in this process (only ``lib<name>`` ones
    when ``names`` are given), with core type and threads for OpenBLAS: a
    list of descriptions, or None where that cannot be known."""
    paths = loaded_libraries()
    if paths is None:
        return None
    found = []
    for path in sorted(paths):
        name = os.path.basename(path)
        if names and not any(name.startswith('lib%s.' % n) for n in names):
            continue
        if 'openblas' in name:
            found.append(name + _openblas_config(ctypes.CDLL(path)))
        elif name.startswith(('libmkl_rt', 'libmkl_core')):
            found.append(name)
    return found


def _openblas_config(lib):
    """' (core type, N threads)' for a loaded OpenBLAS, or '' where its
    functions go by names not known here."""
    # plain, numpy's 64_ suffix, scipy-openblas32's scipy_ prefix
    for prefix, suffix in (('', ''), ('', '64_'), ('scipy_', '')):
        corename = prefix + 'openblas_get_corename' + suffix
        if hasattr(lib, corename):
            getattr(lib, corename).restype = ctypes.c_char_p
            threads = getattr(lib, prefix + 'openblas_get_num_threads'
                              + suffix)
            return ' (%s, %d threads)' % (getattr(lib, corename)().decode(),
                                          threads())
    return ''
