"""Elementwise functions NumPy lacks, in plain Python/NumPy: the oracle.

    erf(x) = 2/√π ∫₀ˣ e^(-t²) dt     (for the exact GELU, x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)))
"""
import math

import numpy as np

_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def erf(x):
    """The error function, elementwise, in x's dtype (one Python call per element: clear, slow)."""
    return _erf_scalar(x).astype(x.dtype, copy=False)
