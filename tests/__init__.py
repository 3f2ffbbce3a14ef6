"""The test suite. Imported before conftest.py and before anything loads numpy or OpenMP, hence the thread limit:
`make test` runs two pytest-xdist workers on two cores, where OpenMP's and BLAS's spinning threads would fight over
the cores (a HopSkipJump attack test took 174 s instead of 27 s); each worker, and what it starts, computes on one
thread."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
