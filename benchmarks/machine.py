"""One line naming the machine a benchmark ran on: CPU, its vector extensions, NumPy's SIMD
level and the kernels OpenBLAS chose. Ratios against a peer run in the same script travel
between machines; absolute figures do not (the same row was 1.41x PyTorch with AVX-512 and
1.03x with AVX2 only)."""
import os
import platform

import numpy as np
from threadpoolctl import threadpool_info


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def vector_extensions():
    """The widest x86 vector extension NumPy detected (AVX-512 or AVX2), or the machine type;
    and whether NPY_DISABLE_CPU_FEATURES turned NumPy's AVX-512 paths off (the CPU still has
    them, and OpenBLAS still uses them)."""
    from numpy._core._multiarray_umath import __cpu_features__ as features
    for name, label in (("AVX512F", "AVX-512"), ("AVX2", "AVX2"), ("ASIMD", "NEON")):
        if features.get(name):
            if name == "AVX512F" and features.get("X86_V4") is False:
                return f"{label}, NumPy's AVX-512 paths disabled (NPY_DISABLE_CPU_FEATURES)"
            return label
    return platform.machine()


def blas():
    for info in threadpool_info():
        if info.get("internal_api") in ("openblas", "mkl", "blis"):
            return f"{info['internal_api']} {info.get('version')} ({info.get('architecture') or '?'} kernels)"
    return "BLAS unknown"


def describe():
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, {vector_extensions()}; NumPy {np.__version__}, "
            f"{blas()}")


if __name__ == "__main__":
    print(describe())
