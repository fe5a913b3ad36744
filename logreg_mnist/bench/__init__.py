"""What ``python -m logreg_mnist.benchmark`` is made of (the command itself,
its options and its order of work, is ``logreg_mnist/benchmark.py``):

* ``measure`` -- the configurations, the port's timed epoch, the worker
  processes and the rounds in which they take turns
* ``peers``   -- the same epoch in NumPy, JAX and PyTorch, and the worker
  protocol; run as a plain script in ``--peer-python``
* ``system``  -- the machine, and the BLAS and OpenMP libraries a worker
  has loaded
* ``limit``   -- the machine's limit: its peak multiply-add rate and the
  rate at which it reads memory (measured by ``limit.c``, compiled like
  the kernel), and the shortest an epoch could take at them
* ``report``  -- the ratios to the port and to the limit, and the results
  as a text table, Markdown or a report, from one list of columns

None of them imports the engine until a worker builds the port.
"""
