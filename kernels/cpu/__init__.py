"""Numba CPU kernels: @njit(parallel=True, cache=True) with prange."""
