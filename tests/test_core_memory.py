"""Out-of-memory and oversized inputs raise Python errors; they never abort the interpreter.

Work buffers of the C++ kernels are allocated before their OpenMP regions, so std::bad_alloc
reaches the binding, which raises MemoryError (an exception escaping a parallel region would
call std::terminate and kill the process with SIGABRT).  Each case runs in a subprocess so a
regression shows as a failed test, not a crashed test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlri

# the mlri this test process imports (the installed wheel, or a development tree)
SRC = str(Path(mlri.__file__).resolve().parent.parent)


def run_py(code: str, vmem_kb: int | None = None) -> subprocess.CompletedProcess:
    prelude = ""
    if vmem_kb is not None:
        prelude = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({vmem_kb * 1024}, "
                   f"{vmem_kb * 1024}))\n")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          check=False, capture_output=True, text=True, timeout=120, env=env)


def test_overlong_series_is_a_value_error():
    res = run_py("""
        import numpy as np, mlri
        try:
            mlri.mann_kendall(np.zeros((100000, 1)), n_threads=1)
        except ValueError as e:
            print("ValueError:", e)
    """)
    assert res.returncode == 0, res.stderr
    assert "ValueError: series: 100000 time steps is too long" in res.stdout
    assert "aggregate" in res.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-specific")
def test_trend_out_of_memory_is_a_memory_error():
    # 30,000 years: Sen's pairwise slopes need ~3.4 GiB per thread; two threads under a 4 GB
    # address-space limit cannot have them.
    res = run_py("""
        import numpy as np, mlri
        T = 30000
        y = np.random.default_rng(0).normal(size=(T, 64)).astype(np.float32)
        try:
            mlri.trend(y, np.arange(T, dtype=float), n_threads=2)
        except MemoryError as e:
            print("MemoryError:", e)
    """, vmem_kb=4_000_000)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "MemoryError: trend: not enough memory" in res.stdout
    assert "n_threads=1" in res.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-specific")
def test_sen_interval_out_of_memory_is_a_memory_error():
    # 10,000 years: the pairwise slopes need ~0.37 GiB per thread; two threads with only
    # 0.5 GiB of address space left cannot have them (the limit is set after the imports).
    res = run_py("""
        import resource
        import numpy as np, mlri
        T = 10000
        y = np.random.default_rng(0).normal(size=(T, 4))
        years = np.arange(T, dtype=float)
        mlri.sen_interval(y[:20], years[:20], n_threads=2)  # imports and threads in place
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 2**29, vm + 2**29))
        try:
            mlri.sen_interval(y, years, n_threads=2)
        except MemoryError as e:
            print("MemoryError:", e)
    """)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "MemoryError: sen_interval: not enough memory" in res.stdout
    assert "n_threads=1" in res.stdout
